"""What the Inception networks share: TF-Slim's `inception_arg_scope` and the helpers the network files use.

    with slim.arg_scope(inception_utils.inception_arg_scope()):
        logits, end_points = inception_v3.inception_v3(images, num_classes=1001, is_training=False)

The helpers (`trunc_normal`, `depth_fn`, `reduced_kernel_size_for_small_input`, `EndPoints`) are those the
network files share.
"""

from __future__ import annotations

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError
from ..ir.graph import GraphKeys
from ..initializers import truncated_normal_initializer, variance_scaling_initializer
from ..ops import math_ops
from ..regularizers import l2_regularizer

__all__ = ["inception_arg_scope"]


def inception_arg_scope(
    weight_decay=0.00004,
    use_batch_norm=True,
    batch_norm_decay=0.9997,
    batch_norm_epsilon=0.001,
    activation_fn=math_ops.relu,
    batch_norm_updates_collections=GraphKeys.UPDATE_OPS,
    batch_norm_scale=False,
):
    """The arg_scope the Inception networks were trained with.

    conv2d and fully_connected get L2 weight decay; conv2d gets He (variance scaling) initialisation,
    `activation_fn` and, when `use_batch_norm`, a batch_norm without bias (beta only, gamma too when
    `batch_norm_scale`) with the given decay and epsilon, its moving-average updates in
    `batch_norm_updates_collections`.
    """
    batch_norm_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
        "scale": batch_norm_scale,
    }
    normalizer_fn = layers.batch_norm if use_batch_norm else None
    normalizer_params = batch_norm_params if use_batch_norm else {}
    with (
        arg_scope([layers.conv2d, layers.fully_connected], weights_regularizer=l2_regularizer(weight_decay)),
        arg_scope(
            [layers.conv2d],
            weights_initializer=variance_scaling_initializer(),
            activation_fn=activation_fn,
            normalizer_fn=normalizer_fn,
            normalizer_params=normalizer_params,
        ) as sc,
    ):
        return sc


def trunc_normal(stddev):
    """TF-Slim's `trunc_normal`: a truncated normal initializer with mean 0."""
    return truncated_normal_initializer(0.0, stddev)


def depth_fn(depth_multiplier, min_depth):
    """`depth(d) = max(int(d * depth_multiplier), min_depth)`; a multiplier <= 0 raises ValueError."""
    if depth_multiplier <= 0:
        raise InvalidArgumentError("depth_multiplier is not greater than zero.")
    return lambda d: max(int(d * depth_multiplier), min_depth)


def reduced_kernel_size_for_small_input(input_tensor, kernel_size):
    """`kernel_size` clipped to the input's static height and width (unchanged when either is unknown),
    so that the final pooling of a small input still gives a 1x1 map."""
    shape = input_tensor.shape.as_list()
    if shape[1] is None or shape[2] is None:
        return list(kernel_size)
    return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]


class EndPoints:
    """Records the end points of a base network and tells when `final_endpoint` is reached.

    An unknown `final_endpoint` (not in `valid`) raises ValueError before anything is built. The network
    calls `add(name, net)` after each end point and returns `(net, ep.dict)` when it answers True.
    """

    def __init__(self, final_endpoint, valid):
        self.final_endpoint = final_endpoint
        self.dict = {}
        if final_endpoint not in valid:
            raise InvalidArgumentError(f"Unknown final endpoint {final_endpoint}")

    def add(self, name, net):
        self.dict[name] = net
        return name == self.final_endpoint

    def unknown(self):
        raise InvalidArgumentError(f"Unknown final endpoint {self.final_endpoint}")
