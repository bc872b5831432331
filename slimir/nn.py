"""`slim.nn`: TF's tf.nn functions used in slim model code (activations, conv, pooling, normalisation)."""

from __future__ import annotations

from typing import Optional

from .errors import InvalidArgumentError
from .ir.graph import name_scope
from .ir.registry import apply_op, convert_to_tensor
from .nn_losses import (  # noqa: F401
    sigmoid_cross_entropy_with_logits,
    softmax_cross_entropy_with_logits,
    sparse_softmax_cross_entropy_with_logits,
)
from .ops import array_ops, elementwise, math_ops, nn_ops
from .ops.nn_ops import (  # noqa: F401
    avg_pool3d,
    bias_add,
    conv3d,
    dropout,
    fused_batch_norm,
    local_response_normalization,
    log_softmax,
    lrn,
    max_pool3d,
    softmax,
)
from .tf_args import avg_pool, max_pool  # noqa: F401  (TF's argument names: value, ksize, ...)

# the activations (relu, relu6, elu, sigmoid, tanh, softplus, softsign, leaky_relu, ...): every elementwise op whose
# table row says TF has it in tf.nn (those TF calls with `features=` take it, elementwise._FEATURES)
globals().update(elementwise.nn_functions())


def _hw(value, data_format: str, what: str) -> tuple:
    """Strides/dilations given as an int, 2 values or 4 values (N and C entries must be 1)."""
    if isinstance(value, int):
        return value, value
    v = [int(x) for x in value]
    if len(v) == 1:
        return v[0], v[0]
    if len(v) == 2:
        return v[0], v[1]
    if len(v) == 4:
        hw = (v[1], v[2]) if data_format == "NHWC" else (v[2], v[3])
        nc = (v[0], v[3]) if data_format == "NHWC" else (v[0], v[1])
        if nc != (1, 1):
            raise InvalidArgumentError(f"{what} on the batch and depth dimensions must be 1, got {value!r}")
        return hw
    raise InvalidArgumentError(f"{what} must have 1, 2 or 4 values, got {value!r}")


def conv2d(input, filters, strides, padding, data_format: str = "NHWC", dilations=None, name: Optional[str] = None,
           filter=None, use_cudnn_on_gpu=None):
    """TF's tf.nn.conv2d: filters [kh, kw, in, out]; padding 'SAME', 'VALID' or explicit pairs."""
    filters = filter if filters is None else filters
    df = nn_ops.check_data_format(data_format)
    pad = padding
    if not isinstance(padding, str):
        pairs = [tuple(p) for p in padding]
        pad = pairs[1:3] if df == "NHWC" and len(pairs) == 4 else (pairs[2:4] if len(pairs) == 4 else pairs)
    return apply_op("conv2d", [input, filters], name=name, strides=_hw(strides, df, "strides"),
                    dilations=_hw(dilations or 1, df, "dilations"), padding=nn_ops.check_padding(pad), data_format=df)


def depthwise_conv2d(input, filter, strides, padding, rate=None, name: Optional[str] = None, data_format: str = "NHWC",
                     dilations=None):
    """TF's tf.nn.depthwise_conv2d: filter [kh, kw, in, multiplier]."""
    df = nn_ops.check_data_format(data_format)
    return apply_op("depthwise_conv2d", [input, filter], name=name, strides=_hw(strides, df, "strides"),
                    dilations=_hw(rate or dilations or 1, df, "rate"), padding=nn_ops.check_padding(padding),
                    data_format=df)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, rate=None,
                     name: Optional[str] = None, data_format: str = "NHWC", dilations=None):
    """Depthwise convolution followed by a 1x1 pointwise convolution."""
    with name_scope(name, "separable_conv2d", [input]):
        d = depthwise_conv2d(input, depthwise_filter, strides, padding, rate=rate, data_format=data_format,
                             dilations=dilations, name="depthwise")
        return conv2d(d, pointwise_filter, 1, "VALID", data_format=data_format)


def conv2d_transpose(input, filters, output_shape, strides, padding: str = "SAME", data_format: str = "NHWC",
                     dilations=None, name: Optional[str] = None, filter=None, value=None):
    """TF's tf.nn.conv2d_transpose: filters [kh, kw, out, in]; spatial output size from output_shape."""
    input = value if input is None else input
    filters = filter if filters is None else filters
    df = nn_ops.check_data_format(data_format)
    shp = [None if not isinstance(d, int) else d for d in output_shape]
    oh, ow = (shp[1], shp[2]) if df == "NHWC" else (shp[2], shp[3])
    return apply_op("conv2d_transpose", [input, filters], name=name, strides=_hw(strides, df, "strides"),
                    padding=nn_ops.check_padding(padding), data_format=df, output_hw=(oh, ow))


def moments(x, axes, shift=None, name: Optional[str] = None, keep_dims=None, keepdims: bool = False):
    """(mean, variance) of `x` over `axes`."""
    if keep_dims is not None:
        keepdims = keep_dims
    x = convert_to_tensor(x)
    with name_scope(name, "moments", [x]):
        mean = math_ops.reduce_mean(x, axes, keepdims=True, name="mean")
        var = math_ops.reduce_mean(math_ops.squared_difference(x, array_ops.stop_gradient(mean)), axes,
                                   keepdims=True, name="variance")
        if not keepdims:
            mean = array_ops.squeeze(mean, axes)
            var = array_ops.squeeze(var, axes)
        return mean, var


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name: Optional[str] = None):
    """(x - mean) * scale / sqrt(variance + eps) + offset, with broadcasting."""
    with name_scope(name, "batchnorm", [x, mean, variance, scale, offset]):
        inv = math_ops.rsqrt(variance + variance_epsilon)
        if scale is not None:
            inv = inv * scale
        y = x * inv
        return y + (offset - mean * inv if offset is not None else -mean * inv)


def l2_normalize(x, axis=None, epsilon: float = 1e-12, name: Optional[str] = None, dim=None):
    """x / sqrt(max(sum(x**2, axis), epsilon))."""
    axis = dim if axis is None else axis
    x = convert_to_tensor(x)
    with name_scope(name, "l2_normalize", [x]):
        axes = [axis] if isinstance(axis, int) else (list(axis) if axis is not None else None)
        sq = math_ops.reduce_sum(math_ops.square(x), axes, keepdims=True)
        return math_ops.mul(x, math_ops.rsqrt(math_ops.maximum(sq, array_ops.constant(epsilon, dtype=x.dtype))))


def l2_loss(t, name: Optional[str] = None):
    """sum(t**2) / 2."""
    t = convert_to_tensor(t)
    return math_ops.mul(math_ops.reduce_sum(math_ops.square(t)), array_ops.constant(0.5, dtype=t.dtype),
                        name=name or "L2Loss")


def relu_layer(x, weights, biases, name: Optional[str] = None):
    return elementwise.relu(bias_add(math_ops.matmul(x, weights), biases), name=name)


def xw_plus_b(x, weights, biases, name: Optional[str] = None):
    return bias_add(math_ops.matmul(x, weights), biases, name=name)


