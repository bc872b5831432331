"""TF-Slim layers beyond the core set: group_norm, instance_norm, and the 3-D convolution and pooling
layers (conv3d, max_pool3d, avg_pool3d) with TF-Slim's signatures, defaults, scopes and variable names."""

from __future__ import annotations

from . import utils
from .arg_scope import add_arg_scope
from .errors import InvalidArgumentError, ShapeError
from .graph import Tensor, name_scope, variable_scope
from .initializers import ones_initializer, xavier_initializer, zeros_initializer
from .ops import array_ops, math_ops
from .ops.registry import convert_to_tensor
from .shape import fmt
from .variables import model_variable

__all__ = ["avg_pool3d", "conv3d", "convolution3d", "group_norm", "instance_norm", "max_pool3d"]


def _where(sc) -> str:
    return (sc.name if hasattr(sc, "name") else str(sc)).rstrip("/")


def _param(name, shape, dtype, initializer, regularizer, variables_collections, trainable):
    return model_variable(name, shape=list(shape), dtype=dtype, initializer=initializer, regularizer=regularizer,
                          collections=utils.get_variable_collections(variables_collections, name),
                          trainable=trainable)


def _moments(x: Tensor, axes, name: str = "moments"):
    """(mean, variance) over `axes`, kept as size-1 dims; the two-pass form of tf.nn.moments."""
    with name_scope(name):
        mean = math_ops.reduce_mean(x, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(math_ops.squared_difference(x, mean), axes, keepdims=True,
                                        name="variance")
    return mean, variance


# ------------------------------------------------------------------------------------------
# Normalisation


@add_arg_scope
def group_norm(inputs, groups=32, channels_axis=-1, reduction_axes=(-3, -2), center=True, scale=True,
               epsilon=1e-6, activation_fn=None, param_initializers=None, reuse=None, variables_collections=None,
               outputs_collections=None, trainable=True, scope=None, mean_close_to_zero=False):
    """Group normalisation (Wu & He, arXiv:1803.08494), TF-Slim's group_norm: the channels are split into
    `groups` groups and each group is normalised over `reduction_axes` and its own channels, per example.

    Variables 'beta' and 'gamma' of shape [channels] (scope 'GroupNorm'). `mean_close_to_zero` picks TF's
    one-pass moments; both forms compute the same moments here (two-pass, the more accurate).
    """
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "GroupNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        shape = list(inputs.shape)
        rank = len(shape)
        if rank == 0:
            raise ShapeError(f"{where}: group_norm needs an input of known rank, got {fmt(shape)}")
        if channels_axis > rank - 1 or channels_axis < -rank:
            raise ShapeError(f"{where}: group_norm channels_axis {channels_axis} is out of bounds for "
                             f"{fmt(shape)}")
        caxis = channels_axis % rank
        channels = shape[caxis]
        if channels is None:
            raise ShapeError(f"{where}: group_norm inputs {fmt(shape)} have an undefined channel dimension "
                             f"{caxis}")
        axes = []
        for a in reduction_axes:
            if a > rank - 1 or a < -rank:
                raise ShapeError(f"{where}: group_norm reduction axis {a} is out of bounds for {fmt(shape)}")
            a %= rank
            if a == caxis:
                raise InvalidArgumentError(f"{where}: reduction_axes must be mutually exclusive with channels_axis")
            axes.append(a)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups <= 0:
            raise InvalidArgumentError(f"{where}: groups must be a positive int, got {groups!r}")
        if groups > channels:
            raise InvalidArgumentError(f"{where}: Invalid groups {groups} for {channels} channels.")
        if channels % groups:
            raise InvalidArgumentError(f"{where}: {channels} channels is not commensurate with {groups} groups.")
        dtype = inputs.dtype
        pi = param_initializers or {}
        beta = gamma = None
        if center:
            beta = _param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
        if scale:
            gamma = _param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
                           variables_collections, trainable)
        # Per-channel moments over the reduction axes, then averaged over each group's channels (equal counts,
        # so the group's mean and variance are exact); the reshapes act on tensors whose reduced axes are 1.
        per = channels // groups
        kept = [1 if i in axes else d for i, d in enumerate(shape)]
        grouped = kept[:caxis] + [groups, per] + kept[caxis + 1:]
        if sum(d is None for d in grouped) > 1:
            raise ShapeError(f"{where}: group_norm needs the non-reduced dimensions of {fmt(shape)} known but "
                             "one")
        grouped = [-1 if d is None else d for d in grouped]
        back = [-1 if d is None else d for d in kept]
        back[caxis] = channels

        def group_mean(t, name):
            m = math_ops.reduce_mean(t, axes, keepdims=True)
            m = math_ops.reduce_mean(array_ops.reshape(m, grouped), [caxis + 1], keepdims=True)
            m = m * array_ops.ones([per] + [1] * (rank - caxis - 1), dtype)
            return array_ops.reshape(m, back, name=name)

        with name_scope("moments"):
            mean = group_mean(inputs, "mean")
            centered = inputs - mean
            variance = group_mean(math_ops.square(centered), "variance")
        outputs = centered * math_ops.rsqrt(variance + epsilon)
        bshape = [channels if i == caxis else 1 for i in range(rank)]
        if gamma is not None:
            outputs = outputs * (array_ops.reshape(gamma, bshape) if caxis != rank - 1 else gamma)
        if beta is not None:
            outputs = outputs + (array_ops.reshape(beta, bshape) if caxis != rank - 1 else beta)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@add_arg_scope
def instance_norm(inputs, center=True, scale=True, epsilon=1e-6, activation_fn=None, param_initializers=None,
                  reuse=None, variables_collections=None, outputs_collections=None, trainable=True,
                  data_format="NHWC", scope=None):
    """Instance normalisation (Ulyanov et al., arXiv:1607.08022), TF-Slim's instance_norm: each example and
    channel normalised over the spatial axes. Variables 'beta' and 'gamma' of shape [channels] (scope
    'InstanceNorm')."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "InstanceNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        rank = len(inputs.shape)
        if rank < 3:
            raise ShapeError(f"{where}: instance_norm expects an input of rank >= 3, got {fmt(inputs.shape)}")
        if data_format not in ("NHWC", "NCHW"):
            raise InvalidArgumentError(f"{where}: data_format has to be either NCHW or NHWC, got {data_format!r}")
        caxis = 1 if data_format == "NCHW" else rank - 1
        channels = inputs.shape[caxis]
        if channels is None:
            raise ShapeError(f"{where}: instance_norm inputs {fmt(inputs.shape)} have an undefined channels "
                             "dimension")
        dtype = inputs.dtype
        pi = param_initializers or {}
        bshape = [channels if i == caxis else 1 for i in range(rank)]
        beta = gamma = None
        if center:
            beta = _param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
            if caxis != rank - 1:
                beta = array_ops.reshape(beta, bshape)
        if scale:
            gamma = _param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
                           variables_collections, trainable)
            if caxis != rank - 1:
                gamma = array_ops.reshape(gamma, bshape)
        axes = [i for i in range(1, rank) if i != caxis]
        mean, variance = _moments(inputs, axes)
        with name_scope("instancenorm"):
            inv = math_ops.rsqrt(variance + epsilon)
            if gamma is not None:
                inv = inv * gamma
            outputs = inputs * inv + ((beta - mean * inv) if beta is not None else -mean * inv)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


# ------------------------------------------------------------------------------------------
# 3-D convolution and pooling


def _triple(value, what: str, where: str) -> tuple:
    """An int or three ints, each positive (3-D kernel sizes, strides, rates)."""
    vals = list(value) if isinstance(value, (list, tuple)) else [value] * 3
    try:
        vals = [int(v) for v in vals]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where}: {what} must be an int or three ints, got {value!r}") from None
    if len(vals) != 3 or any(v <= 0 for v in vals):
        raise InvalidArgumentError(f"{where}: {what} must be an int or three positive ints, got {value!r}")
    return tuple(vals)


def _format3d(data_format, where: str) -> str:
    df = data_format or "NDHWC"
    if df not in ("NDHWC", "NCDHW"):
        raise InvalidArgumentError(f"{where}: data_format has to be either NCDHW or NDHWC, got {data_format!r}")
    return df


_XAVIER = xavier_initializer()
_ZEROS = zeros_initializer()


def _padding3d(padding, where: str) -> str:
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise InvalidArgumentError(f"{where}: padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.upper()


@add_arg_scope
def convolution3d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                  activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=_XAVIER, weights_regularizer=None,
                  biases_initializer=_ZEROS, biases_regularizer=None, reuse=None,
                  variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """3-D convolution + bias + activation (TF-Slim's conv3d), on NDHWC (default) or NCDHW inputs; weights
    [kd, kh, kw, in, out], biases unless a normalizer is given; default scope 'Conv'."""
    from .ops import conv3d_ops, nn_ops

    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "Conv", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        if len(inputs.shape) != 5:
            raise ShapeError(f"{where}: conv3d expects input of rank 5, got {fmt(inputs.shape)}")
        if isinstance(num_outputs, float) and num_outputs.is_integer():
            num_outputs = int(num_outputs)
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs <= 0:
            raise InvalidArgumentError(f"{where}: num_outputs should be a positive int, got {num_outputs!r}")
        k = _triple(kernel_size, "kernel_size", where)
        strides = _triple(stride, "stride", where)
        rates = _triple(rate, "rate", where)
        padding = _padding3d(padding, where)
        df = _format3d(data_format, where)
        if max(strides) > 1 and max(rates) > 1:
            raise InvalidArgumentError(f"{where}: stride > 1 together with rate > 1 is not supported, as in TF")
        cin = inputs.shape[4] if df == "NDHWC" else inputs.shape[1]
        if cin is None:
            raise ShapeError(f"{where}: conv3d needs a known number of input channels, got {fmt(inputs.shape)}")
        weights = _param("weights", [*k, cin, num_outputs], inputs.dtype, weights_initializer, weights_regularizer,
                         variables_collections, trainable)
        outputs = conv3d_ops.conv3d(inputs, weights, strides, padding, data_format=df, dilations=rates)
        if normalizer_fn is None and biases_initializer is not None:
            biases = _param("biases", [num_outputs], inputs.dtype, biases_initializer, biases_regularizer,
                            variables_collections, trainable)
            outputs = nn_ops.bias_add(outputs, biases, data_format="NHWC" if df == "NDHWC" else "NCHW")
        if normalizer_fn is not None:
            outputs = normalizer_fn(outputs, **(normalizer_params or {}))
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


conv3d = convolution3d


def _pool3d(kind, inputs, kernel_size, stride, padding, data_format, outputs_collections, scope):
    from .ops import conv3d_ops

    inputs = convert_to_tensor(inputs)
    default = "MaxPool3D" if kind == "max" else "AvgPool3D"
    with name_scope(scope, default, [inputs]) as sc:
        where = sc.rstrip("/")
        if len(inputs.shape) != 5:
            raise ShapeError(f"{where}: {default} expects input of rank 5, got {fmt(inputs.shape)}")
        k = _triple(kernel_size, "kernel_size", where)
        s = _triple(stride, "stride", where)
        fn = conv3d_ops.max_pool3d if kind == "max" else conv3d_ops.avg_pool3d
        outputs = fn(inputs, k, s, _padding3d(padding, where), data_format=_format3d(data_format, where))
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def max_pool3d(inputs, kernel_size, stride=2, padding="VALID", data_format="NDHWC", outputs_collections=None,
               scope=None):
    """3-D max pooling (TF-Slim's max_pool3d: default stride 2, VALID)."""
    return _pool3d("max", inputs, kernel_size, stride, padding, data_format, outputs_collections, scope)


@add_arg_scope
def avg_pool3d(inputs, kernel_size, stride=2, padding="VALID", data_format="NDHWC", outputs_collections=None,
               scope=None):
    """3-D average pooling (TF-Slim's avg_pool3d: default stride 2, VALID; SAME averages over the real cells)."""
    return _pool3d("avg", inputs, kernel_size, stride, padding, data_format, outputs_collections, scope)
