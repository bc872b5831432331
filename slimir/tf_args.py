"""TensorFlow's argument names on slimir's own functions: `slim.pad(tensor=...)`, `slim.shape(input=...)`,
`slim.transpose(a=...)`, `slim.nn.relu(features=...)`, ... next to slimir's names and positional order.

Each wrapper keeps the slimir signature and adds TF's keyword names as aliases; arguments slimir needs while the
graph is built (shapes, paddings, multiples, perms) may also be tensors whose value is known then (see
`slimir.tensor_util.constant_value`, slimir/ops/static.py). `slimir.tf` reuses these wrappers where TF's positional
order is the same.
"""

from __future__ import annotations

import functools
import inspect
from typing import Optional

import numpy as np

from . import dtypes as _dt
from .errors import InvalidArgumentError
from .ir.graph import Tensor
from .ir.registry import apply_op, convert_to_tensor
from .ops import array, array_ops, index, math_ops, nn_ops
from .ops import random as random_ops
from .ops.static import constant_value, static_ints


def tf_aliases(**aliases):
    """Decorator: accept TF's keyword `tf_name=` for the parameter `slim_name` (aliases: tf_name=slim_name)."""

    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for tf_name, slim_name in aliases.items():
                if tf_name in kwargs:
                    if slim_name in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {tf_name}= and {slim_name}= (the same argument)")
                    kwargs[slim_name] = kwargs.pop(tf_name)
            return fn(*args, **kwargs)

        sig = inspect.signature(fn)
        extra = [inspect.Parameter(t, inspect.Parameter.KEYWORD_ONLY, default=None) for t in aliases
                 if t not in sig.parameters]
        params = list(sig.parameters.values())
        var_kw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
        params = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD] + extra + var_kw
        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.tf_aliases = dict(aliases)
        return wrapper

    return deco


def shape_arg(shape, what: str) -> list:
    """A static shape from ints, a scalar (TF's `tf.zeros(5)`), or a tensor known while building."""
    dims = static_ints(shape, what)
    return [int(d) for d in np.asarray(dims, dtype=object).reshape(-1)]


# ------------------------------------------------------------------------------------------
# array ops


@tf_aliases(tensor="x")
def pad(x, paddings, mode: str = "CONSTANT", name: Optional[str] = None, constant_values=0) -> Tensor:
    """TF's tf.pad(tensor, paddings, mode, constant_values); paddings may be a tensor known while building."""
    return array_ops.pad(x, paddings, mode=mode, name=name, constant_values=constant_values)


@tf_aliases(input="x")
def shape(x, out_type=_dt.int32, name: Optional[str] = None) -> Tensor:
    """TF's tf.shape(input, out_type): the run-time shape as a 1-D int tensor."""
    return array_ops.shape(convert_to_tensor(x), out_type=_dt.int32 if out_type is None else out_type, name=name)


@tf_aliases(a="x")
def transpose(x, perm=None, name: Optional[str] = None, conjugate: bool = False) -> Tensor:
    """TF's tf.transpose(a, perm); perm may be a tensor known while building."""
    perm = None if perm is None else static_ints(perm, "transpose: perm")
    return array_ops.transpose(x, perm, name=name)


@tf_aliases(tensor="x")
def reshape(x, shape, name: Optional[str] = None) -> Tensor:
    """TF's tf.reshape(tensor, shape). `shape` may be a list with tensors or a tensor: values known while building
    are used, one unknown entry becomes -1, and `tf.shape(t)` itself means "shaped like t at run time"."""
    x = convert_to_tensor(x)
    if isinstance(shape, Tensor):
        v = constant_value(shape)
        if v is not None:
            return array_ops.reshape(x, [int(d) for d in v.reshape(-1)], name=name)
        if shape.op.type == "shape":
            return apply_op("reshape_like", [x, shape.op.inputs[0]], name=name or "Reshape")
        raise InvalidArgumentError(f"reshape: slimir needs the target shape while building, and {shape.name} is "
                                   "only known at run time")
    dims = [static_ints(d, "reshape: shape", allow_none=True) if isinstance(d, Tensor) else d for d in shape]
    dims = [d[0] if isinstance(d, list) else d for d in dims]
    unknown = [i for i, d in enumerate(dims) if d is None]
    if unknown:
        if len(unknown) > 1 or -1 in dims:
            raise InvalidArgumentError(f"reshape: slimir needs the target shape while building; {len(unknown)} "
                                       f"entries of {shape!r} are only known at run time")
        dims[unknown[0]] = -1
    return array_ops.reshape(x, [int(d) for d in dims], name=name)


@tf_aliases(input="x")
def squeeze(x, axis=None, name: Optional[str] = None, squeeze_dims=None) -> Tensor:
    """TF's tf.squeeze(input, axis)."""
    return array_ops.squeeze(x, axis=axis, name=name, squeeze_dims=squeeze_dims)


@tf_aliases(input="x")
def expand_dims(x, axis=None, name: Optional[str] = None, dim=None) -> Tensor:
    """TF's tf.expand_dims(input, axis) (`dim` is TF1's old name for axis)."""
    if dim is not None:
        if axis is not None:
            raise InvalidArgumentError("expand_dims: give axis or dim, not both")
        axis = dim
    if axis is None:
        raise InvalidArgumentError("expand_dims: axis is required")
    return array_ops.expand_dims(x, static_ints(axis, "expand_dims: axis")[0], name=name)


@tf_aliases(input="x")
def identity(x, name: Optional[str] = None) -> Tensor:
    """TF's tf.identity(input)."""
    return array_ops.identity(x, name=name)


@tf_aliases(input="x")
def stop_gradient(x, name: Optional[str] = None) -> Tensor:
    """TF's tf.stop_gradient(input)."""
    return array_ops.stop_gradient(x, name=name)


@tf_aliases(input="x")
def tile(x, multiples, name: Optional[str] = None) -> Tensor:
    """TF's tf.tile(input, multiples); multiples may be a tensor known while building."""
    return array_ops.tile(x, static_ints(multiples, "tile: multiples"), name=name)


@tf_aliases(input_="x", input="x")
def slice(x, begin, size, name: Optional[str] = None) -> Tensor:  # noqa: A001
    """TF's tf.slice(input_, begin, size); size -1 means to the end."""
    return array_ops.slice_(x, static_ints(begin, "slice: begin"), static_ints(size, "slice: size"), name=name)


@tf_aliases(tensor="x", input="x")
def zeros_like(x, dtype=None, name: Optional[str] = None, optimize: bool = True) -> Tensor:
    """TF's tf.zeros_like(tensor, dtype)."""
    return array_ops.zeros_like(convert_to_tensor(x), dtype=dtype, name=name)


@tf_aliases(tensor="x", input="x")
def ones_like(x, dtype=None, name: Optional[str] = None, optimize: bool = True) -> Tensor:
    """TF's tf.ones_like(tensor, dtype)."""
    return array_ops.ones_like(convert_to_tensor(x), dtype=dtype, name=name)


def zeros(shape, dtype=_dt.float32, name: str = "zeros") -> Tensor:
    """TF's tf.zeros(shape, dtype): shape a list, a scalar (`tf.zeros(3)` is [3]) or a tensor known while building."""
    return array_ops.zeros(shape_arg(shape, "zeros: shape"), dtype=dtype, name=name or "zeros")


def ones(shape, dtype=_dt.float32, name: str = "ones") -> Tensor:
    """TF's tf.ones(shape, dtype): shape a list, a scalar (`tf.ones(3)` is [3]) or a tensor known while building."""
    return array_ops.ones(shape_arg(shape, "ones: shape"), dtype=dtype, name=name or "ones")


def fill(dims, value, name: str = "Fill") -> Tensor:
    """TF's tf.fill(dims, value): the dtype is the value's (Python floats float32, ints int32)."""
    if isinstance(value, Tensor):
        v = constant_value(value)
        if v is None:
            raise InvalidArgumentError(f"fill: value {value.name} must be known while building")
        value = v
    arr = np.asarray(value)
    if arr.dtype == np.float64 and not isinstance(value, np.ndarray):
        arr = arr.astype(np.float32)
    elif arr.dtype == np.int64 and not isinstance(value, np.ndarray):
        arr = arr.astype(np.int32)
    return array_ops.constant(np.full(shape_arg(dims, "fill: dims"), arr), name=name or "Fill")


def run_time_shape(shape):
    """(static dims with None where only known at run time, an int32 shape vector or None when all are static)
    from a list of ints and scalar tensors, or a 1-D int tensor."""
    if isinstance(shape, Tensor):
        v = constant_value(shape)
        if v is not None:
            return [int(d) for d in v.reshape(-1)], None
        if len(shape.shape) != 1 or shape.shape[0] is None:
            raise InvalidArgumentError(f"a shape must be a 1-D int tensor of known length, got {shape.name}")
        return [None] * shape.shape[0], shape
    dims = list(np.asarray(shape).reshape(-1)) if not isinstance(shape, (list, tuple)) else list(shape)
    static = []
    for d in dims:
        r = static_ints(d, "shape", allow_none=True) if isinstance(d, Tensor) else [int(d)]
        static.append(None if r is None else r[0])
    if None not in static:
        return static, None
    parts = []
    for d, v in zip(dims, static):
        if v is None:
            t = array_ops.cast(d, _dt.int32) if d.dtype is not _dt.int32 else d
            parts.append(array_ops.reshape(t, [1]))
        else:
            parts.append(array_ops.constant(np.array([v], np.int32)))
    return static, array_ops.concat(parts, axis=0)


def _random(kind: str, shape, a, b, dtype, seed, name):
    static, dyn = run_time_shape(shape)
    if dyn is None:
        fn = {"uniform": random_ops.random_uniform, "normal": random_ops.random_normal,
              "truncated": random_ops.truncated_normal}[kind]
        return fn(static, a, b, dtype, seed, name)
    if kind == "uniform" and b is None:
        if _dt.as_dtype(dtype).is_integer:
            raise InvalidArgumentError(f"Must specify maxval for integer dtype {_dt.as_dtype(dtype).name}")
        b = 1.0
    return random_ops.random_dynamic(kind, dyn, static, a, b, dtype, seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    """TF's tf.random_uniform; integer dtypes need maxval; shape entries may be tensors (known at run time too)."""
    return _random("uniform", shape, minval, maxval, dtype, seed, name)


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    """TF's tf.random_normal; shape entries may be tensors (known at run time too)."""
    return _random("normal", shape, mean, stddev, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None,
                     name: Optional[str] = None) -> Tensor:
    """TF's tf.truncated_normal; shape entries may be tensors (known at run time too)."""
    return _random("truncated", shape, mean, stddev, dtype, seed, name)


def split(value, num_or_size_splits, axis: int = 0, name: Optional[str] = None, num=None):
    """TF's tf.split(value, num_or_size_splits, axis, num)."""
    if isinstance(num_or_size_splits, Tensor):
        v = static_ints(num_or_size_splits, "split: num_or_size_splits")
        num_or_size_splits = v[0] if len(num_or_size_splits.shape) == 0 else v
    return array_ops.split(value, num_or_size_splits, axis=int(static_ints(axis, "split: axis")[0]), name=name)


def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name: Optional[str] = None):
    """TF's tf.one_hot: on/off default to 1/0 in `dtype` (else the on/off values' dtype, else float32)."""
    if dtype is None:
        for v in (on_value, off_value):
            if v is not None:
                dtype = v.dtype if isinstance(v, Tensor) else _dt.as_dtype(np.asarray(v).dtype)
                if not isinstance(v, (Tensor, np.ndarray, np.generic)):
                    dtype = _dt.float32 if isinstance(v, float) else _dt.int32
                break
    vals = []
    for v, d in ((on_value, 1), (off_value, 0)):
        if isinstance(v, Tensor):
            c = constant_value(v)
            if c is None:
                raise InvalidArgumentError(f"one_hot: {v.name} must be known while building")
            v = c.item()
        vals.append(d if v is None else v)
    return array_ops.one_hot(convert_to_tensor(indices), static_ints(depth, "one_hot: depth")[0], on_value=vals[0],
                             off_value=vals[1], axis=-1 if axis is None else int(axis), dtype=dtype or _dt.float32,
                             name=name)


def where(condition, x=None, y=None, name: Optional[str] = None) -> Tensor:
    """TF's tf.where(condition, x, y): elementwise selection (the one-argument form is not available)."""
    if x is None or y is None:
        raise InvalidArgumentError("where(condition) without x and y (the coordinates of true values, whose number "
                                   "is only known at run time) is not available in slimir; use where(c, x, y)")
    return math_ops.where(condition, x, y, name=name)


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, adjoint_a: bool = False,
           adjoint_b: bool = False, a_is_sparse: bool = False, b_is_sparse: bool = False,
           name: Optional[str] = None) -> Tensor:
    """TF's tf.matmul (adjoint = transpose for real tensors)."""
    return math_ops.matmul(a, b, transpose_a=bool(transpose_a or adjoint_a), transpose_b=bool(transpose_b or adjoint_b),
                           name=name)


# ------------------------------------------------------------------------------------------
# tf.nn names


# the activations take TF's `features=` themselves (ops/elementwise.py), so slim.nn.relu is math_ops.relu
relu, relu6, elu, softplus, softsign = math_ops.relu, math_ops.relu6, math_ops.elu, math_ops.softplus, math_ops.softsign


@tf_aliases(input="value")
def max_pool(value, ksize, strides, padding, data_format: str = "NHWC", name: Optional[str] = None) -> Tensor:
    """TF's tf.nn.max_pool(value, ksize, strides, padding) (`input=` is TF2's name)."""
    return nn_ops.max_pool(value, ksize, strides, padding, data_format=data_format, name=name)


@tf_aliases(input="value")
def avg_pool(value, ksize, strides, padding, data_format: str = "NHWC", name: Optional[str] = None) -> Tensor:
    """TF's tf.nn.avg_pool(value, ksize, strides, padding) (`input=` is TF2's name)."""
    return nn_ops.avg_pool(value, ksize, strides, padding, data_format=data_format, name=name)


size = array.size
rank = array.rank
gather = index.gather
unstack = array.unstack
range = array.range_  # noqa: A001

__all__ = ["avg_pool", "elu", "expand_dims", "fill", "gather", "identity", "matmul", "max_pool", "one_hot", "ones",
           "ones_like", "pad", "random_normal", "random_uniform", "range", "rank", "relu", "relu6", "reshape", "shape",
           "size", "slice", "softplus", "softsign", "split", "squeeze", "stop_gradient", "tile", "transpose",
           "truncated_normal", "unstack", "where", "zeros", "zeros_like"]
