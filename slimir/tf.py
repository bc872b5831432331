"""`import slimir.tf as tf`: TensorFlow's core API as TF-Slim model code uses it, on slimir.

A TF-Slim model file (research/slim's nets: `import tensorflow.compat.v1 as tf`, `import tf_slim as slim`) ports by
changing its two import lines to `import slimir.tf as tf` and `import slimir as slim`. This module is
`tf.compat.v1`: TF1's names, argument names and positional orders (`tf.pad(tensor=...)`, `tf.shape(input=...)`,
`tf.transpose(a=...)`, `tf.image.resize` with TF1's pixel centers, `tf.logging`, `tf.GraphKeys`, `tf.Session`,
...); `tf.compat.v1` is this module itself and `tf.compat.v2` differs where TF2 does (`image.resize` with half-pixel
centers, `shape(input, out_type)`). Each name maps onto slimir (`tf.train` is `slim.train`, `tf.losses` is
`slim.losses`, `tf.nn.conv2d` is `slim.nn.conv2d`, ...). A TF name slimir does not provide raises
`slimir.errors.NotAvailableError` naming it and what to use instead.

    import slimir.tf as tf
    import slimir as slim

    net = tf.pad(tensor=images, paddings=[[0, 0], [3, 3], [3, 3], [0, 0]], mode='REFLECT')
    net = slim.conv2d(net, 64, [7, 7], padding='VALID')
    net.get_shape().assert_has_rank(4)
    tf.compat.v1.logging.info('conv1: %s', net.shape)
"""

# ruff: noqa: F401, E402  (a facade re-exporting slimir under TF's names, like slimir/__init__.py)
from __future__ import annotations

import builtins as _builtins
import logging as _pylogging
import sys as _sys
import types as _types
from typing import Optional as _Optional

import numpy as _np

from . import dtypes as _dt
from . import errors as _errors
from . import initializers as _init
from . import (
    losses,  # noqa: F401  (tf.losses / tf.compat.v1.losses)
    summary,  # noqa: F401
    train,  # noqa: F401  (tf.train: optimizers, Saver, schedules, batch, ...)
)
from . import tensor_util as _tensor_util
from . import tf_args as _a
from . import variables as _vars
from .errors import NotAvailableError as _NotAvailable
from .ir import graph as _graph
from .ir.registry import convert_to_tensor as _convert
from .ops import array as _array_family
from .ops import array_ops as _array
from .ops import image as _image
from .ops import index as _index
from .ops import math_ops as _math
from .ops import nn_ops as _nn_ops
from .ops import random as _random_ops
from .ops import state as _state
from .shape import Dimension, dimension_value  # noqa: F401
from .shape import Shape as TensorShape

# ------------------------------------------------------------------------------------------
# Namespaces: modules whose missing names raise a NotAvailableError saying what to use instead


#: TF names slimir leaves out on purpose, with what to use instead.
_INSTEAD = {
    "cond": "is_training and other switches are Python bools in slimir: build the branch you need with a Python if",
    "case": "choose the branch with a Python if while building the graph",
    "while_loop": "unroll the loop in Python while building the graph",
    "map_fn": "apply the function to the batch as a whole, or unroll over a static size in Python",
    "scan": "unroll the recurrence in Python while building the graph",
    "py_func": "slimir graphs run entirely in ONNX Runtime: compute the value in numpy and feed it",
    "numpy_function": "slimir graphs run entirely in ONNX Runtime: compute the value in numpy and feed it",
    "py_function": "slimir graphs run entirely in ONNX Runtime: compute the value in numpy and feed it",
    "data": "use slim.dataset_data_provider, slim.train.batch or slim.inputs.bind for input pipelines",
    "keras": "write the model with slim layers (slim.conv2d, slim.fully_connected, ...)",
    "estimator": "train with slim.learning.train (or `slimir train`)",
    "app": "parse flags with argparse; `slimir train/eval/export` are research/slim's scripts",
    "flags": "parse flags with argparse; `slimir train/eval/export` are research/slim's scripts",
    "gfile": "use Python's os / open / glob",
    "io": "use Python's os / open, and slim.tfexample_decoder for tf.Example records",
    "contrib": "TF-Slim's contrib parts are `import slimir as slim` (slim.arg_scope, slim.conv2d, ...)",
    "tpu": "slimir runs on ONNX Runtime (CPU or CUDA)",
    "distribute": "use slim.distributed (MPI data parallelism)",
    "saved_model": "export with slim.export_onnx",
    "lite": "export with slim.export_onnx",
    "SparseTensor": "slimir has dense tensors only",
    "sparse": "slimir has dense tensors only",
    "string": "slimir tensors are numeric; decode strings on the host (slim.tfexample_decoder)",
    "boolean_mask": "the result's size is only known at run time; multiply by a 0/1 mask instead",
    "unique": "the result's size is only known at run time",
    "print": "use tf.Print(tensor, [values], message) (prints when run and returns the tensor)",
    "enable_eager_execution": "slimir builds graphs (TF1 style); run them with tf.Session",
    "function": "slimir builds graphs (TF1 style); call the Python function while building",
    "make_template": "share variables with variable_scope(..., reuse=True) or AUTO_REUSE",
    "floordiv": "use tf.floor(x / y)",
    "floormod": "use x - tf.floor(x / y) * y",
    "mod": "use x - tf.floor(x / y) * y",
    "complex64": "slimir tensors are real",
    "complex128": "slimir tensors are real",
}


class _Namespace(_types.ModuleType):
    """A submodule of the tf namespace (tf.nn, tf.image, ...): attributes, and a clear error for the rest."""

    def __init__(self, name: str, doc: str = "", **attrs):
        super().__init__(name, doc)
        self.__dict__.update(attrs)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise _not_available(f"{self.__name__}.{name}", name)

    def __repr__(self) -> str:
        return f"<slimir namespace {self.__name__}>"


def _not_available(full: str, name: str) -> _NotAvailable:
    hint = _INSTEAD.get(name)
    if hint is None:
        hint = "see the `tf` section and the porting table in slimir's README for what slimir provides"
    return _NotAvailable(f"{full} is not available in slimir's TensorFlow namespace (slimir.tf): {hint}")


def __getattr__(name: str):  # module-level: tf.<missing name>
    if name.startswith("__"):
        raise AttributeError(name)
    raise _not_available(f"tf.{name}", name)


# ------------------------------------------------------------------------------------------
# dtypes


class _UnavailableDType(_dt.DType):
    """A TF dtype slimir cannot compute with: it exists (so `dtype == tf.bfloat16` works); using it raises."""

    __slots__ = ()

    def __init__(self, name: str):  # noqa: D401  (no numpy/ONNX type behind it)
        _dt.DType.name.__set__(self, name)

    def _unavailable(self):
        raise _errors.DTypeError(f"the dtype {self.name} is not available in slimir (ONNX Runtime's CPU kernels lack "
                                 "it); use tf.float32 (or tf.float16)")

    np = property(lambda self: self._unavailable())
    onnx = property(lambda self: self._unavailable())
    is_floating = property(lambda self: True)
    is_integer = property(lambda self: False)
    is_bool = property(lambda self: False)

    def __repr__(self) -> str:
        return f"tf.{self.name}"


DType = _dt.DType
float16 = half = _dt.float16
float32 = _dt.float32
float64 = double = _dt.float64
bfloat16 = _UnavailableDType("bfloat16")
int8, uint8, int16, int32, int64 = _dt.int8, _dt.uint8, _dt.int16, _dt.int32, _dt.int64
bool = _dt.bool_  # noqa: A001


def as_dtype(type_value) -> _dt.DType:
    """TF's tf.as_dtype (also accepts 'bfloat16', which slimir cannot compute with)."""
    if type_value == "bfloat16" or type_value is bfloat16:
        return bfloat16
    return _dt.as_dtype(type_value)


dtypes = _Namespace("tf.dtypes", "TF's dtypes.", DType=DType, as_dtype=as_dtype, float16=float16, half=half,
                    float32=float32, float64=float64, double=double, bfloat16=bfloat16, int8=int8, uint8=uint8,
                    int16=int16, int32=int32, int64=int64, bool=bool, cast=_array.cast)

# ------------------------------------------------------------------------------------------
# graph, scopes, variables, sessions


from .ir.autodiff import gradients  # noqa: E402,F401
from .ir.graph import (  # noqa: E402,F401
    AUTO_REUSE,
    Graph,
    GraphKeys,
    Tensor,
    Variable,
    VariableScope,
    add_to_collection,
    add_to_collections,
    control_dependencies,
    device,
    get_collection,
    get_collection_ref,
    get_default_graph,
    get_default_session,
    get_variable_scope,
    name_scope,
    reset_default_graph,
    set_random_seed,
    variable_scope,
)
from .ir.graph import Node as Operation  # noqa: E402,F401
from .runtime import InteractiveSession, Session  # noqa: E402,F401
from .variables import (  # noqa: E402,F401
    get_variable,  # noqa: E402,F401
    global_variables,
    global_variables_initializer,
    initialize_all_variables,
    initialize_local_variables,
    local_variables,
    local_variables_initializer,
    model_variables,
    trainable_variables,
    variables_initializer,
)

newaxis = None
get_static_value = _tensor_util.constant_value


def all_variables() -> list:
    """TF's deprecated tf.all_variables (= global_variables)."""
    return global_variables()


def moving_average_variables(scope=None) -> list:
    return get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, scope)


def executing_eagerly() -> bool:
    """slimir always builds graphs."""
    return False


def disable_eager_execution() -> None:
    """A no-op: slimir always builds graphs (TF1 style)."""


def disable_v2_behavior() -> None:
    """A no-op: this namespace is TF1's (tf.compat.v1)."""


disable_resource_variables = disable_v2_tensorshape = disable_control_flow_v2 = disable_v2_behavior


def is_tensor(x) -> bool:
    return isinstance(x, _graph.Tensor)


def placeholder(dtype, shape=None, name: _Optional[str] = None) -> Tensor:
    """TF's tf.placeholder (slimir needs the rank: give a shape, None for sizes known at run time)."""
    return _array.placeholder(dtype, shape, name=name)


def placeholder_with_default(input, shape, name: _Optional[str] = None) -> Tensor:
    return _array.placeholder_with_default(input, shape, name=name)


def constant(value, dtype=None, shape=None, name: str = "Const", verify_shape: bool = False) -> Tensor:
    """TF's tf.constant(value, dtype, shape, name)."""
    if verify_shape and shape is not None and _builtins.tuple(_np.shape(value)) != _builtins.tuple(shape):
        raise _errors.ShapeError(f"constant: value of shape {_np.shape(value)} does not have the shape {shape}")
    return _array.constant(value, dtype=dtype, shape=None if shape is None else _a.shape_arg(shape, "constant"),
                           name=name)


def convert_to_tensor(value, dtype=None, name: _Optional[str] = None, preferred_dtype=None, dtype_hint=None):
    """TF's tf.convert_to_tensor: tensors as they are (dtype checked), values as constants of `dtype`."""
    if isinstance(value, Tensor) or dtype is None:
        t = _convert(value, dtype=dtype, name=name)
        hint = preferred_dtype or dtype_hint
        if hint is not None and not isinstance(value, Tensor) and t.dtype is not _dt.as_dtype(hint):
            try:
                return _array.constant(value, dtype=hint, name=name or "Const")
            except _errors.SlimirError:
                return t
        return t
    return _array.constant(value, dtype=dtype, name=name or "Const")


def no_op(name: _Optional[str] = None):
    return _state.no_op(name=name)


def group(*inputs, **kwargs):
    return _state.group(*inputs, **kwargs)


def tuple(tensors, name: _Optional[str] = None, control_inputs=None):  # noqa: A001
    """TF's tf.tuple: the tensors, each computed after all of them (and `control_inputs`)."""
    deps = [t for t in tensors if t is not None] + list(control_inputs or [])
    with control_dependencies(deps):
        return [None if t is None else _array.identity(t) for t in tensors]


assign, assign_add, assign_sub = _state.assign, _state.assign_add, _state.assign_sub
Print, check_numerics = _state.Print, _state.check_numerics


def Assert(condition, data, summarize: _Optional[int] = None, name: _Optional[str] = None):  # noqa: N802
    """TF's tf.Assert: an op that fails the run with InvalidArgumentError when `condition` is false."""
    return _state.make_assert(condition, data, summarize=summarize, name=name)


def count_up_to(ref, limit, name: _Optional[str] = None):
    """TF's tf.count_up_to(ref, limit) (also `ref.count_up_to(limit)`)."""
    return _state.count_up_to(ref, limit, name=name)


# ------------------------------------------------------------------------------------------
# array and math ops (TF1's argument names and orders)


pad, transpose, reshape, squeeze, expand_dims = _a.pad, _a.transpose, _a.reshape, _a.squeeze, _a.expand_dims
identity, stop_gradient, tile, slice = _a.identity, _a.stop_gradient, _a.tile, _a.slice  # noqa: A001
zeros, ones, zeros_like, ones_like, fill = _a.zeros, _a.ones, _a.zeros_like, _a.ones_like, _a.fill
random_uniform, random_normal, truncated_normal = _a.random_uniform, _a.random_normal, _a.truncated_normal
one_hot, where, matmul = _a.one_hot, _a.where, _a.matmul
where_v2 = _a.where
range, size, rank, gather = _array_family.range_, _array_family.size, _array_family.rank, _index.gather  # noqa: A001
stack, unstack = _array_family.stack, _array_family.unstack
concat, cast, to_float = _array.concat, _array.cast, _array.to_float
(add, subtract, multiply, divide, truediv, realdiv, maximum, minimum, pow, squared_difference,  # noqa: A001
 equal, not_equal, less, less_equal, greater, greater_equal, logical_and, logical_or) = (
    _math.add, _math.subtract, _math.multiply, _math.divide, _math.truediv, _math.divide, _math.maximum,
    _math.minimum, _math.pow, _math.squared_difference, _math.equal, _math.not_equal, _math.less, _math.less_equal,
    _math.greater, _math.greater_equal, _math.logical_and, _math.logical_or)
div = _math.divide
(abs, negative, square, sqrt, rsqrt, exp, log, sign, floor, ceil, reciprocal, sigmoid, tanh,  # noqa: A001
 logical_not) = (_math.abs, _math.negative, _math.square, _math.sqrt, _math.rsqrt, _math.exp, _math.log, _math.sign,
                 _math.floor, _math.ceil, _math.reciprocal, _math.sigmoid, _math.tanh, _math.logical_not)
reduce_sum, reduce_mean, reduce_max, reduce_min, reduce_prod = (
    _math.reduce_sum, _math.reduce_mean, _math.reduce_max, _math.reduce_min, _math.reduce_prod)
argmax, argmin, add_n, clip_by_value = _math.argmax, _math.argmin, _math.add_n, _math.clip_by_value


def shape(input, name: _Optional[str] = None, out_type=None):
    """TF1's tf.shape(input, name, out_type): the run-time shape (int32 unless out_type)."""
    return _a.shape(input, out_type=out_type or int32, name=name)


def split(value=None, num_or_size_splits=None, axis=0, num=None, name: str = "split"):
    """TF's tf.split(value, num_or_size_splits, axis, num, name)."""
    return _a.split(value, num_or_size_splits, axis=axis, name=name)


def to_int32(x, name: str = "ToInt32"):
    return _array.cast(x, int32, name=name)


def to_int64(x, name: str = "ToInt64"):
    return _array.cast(x, int64, name=name)


def to_double(x, name: str = "ToDouble"):
    return _array.cast(x, float64, name=name)


def strided_slice(input_, begin, end, strides=None, begin_mask: int = 0, end_mask: int = 0,
                  ellipsis_mask: int = 0, new_axis_mask: int = 0, shrink_axis_mask: int = 0, var=None,
                  name: _Optional[str] = None):
    """TF's tf.strided_slice with its masks (begin/end/strides known while building)."""
    begin = _tensor_util.static_ints(begin, "strided_slice: begin")
    end = _tensor_util.static_ints(end, "strided_slice: end")
    strides = [1] * len(begin) if strides is None else _tensor_util.static_ints(strides, "strided_slice: strides")
    key = []
    for i, (b, e, s) in enumerate(zip(begin, end, strides)):
        bit = 1 << i
        if ellipsis_mask & bit:
            key.append(Ellipsis)
        elif new_axis_mask & bit:
            key.append(None)
        elif shrink_axis_mask & bit:
            key.append(int(b))
        else:
            key.append(_builtins.slice(None if begin_mask & bit else int(b), None if end_mask & bit else int(e),
                                       int(s)))
    out = _array.strided_slice_getitem(_convert(input_), _builtins.tuple(key))
    return out if name is None else _array.identity(out, name=name)


def clip_by_norm(t, clip_norm, axes=None, name: _Optional[str] = None):
    """TF's tf.clip_by_norm: t * clip_norm / max(||t||, clip_norm) over `axes`."""
    with name_scope(name, "clip_by_norm"):
        t = _convert(t)
        l2 = sqrt(reduce_sum(t * t, axes, keepdims=True))
        return t * clip_norm / maximum(l2, clip_norm)


def einsum(*args, **kwargs):
    raise _not_available("tf.einsum", "einsum")


def random_shuffle(*args, **kwargs):
    raise _not_available("tf.random_shuffle", "random_shuffle")


# ------------------------------------------------------------------------------------------
# initializers (TF core's, not TF-Slim's contrib variance_scaling_initializer)


class _TFVarianceScaling(_init.Initializer):
    """TF's tf.variance_scaling_initializer(scale, mode, distribution): truncated normals are rescaled to the
    wanted variance (stddev / 0.87962566103423978)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, dtype=_dt.float32):
        super().__init__(dtype)
        if scale <= 0.0:
            raise _errors.InvalidArgumentError("`scale` must be positive float.")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise _errors.InvalidArgumentError(f"Invalid `mode` argument: {mode}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise _errors.InvalidArgumentError(f"Invalid `distribution` argument: {distribution}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def sample(self, shape, dtype, rng):
        import math

        fan_in, fan_out = _init._fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        var = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            lim = math.sqrt(3.0 * var)
            return rng.uniform(-lim, lim, shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(var), shape)
        return _random_ops.truncated_normal_np(rng, shape, 0.0, math.sqrt(var) / 0.87962566103423978, dtype.np)


def variance_scaling_initializer(scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                                 dtype=_dt.float32):
    return _TFVarianceScaling(scale, mode, distribution, seed, dtype)


def he_normal(seed=None):
    return _TFVarianceScaling(2.0, "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    return _TFVarianceScaling(2.0, "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    return _TFVarianceScaling(1.0, "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    return _TFVarianceScaling(1.0, "fan_in", "uniform", seed)


from .initializers import (  # noqa: E402,F401
    constant_initializer,
    glorot_normal_initializer,
    glorot_uniform_initializer,
    ones_initializer,
    random_normal_initializer,
    random_uniform_initializer,
    truncated_normal_initializer,
    zeros_initializer,
)

initializers = _Namespace(
    "tf.initializers", "TF1's tf.initializers.", constant=constant_initializer, zeros=zeros_initializer,
    ones=ones_initializer, random_normal=random_normal_initializer, random_uniform=random_uniform_initializer,
    truncated_normal=truncated_normal_initializer, glorot_uniform=glorot_uniform_initializer,
    glorot_normal=glorot_normal_initializer, variance_scaling=variance_scaling_initializer, he_normal=he_normal,
    he_uniform=he_uniform, lecun_normal=lecun_normal, lecun_uniform=lecun_uniform,
    global_variables=global_variables_initializer, local_variables=local_variables_initializer,
    variables=variables_initializer)

# ------------------------------------------------------------------------------------------
# tf.nn


def _conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu: bool = True,
            data_format: str = "NHWC", dilations=None, name: _Optional[str] = None, filters=None):
    """TF1's tf.nn.conv2d(input, filter, strides, padding, use_cudnn_on_gpu, data_format, dilations, name)."""
    from . import nn as _slim_nn

    return _slim_nn.conv2d(input, filters if filters is not None else filter, strides, padding,
                           data_format=data_format, dilations=dilations, name=name)


def _swish(features, name: _Optional[str] = None):
    """TF's tf.nn.swish: features * sigmoid(features)."""
    with name_scope(name, "swish"):
        f = _convert(features)
        return f * _math.sigmoid(f)


def _embedding_lookup(params, ids, partition_strategy: str = "mod", name: _Optional[str] = None,
                      validate_indices=True, max_norm=None):
    if isinstance(params, (list, _builtins.tuple)):
        if len(params) != 1:
            raise _errors.InvalidArgumentError("embedding_lookup: slimir takes one params tensor (no sharding)")
        params = params[0]
    if max_norm is not None:
        raise _errors.InvalidArgumentError("embedding_lookup: max_norm is not available in slimir")
    return _index.gather(params, ids, name=name)


def _make_nn():
    from . import nn as _slim_nn

    names = {n: getattr(_slim_nn, n) for n in dir(_slim_nn) if not n.startswith("_") and callable(
        getattr(_slim_nn, n)) and n not in ("Optional", "InvalidArgumentError", "apply_op", "convert_to_tensor",
                                            "name_scope")}
    names.update(conv2d=_conv2d, swish=_swish, silu=_swish, embedding_lookup=_embedding_lookup,
                 relu=_a.relu, relu6=_a.relu6, elu=_a.elu, softplus=_a.softplus, softsign=_a.softsign,
                 max_pool=_a.max_pool, avg_pool=_a.avg_pool, max_pool2d=_a.max_pool, avg_pool2d=_a.avg_pool,
                 softmax_cross_entropy_with_logits_v2=_slim_nn.softmax_cross_entropy_with_logits)
    return _Namespace("tf.nn", "TF's tf.nn on slimir (slim.nn plus TF's argument names).", **names)


nn = _make_nn()

# ------------------------------------------------------------------------------------------
# tf.image, tf.logging, tf.test, tf.math, tf.random, tf.tensor_util, tf.errors, tf.debugging


image = _Namespace(
    "tf.image", "TF1's tf.compat.v1.image resizing (legacy pixel centers; ResizeMethod holds ints).",
    resize=_image.resize_images, resize_images=_image.resize_images, resize_bilinear=_image.resize_bilinear,
    resize_nearest_neighbor=_image.resize_nearest_neighbor, resize_bicubic=_image.resize_bicubic,
    resize_area=_image.resize_area, ResizeMethod=_image.ResizeMethodV1)

_LOGGER = _pylogging.getLogger("tensorflow")
if not _LOGGER.handlers and not _pylogging.getLogger().handlers:
    _LOGGER.addHandler(_pylogging.StreamHandler())
_LOGGER.propagate = False if _LOGGER.handlers else True


def _log(level):
    def f(msg, *args, **kwargs):
        _LOGGER.log(level, msg, *args, **kwargs)

    return f


_LOG_COUNTS: dict = {}


def _log_every_n(level, msg, n, *args):
    k = (level, msg)
    c = _LOG_COUNTS.get(k, 0)
    _LOG_COUNTS[k] = c + 1
    if c % max(1, int(n)) == 0:
        _LOGGER.log(level, msg, *args)


def _log_first_n(level, msg, n, *args):
    k = ("first", level, msg)
    c = _LOG_COUNTS.get(k, 0)
    _LOG_COUNTS[k] = c + 1
    if c < int(n):
        _LOGGER.log(level, msg, *args)


logging = _Namespace(
    "tf.logging", "TF1's tf.logging on Python's logging (logger 'tensorflow').",
    DEBUG=_pylogging.DEBUG, INFO=_pylogging.INFO, WARN=_pylogging.WARNING, WARNING=_pylogging.WARNING,
    ERROR=_pylogging.ERROR, FATAL=_pylogging.FATAL,
    debug=_log(_pylogging.DEBUG), info=_log(_pylogging.INFO), warning=_log(_pylogging.WARNING),
    warn=_log(_pylogging.WARNING), error=_log(_pylogging.ERROR), fatal=_log(_pylogging.FATAL),
    log=lambda level, msg, *args, **kw: _LOGGER.log(level, msg, *args, **kw),
    vlog=lambda level, msg, *args, **kw: _LOGGER.log(_pylogging.DEBUG, msg, *args, **kw),
    log_every_n=_log_every_n, log_first_n=_log_first_n,
    set_verbosity=lambda v: _LOGGER.setLevel(v), get_verbosity=lambda: _LOGGER.getEffectiveLevel())


def _is_gpu_available(cuda_only: bool = False, min_cuda_compute_capability=None) -> bool:
    """True when ONNX Runtime offers its CUDA provider here (slimir runs on GPUs through it)."""
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


test = _Namespace("tf.test", "TF's tf.test device queries.", is_gpu_available=_is_gpu_available,
                  is_built_with_cuda=_is_gpu_available, is_built_with_gpu_support=_is_gpu_available,
                  gpu_device_name=lambda: "/device:GPU:0" if _is_gpu_available() else "")

_MATH = dict(add=add, subtract=subtract, multiply=multiply, divide=divide, truediv=truediv, maximum=maximum,
             minimum=minimum, pow=pow, squared_difference=squared_difference, equal=equal, not_equal=not_equal,
             less=less, less_equal=less_equal, greater=greater, greater_equal=greater_equal, logical_and=logical_and,
             logical_or=logical_or, logical_not=logical_not, abs=abs, negative=negative, square=square, sqrt=sqrt,
             rsqrt=rsqrt, exp=exp, log=log, sign=sign, floor=floor, ceil=ceil, reciprocal=reciprocal, sigmoid=sigmoid,
             tanh=tanh, reduce_sum=reduce_sum, reduce_mean=reduce_mean, reduce_max=reduce_max, reduce_min=reduce_min,
             reduce_prod=reduce_prod, argmax=argmax, argmin=argmin, add_n=add_n, softplus=_a.softplus,
             top_k=None)
del _MATH["top_k"]
math = _Namespace("tf.math", "TF's tf.math.", **_MATH)

random = _Namespace("tf.random", "TF's tf.random (v1 names too).", uniform=random_uniform, normal=random_normal,
                    truncated_normal=truncated_normal, set_random_seed=set_random_seed, set_seed=set_random_seed)
tensor_util = _Namespace("tf.tensor_util", "TF's tensor_util.", constant_value=_tensor_util.constant_value,
                         make_ndarray=_tensor_util.make_ndarray, is_tensor=is_tensor)
errors = _Namespace("tf.errors", "TF's error classes (slimir's, which derive from them where TF's do).",
                    OpError=_errors.SlimirError, InvalidArgumentError=_errors.InvalidArgumentError,
                    OutOfRangeError=_errors.OutOfRangeError, NotFoundError=_errors.NotFoundError,
                    FailedPreconditionError=_errors.FailedPreconditionError,
                    DataLossError=_errors.DataLossError, UnknownError=_errors.RuntimeExecutionError)
debugging = _Namespace("tf.debugging", "TF's tf.debugging.", Assert=Assert, check_numerics=check_numerics,
                       is_numeric_tensor=lambda t: isinstance(t, Tensor) and not t.dtype.is_bool)
layers = _Namespace("tf.layers", "TF1's tf.layers: research/slim's nets use slim's layers instead; flatten is here.",
                    flatten=lambda inputs, name=None, data_format="channels_last": __import__(
                        "slimir").flatten(inputs, scope=name))

# ------------------------------------------------------------------------------------------
# tf.compat: v1 is this module; v2 differs where TF2 does (image.resize, shape)


def _shape_v2(input, out_type=int32, name: _Optional[str] = None):
    """TF2's tf.shape(input, out_type, name)."""
    return _a.shape(input, out_type=out_type, name=name)


class _V2(_Namespace):
    """tf.compat.v2: TF2's spellings where they differ, this module's names otherwise."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        mod = _sys.modules[__name__]
        if name in mod.__dict__:
            return mod.__dict__[name]
        raise _not_available(f"tf.compat.v2.{name}", name)


_image_v2 = _Namespace(
    "tf.compat.v2.image", "TF2's tf.image resizing (half-pixel centers; ResizeMethod holds strings).",
    resize=_image.resize_images_v2, ResizeMethod=_image.ResizeMethod)
_v2 = _V2("tf.compat.v2", "TF2's spellings where they differ from TF1's.", image=_image_v2, shape=_shape_v2)
compat = _Namespace("tf.compat", "tf.compat.v1 (this module) and tf.compat.v2.", v2=_v2,
                    dimension_value=dimension_value, dimension_at_index=lambda shape, index: shape[index],
                    as_bytes=lambda s, encoding="utf-8": s.encode(encoding) if isinstance(s, str) else bytes(s),
                    as_text=lambda s, encoding="utf-8": s.decode(encoding) if isinstance(s, bytes) else str(s),
                    as_str=lambda s, encoding="utf-8": s.decode(encoding) if isinstance(s, bytes) else str(s))
compat.v1 = _sys.modules[__name__]
_sys.modules[__name__ + ".compat"] = compat
_sys.modules[__name__ + ".compat.v1"] = compat.v1
_sys.modules[__name__ + ".compat.v2"] = _v2
