"""Building blocks shared by the ResNet v1 and v2 networks (TF-Slim's research/slim `resnet_utils`):
`Block`, `subsample`, `conv2d_same`, `stack_blocks_dense` (output stride by atrous convolution) and
`resnet_arg_scope`.

    blocks = [resnet_v1.resnet_v1_block('block1', base_depth=64, num_units=3, stride=2), ...]
    with slim.arg_scope(resnet_utils.resnet_arg_scope()):
        net = resnet_utils.stack_blocks_dense(images, blocks, output_stride=16)

As in TF-Slim, a block downsamples in the stride of its last unit (not the first), and reaching the
requested output stride switches the following units to stride 1 with a growing atrous rate.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from .. import layers, utils
from ..arg_scope import add_arg_scope, arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import GraphKeys, Tensor, variable_scope
from ..initializers import variance_scaling_initializer
from ..ops import array_ops, math_ops
from ..regularizers import l2_regularizer
from ..shape import fmt

__all__ = ["Block", "conv2d_same", "resnet_arg_scope", "stack_blocks_dense", "subsample"]


class Block(collections.namedtuple("Block", ["scope", "unit_fn", "args"])):
    """A ResNet block: its variable `scope`, the residual unit function `unit_fn` and `args`, one dict of
    keyword arguments (depth, depth_bottleneck, stride) per unit of the block."""


def subsample(inputs: Tensor, factor: int, scope: str | None = None) -> Tensor:
    """Keep every `factor`-th row and column (a 1x1 max pool of stride `factor`); `inputs` itself when
    `factor` is 1."""
    if factor == 1:
        return inputs
    return layers.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


def conv2d_same(
    inputs: Tensor, num_outputs: int, kernel_size: int, stride: int, rate: int = 1, scope: str | None = None
) -> Tensor:
    """A strided convolution whose output equals a stride-1 'SAME' convolution followed by `subsample`.

    TF's 'SAME' padding with stride > 1 puts the extra pixel of an even padding at the end, which shifts
    the sampling grid on inputs of even size; here the input is zero-padded symmetrically by
    (k_eff - 1) // 2 at the start and the rest at the end, then convolved with 'VALID' padding
    (k_eff = kernel_size + (kernel_size - 1) * (rate - 1)).
    """
    if stride == 1:
        return layers.conv2d(
            inputs, num_outputs, kernel_size, stride=1, rate=rate, padding="SAME", scope=scope
        )
    effective = kernel_size + (kernel_size - 1) * (rate - 1)
    before = (effective - 1) // 2
    after = effective - 1 - before
    padded = array_ops.pad(inputs, [[0, 0], [before, after], [before, after], [0, 0]])
    return layers.conv2d(
        padded, num_outputs, kernel_size, stride=stride, rate=rate, padding="VALID", scope=scope
    )


def input_depth(inputs: Tensor, where: str, what: str) -> int:
    """The channels of a [batch, height, width, channels] input; a ShapeError naming `where` otherwise."""
    shape = inputs.shape
    if len(shape) != 4 or shape[-1] is None:
        raise ShapeError(
            f"{where}: {what} expects a 4-D input [batch, height, width, channels] with known channels, "
            f"got {fmt(shape)}"
        )
    return shape[-1]


def _stride_error(output_stride) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"stack_blocks_dense: the target output_stride {output_stride} cannot be reached "
        "(it must be a product of the unit strides from the start)"
    )


@add_arg_scope
def stack_blocks_dense(
    net: Tensor,
    blocks,
    output_stride: int | None = None,
    store_non_strided_activations: bool = False,
    outputs_collections=None,
) -> Tensor:
    """Apply the ResNet `blocks` in turn, with scopes `<block.scope>/unit_<i>`.

    `output_stride` (None: the nominal stride, the product of every unit's stride) is the ratio of input
    to output resolution wanted. Once the running stride reaches it, later units run with stride 1 and an
    atrous rate that multiplies by each skipped stride, so the features are computed densely.
    `store_non_strided_activations` moves each block's last stride to after the block's end point, so
    the end point holds the undecimated activations. Each block's output is added to
    `outputs_collections` under the block's scope name.

    Raises InvalidArgumentError when `output_stride` is not a reachable product of unit strides.
    """
    current_stride = 1
    rate = 1
    for block in blocks:
        with variable_scope(block.scope, "block", [net]) as sc:
            block_stride = 1
            for i, unit in enumerate(block.args):
                if store_non_strided_activations and i == len(block.args) - 1:
                    block_stride = unit.get("stride", 1)
                    unit = dict(unit, stride=1)
                with variable_scope(f"unit_{i + 1}", values=[net]):
                    if output_stride is not None and current_stride == output_stride:
                        net = block.unit_fn(net, rate=rate, **dict(unit, stride=1))
                        rate *= unit.get("stride", 1)
                    else:
                        net = block.unit_fn(net, rate=1, **unit)
                        current_stride *= unit.get("stride", 1)
                        if output_stride is not None and current_stride > output_stride:
                            raise _stride_error(output_stride)
            net = utils.collect_named_outputs(outputs_collections, sc.name, net)
            if output_stride is not None and current_stride == output_stride:
                rate *= block_stride
            else:
                net = subsample(net, block_stride)
                current_stride *= block_stride
                if output_stride is not None and current_stride > output_stride:
                    raise _stride_error(output_stride)
    if output_stride is not None and current_stride != output_stride:
        raise _stride_error(output_stride)
    return net


def resnet_arg_scope(
    weight_decay: float = 0.0001,
    batch_norm_decay: float = 0.997,
    batch_norm_epsilon: float = 1e-5,
    batch_norm_scale: bool = True,
    activation_fn: Callable = math_ops.relu,
    use_batch_norm: bool = True,
    batch_norm_updates_collections=GraphKeys.UPDATE_OPS,
) -> dict:
    """The arg_scope the ResNets were trained with: conv2d with L2 weight decay, He (variance scaling)
    initialisation, `activation_fn` and batch norm (decay 0.997, epsilon 1e-5, with gamma); max_pool2d
    with 'SAME' padding (pool1 then aligns features for dense prediction)."""
    bn_params = {
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "scale": batch_norm_scale,
        "updates_collections": batch_norm_updates_collections,
        "fused": None,
    }
    with (
        arg_scope(
            [layers.conv2d],
            weights_regularizer=l2_regularizer(weight_decay),
            weights_initializer=variance_scaling_initializer(),
            activation_fn=activation_fn,
            normalizer_fn=layers.batch_norm if use_batch_norm else None,
            normalizer_params=bn_params,
        ),
        arg_scope([layers.batch_norm], **bn_params),
        arg_scope([layers.max_pool2d], padding="SAME") as sc,
    ):
        return sc
