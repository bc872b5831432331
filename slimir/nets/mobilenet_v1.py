"""MobileNet v1 (Howard et al., arXiv:1704.04861) in TF-Slim's form (research/slim `mobilenet_v1`): a 3x3
convolution then 13 depthwise-separable layers, each a 3x3 depthwise convolution ('Conv2d_<i>_depthwise',
`separable_conv2d` with num_outputs=None) and a 1x1 pointwise convolution ('Conv2d_<i>_pointwise'), all
with batch norm and relu6 under `mobilenet_v1_arg_scope`.

    with slim.arg_scope(mobilenet_v1.mobilenet_v1_arg_scope(is_training=False)):
        logits, end_points = mobilenet_v1.mobilenet_v1(images, 1001, is_training=False)

`depth_multiplier` thins every layer (the _075, _050 and _025 variants); `output_stride` 8 or 16 keeps
the resolution with atrous depthwise convolutions.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable

from .. import layers
from ..arg_scope import arg_scope
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import GraphKeys, Tensor, variable_scope
from ..initializers import truncated_normal_initializer
from ..ops import array_ops, math_ops
from ..regularizers import l2_regularizer
from ..shape import fmt

__all__ = [
    "MOBILENETV1_CONV_DEFS",
    "Conv",
    "DepthSepConv",
    "mobilenet_v1",
    "mobilenet_v1_025",
    "mobilenet_v1_050",
    "mobilenet_v1_075",
    "mobilenet_v1_arg_scope",
    "mobilenet_v1_base",
]

# A layer of the body: Conv is a full convolution, DepthSepConv a depthwise + pointwise pair.
Conv = namedtuple("Conv", ["kernel", "stride", "depth"])
DepthSepConv = namedtuple("DepthSepConv", ["kernel", "stride", "depth"])

# (stride, depth) of the 14 layers of the paper's Table 1; every kernel is 3x3.
MOBILENETV1_CONV_DEFS = [Conv(kernel=[3, 3], stride=2, depth=32)] + [
    DepthSepConv(kernel=[3, 3], stride=s, depth=d)
    for s, d in [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)]
    + [(1, 512)] * 5
    + [(2, 1024), (1, 1024)]
]
_CONV_DEFS = MOBILENETV1_CONV_DEFS


def _fixed_padding(inputs: Tensor, kernel_size, rate: int = 1) -> Tensor:
    """Zero-pad so that a 'VALID' convolution gives the output size of a 'SAME' one, whatever the input
    size: (k_eff - 1) // 2 before, the rest after."""
    pads = []
    for k in kernel_size:
        total = k + (k - 1) * (rate - 1) - 1
        pads.append([total // 2, total - total // 2])
    return array_ops.pad(inputs, [[0, 0], pads[0], pads[1], [0, 0]])


def mobilenet_v1_base(
    inputs: Tensor,
    final_endpoint: str = "Conv2d_13_pointwise",
    min_depth: int = 8,
    depth_multiplier: float = 1.0,
    conv_defs=None,
    output_stride: int | None = None,
    use_explicit_padding: bool = False,
    scope=None,
):
    """The MobileNet v1 body up to `final_endpoint`.

    Args:
      inputs: images [batch, height, width, channels].
      final_endpoint: the last layer built: 'Conv2d_0', 'Conv2d_<i>_depthwise' or 'Conv2d_<i>_pointwise'.
      min_depth: the fewest channels a layer gets when `depth_multiplier` < 1.
      depth_multiplier: channels of every layer are int(depth * depth_multiplier) (at least min_depth);
        must be > 0.
      conv_defs: the layers, a list of `Conv` / `DepthSepConv` (default `MOBILENETV1_CONV_DEFS`).
      output_stride: 8, 16 or 32: once the running stride reaches it, later layers use stride 1 and
        atrous depthwise convolutions; None is the nominal stride.
      use_explicit_padding: pad explicitly and convolve 'VALID' instead of using 'SAME' padding.
      scope: variable scope (default 'MobilenetV1').

    Returns:
      (net, end_points): the output of `final_endpoint` and every layer's output by its name.
    """
    if depth_multiplier <= 0:
        raise InvalidArgumentError(
            f"mobilenet_v1: depth_multiplier is not greater than zero ({depth_multiplier})"
        )
    if output_stride is not None and output_stride not in (8, 16, 32):
        raise InvalidArgumentError(
            f"mobilenet_v1: only allowed output_stride values are 8, 16, 32, got {output_stride}"
        )
    conv_defs = MOBILENETV1_CONV_DEFS if conv_defs is None else conv_defs

    def depth(d):
        return max(int(d * depth_multiplier), min_depth)

    end_points = {}
    padding = "VALID" if use_explicit_padding else "SAME"
    with (
        variable_scope(scope, "MobilenetV1", [inputs]),
        arg_scope([layers.conv2d, layers.separable_conv2d], padding=padding),
    ):
        current_stride = 1
        rate = 1
        net = inputs
        for i, conv_def in enumerate(conv_defs):
            if output_stride is not None and current_stride == output_stride:
                layer_stride, layer_rate = 1, rate
                rate *= conv_def.stride
            else:
                layer_stride, layer_rate = conv_def.stride, 1
                current_stride *= conv_def.stride
            if isinstance(conv_def, Conv):
                name = f"Conv2d_{i}"
                if use_explicit_padding:
                    net = _fixed_padding(net, conv_def.kernel, layer_rate)
                net = layers.conv2d(
                    net,
                    depth(conv_def.depth),
                    conv_def.kernel,
                    stride=layer_stride,
                    rate=layer_rate,
                    normalizer_fn=layers.batch_norm,
                    scope=name,
                )
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
            elif isinstance(conv_def, DepthSepConv):
                name = f"Conv2d_{i}_depthwise"
                if use_explicit_padding:
                    net = _fixed_padding(net, conv_def.kernel, layer_rate)
                # num_outputs=None: the depthwise convolution alone.
                net = layers.separable_conv2d(
                    net,
                    None,
                    conv_def.kernel,
                    depth_multiplier=1,
                    stride=layer_stride,
                    rate=layer_rate,
                    normalizer_fn=layers.batch_norm,
                    scope=name,
                )
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
                name = f"Conv2d_{i}_pointwise"
                net = layers.conv2d(
                    net, depth(conv_def.depth), [1, 1], stride=1, normalizer_fn=layers.batch_norm, scope=name
                )
                end_points[name] = net
                if name == final_endpoint:
                    return net, end_points
            else:
                raise InvalidArgumentError(
                    f"mobilenet_v1: unknown convolution type {type(conv_def).__name__} "
                    f"for layer {i} (use Conv or DepthSepConv)"
                )
    raise InvalidArgumentError(f"mobilenet_v1: unknown final endpoint {final_endpoint!r}")


def _reduced_kernel_size_for_small_input(input_tensor: Tensor, kernel_size) -> list:
    """`kernel_size` clipped to the input's spatial size where that is known."""
    shape = list(input_tensor.shape)
    if shape[1] is None or shape[2] is None:
        return list(kernel_size)
    return [min(shape[1], kernel_size[0]), min(shape[2], kernel_size[1])]


def mobilenet_v1(
    inputs: Tensor,
    num_classes: int | None = 1000,
    dropout_keep_prob: float = 0.999,
    is_training: bool = True,
    min_depth: int = 8,
    depth_multiplier: float = 1.0,
    conv_defs=None,
    prediction_fn: Callable | None = layers.softmax,
    spatial_squeeze: bool = True,
    reuse=None,
    scope: str = "MobilenetV1",
    global_pool: bool = False,
):
    """MobileNet v1 for classification: the body, a pool ('AvgPool_1a', a 7x7 VALID average pool reduced
    for small inputs, or with `global_pool` a mean to 1x1, 'global_pool'), dropout 'Dropout_1b' and the
    1x1 convolution 'Conv2d_1c_1x1' giving the logits, all under 'Logits'.

    `num_classes` 0 or None returns the pooled features (before dropout). The other arguments are those
    of `mobilenet_v1_base`; `prediction_fn` makes end_points['Predictions'] from the logits.

    Returns (logits, end_points); the end points are the body's plus 'AvgPool_1a' or 'global_pool',
    'Logits' and 'Predictions'.
    """
    if len(inputs.shape) != 4:
        raise ShapeError(f"mobilenet_v1: invalid input tensor rank, expected 4, got {fmt(inputs.shape)}")
    with (
        variable_scope(scope, "MobilenetV1", [inputs], reuse=reuse) as sc,
        arg_scope([layers.batch_norm, layers.dropout], is_training=is_training),
    ):
        net, end_points = mobilenet_v1_base(
            inputs, scope=sc, min_depth=min_depth, depth_multiplier=depth_multiplier, conv_defs=conv_defs
        )
        with variable_scope("Logits"):
            if global_pool:
                net = math_ops.reduce_mean(net, [1, 2], keepdims=True, name="global_pool")
                end_points["global_pool"] = net
            else:
                kernel_size = _reduced_kernel_size_for_small_input(net, [7, 7])
                net = layers.avg_pool2d(net, kernel_size, padding="VALID", scope="AvgPool_1a")
                end_points["AvgPool_1a"] = net
            if not num_classes:
                return net, end_points
            net = layers.dropout(net, keep_prob=dropout_keep_prob, scope="Dropout_1b")
            logits = layers.conv2d(
                net, num_classes, [1, 1], activation_fn=None, normalizer_fn=None, scope="Conv2d_1c_1x1"
            )
            if spatial_squeeze:
                logits = array_ops.squeeze(logits, [1, 2], name="SpatialSqueeze")
        end_points["Logits"] = logits
        if prediction_fn:
            end_points["Predictions"] = prediction_fn(logits, scope="Predictions")
    return logits, end_points


mobilenet_v1.default_image_size = 224


def _with_depth_multiplier(multiplier: float):
    @functools.wraps(mobilenet_v1)
    def net(inputs, *args, **kwargs):
        kwargs.setdefault("depth_multiplier", multiplier)
        return mobilenet_v1(inputs, *args, **kwargs)

    net.__doc__ = f"MobileNet v1 with depth_multiplier={multiplier}; otherwise as `mobilenet_v1`."
    net.default_image_size = mobilenet_v1.default_image_size
    return net


mobilenet_v1_075 = _with_depth_multiplier(0.75)
mobilenet_v1_050 = _with_depth_multiplier(0.50)
mobilenet_v1_025 = _with_depth_multiplier(0.25)
mobilenet_v1_075.__name__ = "mobilenet_v1_075"
mobilenet_v1_050.__name__ = "mobilenet_v1_050"
mobilenet_v1_025.__name__ = "mobilenet_v1_025"


def mobilenet_v1_arg_scope(
    is_training: bool | None = True,
    weight_decay: float = 0.00004,
    stddev: float = 0.09,
    regularize_depthwise: bool = False,
    batch_norm_decay: float = 0.9997,
    batch_norm_epsilon: float = 0.001,
    batch_norm_updates_collections=GraphKeys.UPDATE_OPS,
    normalizer_fn: Callable | None = layers.batch_norm,
) -> dict:
    """The arg_scope MobileNet v1 was trained with: conv2d and separable_conv2d with truncated-normal
    weights (`stddev`), relu6 and `normalizer_fn` (batch norm with gamma, decay 0.9997, epsilon 0.001;
    is_training set unless None); L2 weight decay on conv2d, and on the depthwise weights only with
    `regularize_depthwise`."""
    bn_params = {
        "center": True,
        "scale": True,
        "decay": batch_norm_decay,
        "epsilon": batch_norm_epsilon,
        "updates_collections": batch_norm_updates_collections,
    }
    if is_training is not None:
        bn_params["is_training"] = is_training
    regularizer = l2_regularizer(weight_decay)
    with (
        arg_scope(
            [layers.conv2d, layers.separable_conv2d],
            weights_initializer=truncated_normal_initializer(stddev=stddev),
            activation_fn=math_ops.relu6,
            normalizer_fn=normalizer_fn,
        ),
        arg_scope([layers.batch_norm], **bn_params),
        arg_scope([layers.conv2d], weights_regularizer=regularizer),
        arg_scope(
            [layers.separable_conv2d], weights_regularizer=regularizer if regularize_depthwise else None
        ) as sc,
    ):
        return sc
