"""TF-Slim's layers (slim.conv2d, slim.fully_connected, slim.batch_norm, ...) with TF-Slim's defaults,
scopes, variable names and collections, plus the meta-layers `repeat` and `stack`."""

from __future__ import annotations

from typing import Callable

from . import dtypes as _dt
from . import utils
from .arg_scope import add_arg_scope
from .errors import InvalidArgumentError, ShapeError
from .initializers import ones_initializer, xavier_initializer, zeros_initializer
from .ir.graph import GraphKeys, Tensor, control_dependencies, get_default_graph, name_scope, variable_scope
from .ir.registry import convert_to_tensor
from .ops import array_ops, math_ops, nn_ops
from .ops import state as state_ops
from .shape import fmt
from .variables import model_variable

DATA_FORMAT_NHWC = "NHWC"
DATA_FORMAT_NCHW = "NCHW"
DATA_FORMAT_NDHWC = "NDHWC"
DATA_FORMAT_NCDHW = "NCDHW"


# ------------------------------------------------------------------------------------------
# Argument checking shared by the layers


def _where(sc) -> str:
    name = sc.name if hasattr(sc, "name") else str(sc)
    return name.rstrip("/")


def _pair(value, what: str, where: str) -> tuple:
    """An int or a pair of ints, each positive (kernel sizes, strides, rates)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InvalidArgumentError(f"{where}: {what} must be an int or a pair of ints, got {value!r}")
        out = tuple(value)
    else:
        out = (value, value)
    try:
        out = tuple(int(v) for v in out)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{where}: {what} must be an int or a pair of ints, got {value!r}") from None
    if any(v <= 0 for v in out):
        raise InvalidArgumentError(f"{where}: {what} must be positive, got {value!r}")
    return out


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
    df = data_format or DATA_FORMAT_NDHWC
    if df not in ("NDHWC", "NCDHW"):
        raise InvalidArgumentError(f"{where}: data_format has to be either NCDHW or NDHWC, got {data_format!r}")
    return df


def _num_outputs(n, where: str) -> int:
    if isinstance(n, float) and n.is_integer():  # TF's layers take 160.0 as 160 (research/slim's multipliers)
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int):
        raise InvalidArgumentError(f"{where}: num_outputs should be an int, got {n!r}")
    if n <= 0:
        raise InvalidArgumentError(f"{where}: num_outputs must be positive, got {n}")
    return n


def _data_format(df, where: str) -> str:
    df = df or DATA_FORMAT_NHWC
    if df not in (DATA_FORMAT_NHWC, DATA_FORMAT_NCHW):
        raise InvalidArgumentError(f"{where}: data_format has to be either NCHW or NHWC, got {df!r}")
    return df


def _padding(padding, where: str) -> str:
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise InvalidArgumentError(f"{where}: padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.upper()


def _rank(inputs: Tensor, ranks, where: str, layer: str) -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if len(inputs.shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{where}: {layer} expects input of rank {want}, got {fmt(inputs.shape)}")


def _channels(inputs: Tensor, df: str, where: str, layer: str) -> int:
    c = inputs.shape[1] if df == DATA_FORMAT_NCHW else inputs.shape[-1]
    if c is None:
        raise ShapeError(f"{where}: {layer} needs a known number of input channels, got {fmt(inputs.shape)}")
    return c


def _check_valid_fits(inputs: Tensor, kernel, rate, padding, df, where: str, layer: str) -> None:
    if padding != "VALID":
        return
    hw = nn_ops.nhwc(inputs.shape, df)[1:3]
    for axis, (size, k, d) in enumerate(zip(hw, kernel, rate)):
        fs = (k - 1) * d + 1
        if size is not None and size < fs:
            raise ShapeError(f"{where}: {layer} kernel {list(kernel)} (size {fs} with rate) is larger than the "
                             f"VALID input {fmt(inputs.shape)} on spatial axis {axis}")


def _var(name, shape, dtype, initializer, regularizer, collections, trainable):
    """A layer parameter: a model variable with the layer's collections added."""
    return model_variable(name, shape=list(shape), dtype=dtype, initializer=initializer, regularizer=regularizer,
                          collections=collections, trainable=trainable)


def _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
          activation_fn, variables_collections, trainable, num_outputs, df, dtype):
    """The tail every weight layer shares: bias (unless normalized), normalizer, activation."""
    if normalizer_fn is None and biases_initializer is not None:
        biases = _var("biases", [num_outputs], dtype, biases_initializer, biases_regularizer,
                      utils.get_variable_collections(variables_collections, "biases"), trainable)
        outputs = nn_ops.bias_add(outputs, biases, data_format=df)
    if normalizer_fn is not None:
        outputs = normalizer_fn(outputs, **(normalizer_params or {}))
    if activation_fn is not None:
        outputs = activation_fn(outputs)
    return outputs


# ------------------------------------------------------------------------------------------
# Convolutions


@add_arg_scope
def convolution(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                weights_initializer=xavier_initializer(), weights_regularizer=None,
                biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                variables_collections=None, outputs_collections=None, trainable=True, scope=None,
                conv_dims=None):
    """Convolution + bias + activation (TF-Slim's convolution): 2-D on rank-4 inputs (weights [kh, kw, in, out],
    NHWC or NCHW), 3-D on rank-5 inputs (weights [kd, kh, kw, in, out], NDHWC or NCDHW); biases unless a
    normalizer is given; default scope 'Conv'."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "Conv", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        rank = len(inputs.shape)
        dims = conv_dims if conv_dims is not None else rank - 2
        if dims not in (2, 3) or rank != dims + 2:
            layer = f"conv{conv_dims}d" if conv_dims is not None else "convolution"
            want = f"rank {conv_dims + 2}" if conv_dims in (2, 3) else "rank 4 (2-D) or 5 (3-D)"
            raise ShapeError(f"{where}: {layer} expects input with {want}, got {fmt(inputs.shape)}")
        layer = f"conv{dims}d"
        num_outputs = _num_outputs(num_outputs, where)
        tup = _pair if dims == 2 else _triple
        kernel = tup(kernel_size, "kernel_size", where)
        strides = tup(stride, "stride", where)
        rates = tup(rate, "rate", where)
        padding = _padding(padding, where)
        df = _data_format(data_format, where) if dims == 2 else _format3d(data_format, where)
        if max(strides) > 1 and max(rates) > 1:
            raise InvalidArgumentError(f"{where}: stride > 1 together with rate > 1 is not supported, as in TF")
        channels_first = df.startswith("NC")
        cin = inputs.shape[1] if channels_first else inputs.shape[-1]
        if cin is None:
            raise ShapeError(f"{where}: {layer} needs a known number of input channels, got {fmt(inputs.shape)}")
        if dims == 2:
            _check_valid_fits(inputs, kernel, rates, padding, df, where, layer)
        weights = _var("weights", [*kernel, cin, num_outputs], inputs.dtype, weights_initializer,
                       weights_regularizer, utils.get_variable_collections(variables_collections, "weights"),
                       trainable)
        if dims == 2:
            outputs = _conv(inputs, weights, strides, rates, padding, df)
        else:
            outputs = nn_ops.conv3d(inputs, weights, strides, padding, data_format=df, dilations=rates)
        outputs = _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
                        activation_fn, variables_collections, trainable, num_outputs,
                        DATA_FORMAT_NCHW if channels_first else DATA_FORMAT_NHWC, inputs.dtype)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


def _conv(inputs, weights, strides, rates, padding, df):
    from .ir.registry import apply_op

    return apply_op("conv2d", [inputs, weights], strides=strides, dilations=rates, padding=padding,
                     data_format=df)


@add_arg_scope
def convolution2d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                  activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=xavier_initializer(), weights_regularizer=None,
                  biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                  variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """TF-Slim's conv2d (an alias): `convolution` for 2-D inputs; its own arg_scope key, as in TF-Slim."""
    return convolution(inputs, num_outputs, kernel_size, stride=stride, padding=padding,
                       data_format=data_format, rate=rate, activation_fn=activation_fn,
                       normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
                       weights_initializer=weights_initializer, weights_regularizer=weights_regularizer,
                       biases_initializer=biases_initializer, biases_regularizer=biases_regularizer, reuse=reuse,
                       variables_collections=variables_collections, outputs_collections=outputs_collections,
                       trainable=trainable, scope=scope, conv_dims=2)


conv2d = convolution2d


@add_arg_scope
def convolution2d_transpose(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=DATA_FORMAT_NHWC,
                     activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                     weights_initializer=xavier_initializer(), weights_regularizer=None,
                     biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                     variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """Transposed 2-D convolution (deconvolution); weights [kh, kw, out, in], TF-Slim output sizes."""
    from .ir.registry import apply_op

    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "Conv2d_transpose", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        _rank(inputs, 4, where, "conv2d_transpose")
        num_outputs = _num_outputs(num_outputs, where)
        kh, kw = _pair(kernel_size, "kernel_size", where)
        sh, sw = _pair(stride, "stride", where)
        padding = _padding(padding, where)
        df = _data_format(data_format, where)
        cin = _channels(inputs, df, where, "conv2d_transpose")
        weights = _var("weights", [kh, kw, num_outputs, cin], inputs.dtype, weights_initializer,
                       weights_regularizer, utils.get_variable_collections(variables_collections, "weights"),
                       trainable)
        _, h, w, _ = nn_ops.nhwc(inputs.shape, df)
        out_hw = (nn_ops.transposed_out_len(h, kh, sh, padding), nn_ops.transposed_out_len(w, kw, sw, padding))
        outputs = apply_op("conv2d_transpose", [inputs, weights], strides=(sh, sw), padding=padding,
                           data_format=df, output_hw=out_hw)
        outputs = _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
                        activation_fn, variables_collections, trainable, num_outputs, df, inputs.dtype)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


conv2d_transpose = convolution2d_transpose


@add_arg_scope
def separable_convolution2d(inputs, num_outputs, kernel_size, depth_multiplier=1, stride=1, padding="SAME",
                            data_format=DATA_FORMAT_NHWC, rate=1, activation_fn=math_ops.relu, normalizer_fn=None,
                            normalizer_params=None, weights_initializer=xavier_initializer(),
                            pointwise_initializer=None, weights_regularizer=None,
                            biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                            variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """Depthwise convolution (depth_multiplier per channel) then, unless num_outputs is None, a 1x1
    pointwise convolution; TF-Slim's separable_conv2d."""
    from .ir.registry import apply_op

    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "SeparableConv2d", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        _rank(inputs, 4, where, "separable_conv2d")
        if num_outputs is not None:
            num_outputs = _num_outputs(num_outputs, where)
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise InvalidArgumentError(f"{where}: depth_multiplier must be a positive int, got {depth_multiplier!r}")
        kh, kw = _pair(kernel_size, "kernel_size", where)
        strides = _pair(stride, "stride", where)
        rates = _pair(rate, "rate", where)
        padding = _padding(padding, where)
        df = _data_format(data_format, where)
        if max(strides) > 1 and max(rates) > 1:
            raise InvalidArgumentError(f"{where}: stride > 1 together with rate > 1 is not supported, as in TF")
        cin = _channels(inputs, df, where, "separable_conv2d")
        _check_valid_fits(inputs, (kh, kw), rates, padding, df, where, "separable_conv2d")
        wcoll = utils.get_variable_collections(variables_collections, "weights")
        dw = _var("depthwise_weights", [kh, kw, cin, depth_multiplier], inputs.dtype, weights_initializer,
                  weights_regularizer, wcoll, trainable)
        outputs = apply_op("depthwise_conv2d", [inputs, dw], strides=strides, dilations=rates, padding=padding,
                           data_format=df)
        n_out = cin * depth_multiplier
        if num_outputs is not None:
            pw = _var("pointwise_weights", [1, 1, n_out, num_outputs], inputs.dtype,
                      pointwise_initializer or weights_initializer, weights_regularizer, wcoll, trainable)
            outputs = apply_op("conv2d", [outputs, pw], strides=(1, 1), dilations=(1, 1), padding="VALID",
                               data_format=df)
            n_out = num_outputs
        outputs = _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
                        activation_fn, variables_collections, trainable, n_out, df, inputs.dtype)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


separable_conv2d = separable_convolution2d


@add_arg_scope
def convolution2d_in_plane(inputs, kernel_size, stride=1, padding="SAME", activation_fn=math_ops.relu,
                    normalizer_fn=None, normalizer_params=None, weights_initializer=xavier_initializer(),
                    weights_regularizer=None, biases_initializer=zeros_initializer(), biases_regularizer=None,
                    reuse=None, variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """The same [kh, kw] filter applied to every channel separately (TF-Slim's conv2d_in_plane)."""
    from .ir.registry import apply_op

    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "ConvInPlane", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        _rank(inputs, 4, where, "conv2d_in_plane")
        kh, kw = _pair(kernel_size, "kernel_size", where)
        strides = _pair(stride, "stride", where)
        padding = _padding(padding, where)
        cin = _channels(inputs, DATA_FORMAT_NHWC, where, "conv2d_in_plane")
        _check_valid_fits(inputs, (kh, kw), (1, 1), padding, DATA_FORMAT_NHWC, where, "conv2d_in_plane")
        weights = _var("weights", [kh, kw, 1, 1], inputs.dtype, weights_initializer, weights_regularizer,
                       utils.get_variable_collections(variables_collections, "weights"), trainable)
        kernel = array_ops.tile(weights, [1, 1, cin, 1])
        outputs = apply_op("depthwise_conv2d", [inputs, kernel], strides=strides, dilations=(1, 1),
                           padding=padding, data_format=DATA_FORMAT_NHWC)
        outputs = _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
                        activation_fn, variables_collections, trainable, cin, DATA_FORMAT_NHWC, inputs.dtype)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


conv2d_in_plane = convolution2d_in_plane


@add_arg_scope
def convolution3d(inputs, num_outputs, kernel_size, stride=1, padding="SAME", data_format=None, rate=1,
                  activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                  weights_initializer=xavier_initializer(), weights_regularizer=None,
                  biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                  variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """TF-Slim's conv3d: `convolution` for 5-D inputs (NDHWC by default, or NCDHW); its own arg_scope key."""
    return convolution(inputs, num_outputs, kernel_size, stride=stride, padding=padding,
                       data_format=data_format, rate=rate, activation_fn=activation_fn,
                       normalizer_fn=normalizer_fn, normalizer_params=normalizer_params,
                       weights_initializer=weights_initializer, weights_regularizer=weights_regularizer,
                       biases_initializer=biases_initializer, biases_regularizer=biases_regularizer, reuse=reuse,
                       variables_collections=variables_collections, outputs_collections=outputs_collections,
                       trainable=trainable, scope=scope, conv_dims=3)


conv3d = convolution3d


# ------------------------------------------------------------------------------------------
# fully_connected


@add_arg_scope
def fully_connected(inputs, num_outputs, activation_fn=math_ops.relu, normalizer_fn=None, normalizer_params=None,
                    weights_initializer=xavier_initializer(), weights_regularizer=None,
                    biases_initializer=zeros_initializer(), biases_regularizer=None, reuse=None,
                    variables_collections=None, outputs_collections=None, trainable=True, scope=None):
    """Dense layer on the last axis (inputs of rank >= 2); weights [in, out]."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "fully_connected", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        num_outputs = _num_outputs(num_outputs, where)
        if len(inputs.shape) < 2:
            raise ShapeError(f"{where}: fully_connected expects rank >= 2, got {fmt(inputs.shape)}")
        cin = inputs.shape[-1]
        if cin is None:
            raise ShapeError(f"{where}: the last dimension of the inputs to fully_connected should be defined, "
                             f"got {fmt(inputs.shape)}")
        weights = _var("weights", [cin, num_outputs], inputs.dtype, weights_initializer, weights_regularizer,
                       utils.get_variable_collections(variables_collections, "weights"), trainable)
        outputs = math_ops.matmul(inputs, weights, name="MatMul" if len(inputs.shape) == 2 else "Tensordot")
        outputs = _post(outputs, sc, biases_initializer, biases_regularizer, normalizer_fn, normalizer_params,
                        activation_fn, variables_collections, trainable, num_outputs, DATA_FORMAT_NHWC,
                        inputs.dtype)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


# ------------------------------------------------------------------------------------------
# Normalisation


@add_arg_scope
def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001, activation_fn=None,
               param_initializers=None, param_regularizers=None, updates_collections=GraphKeys.UPDATE_OPS,
               is_training=True, reuse=None, variables_collections=None, outputs_collections=None,
               trainable=True, batch_weights=None, fused=None, data_format=DATA_FORMAT_NHWC,
               zero_debias_moving_mean=False, scope=None, renorm=False, renorm_clipping=None,
               renorm_decay=0.99, adjustment=None):
    """Batch normalisation (TF-Slim's batch_norm): batch statistics when is_training, else the moving ones.

    With `zero_debias_moving_mean` the moving mean is TF's zero-debiased average (variables
    'moving_mean/biased' and 'moving_mean/local_step'; after t updates it is the decayed average of the batch
    means divided by 1 - decay^t, so it starts unbiased). In training, the moving mean/variance updates go to
    `updates_collections` (UPDATE_OPS), or run with
    the output when it is None. The fused path (rank 2 or 4, the default) updates the moving variance
    with the unbiased batch variance, as TF's fused kernel does.
    """
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "BatchNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        for flag, name in ((batch_weights is not None, "batch_weights"), (renorm, "renorm"),
                           (adjustment is not None, "adjustment")):
            if flag:
                raise InvalidArgumentError(f"{where}: batch_norm's {name} is not supported by slimir")
        if isinstance(is_training, Tensor):
            raise InvalidArgumentError(f"{where}: is_training must be a Python bool in slimir (got a tensor)")
        df = _data_format(data_format, where)
        rank = len(inputs.shape)
        if rank < 2:
            raise ShapeError(f"{where}: batch_norm expects an input of rank >= 2, got {fmt(inputs.shape)}")
        axis = 1 if df == DATA_FORMAT_NCHW else rank - 1
        c = inputs.shape[axis]
        if c is None:
            raise ShapeError(f"{where}: batch_norm needs a known channel dimension, got {fmt(inputs.shape)}")
        pi = param_initializers or {}
        pr = param_regularizers or {}
        dtype = inputs.dtype
        beta = gamma = None
        if center:
            beta = _var("beta", [c], dtype, pi.get("beta", zeros_initializer()), pr.get("beta"),
                        utils.get_variable_collections(variables_collections, "beta"), trainable)
        if scale:
            gamma = _var("gamma", [c], dtype, pi.get("gamma", ones_initializer()), pr.get("gamma"),
                         utils.get_variable_collections(variables_collections, "gamma"), trainable)
        g = get_default_graph()
        with g.device(""):
            moving_mean = _var("moving_mean", [c], dtype, pi.get("moving_mean", zeros_initializer()), None,
                               utils.get_variable_collections(variables_collections, "moving_mean"), False)
            moving_var = _var("moving_variance", [c], dtype, pi.get("moving_variance", ones_initializer()), None,
                              utils.get_variable_collections(variables_collections, "moving_variance"), False)
        if beta is None:
            beta = array_ops.zeros([c], dtype, name="zeros")
        if gamma is None:
            gamma = array_ops.ones([c], dtype, name="ones")
        fused_path = (fused is None or fused) and rank in (2, 4)
        eps = max(float(epsilon), 1.001e-5) if fused_path else float(epsilon)
        y, bmean, bvar = nn_ops.fused_batch_norm(inputs, gamma, beta, moving_mean, moving_var, epsilon=eps,
                                                 axis=axis, is_training=bool(is_training), bessel=fused_path,
                                                 name="FusedBatchNorm" if fused_path else "batchnorm")
        outputs = y
        if is_training:
            one_minus = 1.0 - float(decay)
            if zero_debias_moving_mean:
                upd_mean = _zero_debiased_update(moving_mean, bmean, one_minus, g)
            else:
                with name_scope("AssignMovingAvg"):
                    upd_mean = state_ops.assign_sub(moving_mean, (moving_mean - bmean) * one_minus)
            with name_scope("AssignMovingAvg_1"):
                upd_var = state_ops.assign_sub(moving_var, (moving_var - bvar) * one_minus)
            if updates_collections is None:
                with control_dependencies([upd_mean, upd_var]):
                    outputs = array_ops.identity(outputs)
            else:
                g.add_to_collections(updates_collections, upd_mean)
                g.add_to_collections(updates_collections, upd_var)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


def _zero_debiased_update(moving, value, one_minus: float, g):
    """TF's assign_moving_average(zero_debias=True): a biased average `<moving>/biased` that starts at 0 and
    a step count `<moving>/local_step` (global, non-trainable variables), the average set to
    biased / (1 - decay^step); one grouped update op."""
    from .variables import get_variable

    def aux(name, shape):
        return get_variable(f"{moving.op.name.rpartition('/')[2]}/{name}", shape=shape, dtype=moving.dtype,
                            initializer=zeros_initializer(), trainable=False,
                            collections=[GraphKeys.GLOBAL_VARIABLES])

    with g.device(""):
        biased = aux("biased", list(moving.shape))
        local_step = aux("local_step", [])
    with name_scope("AssignMovingAvg"):
        biased_t = biased - (biased - value) * one_minus
        step_t = local_step + 1.0
        bias_factor = 1.0 - math_ops.pow(1.0 - one_minus, step_t)
        return state_ops.group(state_ops.assign(biased, biased_t), state_ops.assign(local_step, step_t),
                               state_ops.assign(moving, biased_t / bias_factor))


@add_arg_scope
def layer_norm(inputs, center=True, scale=True, activation_fn=None, reuse=None, variables_collections=None,
               outputs_collections=None, trainable=True, begin_norm_axis=1, begin_params_axis=-1, scope=None):
    """Layer normalisation over axes [begin_norm_axis, rank) with params over [begin_params_axis, rank)."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "LayerNorm", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        rank = len(inputs.shape)
        if rank == 0:
            raise ShapeError(f"{where}: layer_norm needs an input of known rank, got {fmt(inputs.shape)}")
        bpa = begin_params_axis % rank if begin_params_axis < 0 else begin_params_axis
        bna = begin_norm_axis % rank if begin_norm_axis < 0 else begin_norm_axis
        if bpa >= rank or bna >= rank:
            raise ShapeError(f"{where}: begin_params_axis ({begin_params_axis}) and begin_norm_axis "
                             f"({begin_norm_axis}) must be < rank ({rank})")
        params_shape = list(inputs.shape[bpa:])
        if any(d is None for d in params_shape):
            raise ShapeError(f"{where}: inputs {fmt(inputs.shape)} have undefined dimensions in the params shape")
        beta = gamma = None
        if center:
            beta = _var("beta", params_shape, inputs.dtype, zeros_initializer(), None,
                        utils.get_variable_collections(variables_collections, "beta"), trainable)
        if scale:
            gamma = _var("gamma", params_shape, inputs.dtype, ones_initializer(), None,
                         utils.get_variable_collections(variables_collections, "gamma"), trainable)
        axes = list(range(bna, rank))
        mean = math_ops.reduce_mean(inputs, axes, keepdims=True, name="mean")
        centered = inputs - mean
        variance = math_ops.reduce_mean(math_ops.square(centered), axes, keepdims=True, name="variance")
        outputs = centered * math_ops.rsqrt(variance + 1e-12)
        if gamma is not None:
            outputs = outputs * gamma
        if beta is not None:
            outputs = outputs + beta
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


@add_arg_scope
def unit_norm(inputs, dim, epsilon=1e-7, scope=None):
    """Normalise `inputs` to unit length along `dim`."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "UnitNorm", [inputs]) as sc:
        rank = len(inputs.shape)
        if not 0 <= dim < rank:
            raise ShapeError(f"{_where(sc)}: dim must be positive but smaller than the input rank, "
                             f"got dim={dim} for {fmt(inputs.shape)}")
        lengths = math_ops.sqrt(epsilon + math_ops.reduce_sum(math_ops.square(inputs), [dim], keepdims=True))
        return math_ops.div(inputs, lengths)


def _layer_param(name, shape, dtype, initializer, regularizer, variables_collections, trainable):
    return _var(name, shape, dtype, initializer, regularizer,
                utils.get_variable_collections(variables_collections, name), trainable)


def _moments(x: Tensor, axes, name: str = "moments"):
    """(mean, variance) over `axes`, kept as size-1 dims; the two-pass form of tf.nn.moments."""
    with name_scope(name):
        mean = math_ops.reduce_mean(x, axes, keepdims=True, name="mean")
        variance = math_ops.reduce_mean(math_ops.squared_difference(x, mean), axes, keepdims=True,
                                        name="variance")
    return mean, variance


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
            beta = _layer_param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
        if scale:
            gamma = _layer_param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
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
            beta = _layer_param("beta", [channels], dtype, pi.get("beta", zeros_initializer()), None,
                          variables_collections, trainable)
            if caxis != rank - 1:
                beta = array_ops.reshape(beta, bshape)
        if scale:
            gamma = _layer_param("gamma", [channels], dtype, pi.get("gamma", ones_initializer()), None,
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
# Bias, pooling, dropout, flatten, one-hot, softmax


@add_arg_scope
def bias_add(inputs, activation_fn=None, initializer=zeros_initializer(), regularizer=None, reuse=None,
             variables_collections=None, outputs_collections=None, trainable=True, data_format=DATA_FORMAT_NHWC,
             scope=None):
    """Add a learned per-channel bias (TF-Slim's slim.bias_add)."""
    inputs = convert_to_tensor(inputs)
    with variable_scope(scope, "BiasAdd", [inputs], reuse=reuse) as sc:
        where = _where(sc)
        df = _data_format(data_format, where)
        rank = len(inputs.shape)
        if rank < 2:
            raise ShapeError(f"{where}: bias_add expects an input of rank >= 2, got {fmt(inputs.shape)}")
        if df == DATA_FORMAT_NCHW and rank != 4:
            raise ShapeError(f"{where}: bias_add with data format NCHW only supports 4-D inputs, "
                             f"got {fmt(inputs.shape)}")
        c = _channels(inputs, df, where, "bias_add")
        biases = _var("biases", [c], inputs.dtype, initializer, regularizer,
                      utils.get_variable_collections(variables_collections, "biases"), trainable)
        outputs = nn_ops.bias_add(inputs, biases, data_format=df)
        if activation_fn is not None:
            outputs = activation_fn(outputs)
        return utils.collect_named_outputs(outputs_collections, sc.name, outputs)


def _pool(kind, inputs, kernel_size, stride, padding, data_format, outputs_collections, scope):
    inputs = convert_to_tensor(inputs)
    default = "MaxPool2D" if kind == "max" else "AvgPool2D"
    with name_scope(scope, default, [inputs]) as sc:
        where = sc.rstrip("/")
        df = _data_format(data_format, where)
        _rank(inputs, 4, where, "max_pool2d" if kind == "max" else "avg_pool2d")
        ks = _pair(kernel_size, "kernel_size", where)
        st = _pair(stride, "stride", where)
        padding = _padding(padding, where)
        _check_valid_fits(inputs, ks, (1, 1), padding, df, where, default)
        fn = nn_ops.max_pool if kind == "max" else nn_ops.avg_pool
        outputs = fn(inputs, ks, st, padding, data_format=df)
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def max_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format=DATA_FORMAT_NHWC,
               outputs_collections=None, scope=None):
    """2-D max pooling (default stride 2, VALID)."""
    return _pool("max", inputs, kernel_size, stride, padding, data_format, outputs_collections, scope)


@add_arg_scope
def avg_pool2d(inputs, kernel_size, stride=2, padding="VALID", data_format=DATA_FORMAT_NHWC,
               outputs_collections=None, scope=None):
    """2-D average pooling (default stride 2, VALID; SAME averages over the valid cells only)."""
    return _pool("avg", inputs, kernel_size, stride, padding, data_format, outputs_collections, scope)


def _pool3d(kind, inputs, kernel_size, stride, padding, data_format, outputs_collections, scope):
    inputs = convert_to_tensor(inputs)
    default = "MaxPool3D" if kind == "max" else "AvgPool3D"
    with name_scope(scope, default, [inputs]) as sc:
        where = sc.rstrip("/")
        if len(inputs.shape) != 5:
            raise ShapeError(f"{where}: {default} expects input of rank 5, got {fmt(inputs.shape)}")
        k = _triple(kernel_size, "kernel_size", where)
        s = _triple(stride, "stride", where)
        fn = nn_ops.max_pool3d if kind == "max" else nn_ops.avg_pool3d
        outputs = fn(inputs, k, s, _padding(padding, where), data_format=_format3d(data_format, where))
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


@add_arg_scope
def dropout(inputs, keep_prob=0.5, noise_shape=None, is_training=True, outputs_collections=None, scope=None,
            seed=None):
    """Dropout when is_training (keep with probability keep_prob, scale by 1/keep_prob), else identity."""
    inputs = convert_to_tensor(inputs)
    with name_scope(scope, "Dropout", [inputs]) as sc:
        if isinstance(is_training, Tensor):
            raise InvalidArgumentError(f"{sc.rstrip('/')}: is_training must be a Python bool in slimir")
        if not 0 < float(keep_prob) <= 1:
            raise InvalidArgumentError(f"{sc.rstrip('/')}: keep_prob must be in (0, 1], got {keep_prob}")
        if is_training and float(keep_prob) < 1.0:
            outputs = nn_ops.dropout(inputs, rate=1.0 - float(keep_prob), noise_shape=noise_shape, seed=seed,
                                     name="dropout")
        else:
            outputs = array_ops.identity(inputs)
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def flatten(inputs, outputs_collections=None, scope=None):
    """Flatten to [batch, k], keeping the batch dimension (NHWC order, as TF-Slim)."""
    from .ir.registry import apply_op

    inputs = convert_to_tensor(inputs)
    with name_scope(scope, "Flatten", [inputs]) as sc:
        if len(inputs.shape) < 1:
            raise ShapeError(f"{sc.rstrip('/')}: Inputs must have a least 1 dimension, got {fmt(inputs.shape)}")
        if len(inputs.shape) == 1:
            outputs = array_ops.expand_dims(inputs, 1)
        else:
            outputs = apply_op("flatten", [inputs])
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def one_hot_encoding(labels, num_classes, on_value=1.0, off_value=0.0, outputs_collections=None, scope=None,
                     check_labels: bool = True):
    """One-hot encode integer labels into [..., num_classes] float32.

    check_labels (slimir): a run with a label outside [0, num_classes) raises InvalidArgumentError naming it
    (state_ops.check_labels); False gives TF's all-off_value row for such a label.
    """
    labels = convert_to_tensor(labels)
    with name_scope(scope, "OneHotEncoding", [labels]) as sc:
        if check_labels:
            labels = state_ops.check_labels(labels, num_classes, get_default_graph().get_name_scope())
        if labels.dtype is _dt.int32:
            labels = array_ops.cast(labels, _dt.int64)
        outputs = array_ops.one_hot(labels, num_classes, on_value=on_value, off_value=off_value)
        return utils.collect_named_outputs(outputs_collections, sc, outputs)


@add_arg_scope
def softmax(logits, scope=None):
    """Softmax over the last dimension."""
    logits = convert_to_tensor(logits)
    with variable_scope(scope, "softmax", [logits]) as sc:
        if len(logits.shape) < 2 or logits.shape[-1] is None:
            raise ShapeError(f"{_where(sc)}: softmax needs rank >= 2 and a known last dimension, "
                             f"got {fmt(logits.shape)}")
        return nn_ops.softmax(logits, axis=-1)


# ------------------------------------------------------------------------------------------
# repeat / stack


def _layer_name(layer: Callable, default: str) -> str:
    if hasattr(layer, "__name__"):
        return layer.__name__
    if hasattr(layer, "func"):
        return layer.func.__name__
    return default


def repeat(inputs, repetitions: int, layer: Callable, *args, **kwargs):
    """Apply `layer` `repetitions` times with the same arguments; scopes `scope/scope_1`, `scope/scope_2`..."""
    scope = kwargs.pop("scope", None)
    with variable_scope(scope, "Repeat", [inputs]):
        inputs = convert_to_tensor(inputs)
        if scope is None:
            scope = _layer_name(layer, "repeat")
        outputs = inputs
        for i in range(repetitions):
            kwargs["scope"] = f"{scope}_{i + 1}"
            outputs = layer(outputs, *args, **kwargs)
        return outputs


def stack(inputs, layer: Callable, stack_args, **kwargs):
    """Apply `layer` once per entry of `stack_args` (its positional args); scopes `scope/scope_1`..."""
    scope = kwargs.pop("scope", None)
    if not isinstance(stack_args, (list, tuple)):
        raise InvalidArgumentError("stack_args need to be a list or tuple")
    with variable_scope(scope, "Stack", [inputs]):
        inputs = convert_to_tensor(inputs)
        if scope is None:
            scope = _layer_name(layer, "stack")
        outputs = inputs
        for i, layer_args in enumerate(stack_args):
            kwargs["scope"] = f"{scope}_{i + 1}"
            if not isinstance(layer_args, (list, tuple)):
                layer_args = [layer_args]
            outputs = layer(outputs, *layer_args, **kwargs)
        return outputs

