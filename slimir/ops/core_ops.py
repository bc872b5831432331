"""TF-core ops that TF-Slim model code and tests mix in: range, size, gather, integer random_uniform, Assert and
Variable.count_up_to (an increment guarded by an Assert that raises OutOfRangeError), stack/unstack.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, OutOfRangeError, ShapeError
from ..graph import Node, Tensor, get_default_graph, get_seed, name_scope
from ..shape import fmt
from .lowering_utils import i64, onnx_seed
from .registry import OpDef, Spec, apply_op, convert_to_tensor, normalize_axis, numel1, register

_DOUBLE = 11  # ONNX TensorProto.DOUBLE

# ------------------------------------------------------------------------------------------
# range


_RANGE_TYPES = (_dt.int32, _dt.int64, _dt.float32, _dt.float64)


def range_length(start, limit, delta, dtype: _dt.DType) -> int:
    """TF's Range size: ceil(|limit - start| / |delta|), after TF's argument checks."""
    if delta == 0:
        raise InvalidArgumentError(f"Requires delta != 0: {delta}")
    if delta > 0 and start > limit:
        raise InvalidArgumentError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise InvalidArgumentError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if dtype.is_integer:
        return int((abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta)))
    t = dtype.np.type
    return int(np.ceil(np.abs((t(limit) - t(start)) / t(delta))))


def _range_shape(specs, length):
    for s in specs:
        if len(s.shape) != 0:
            raise ShapeError(f"start, limit and delta must be scalars, got {fmt(s.shape)}")
    dt = specs[0].dtype
    if any(s.dtype is not dt for s in specs) or dt not in _RANGE_TYPES:
        raise DTypeError(f"start, limit and delta must share one of int32/int64/float32/float64, got "
                         f"{[s.dtype.name for s in specs]}")
    return [Spec((length,), dt)]


def _range_ref(start, limit, delta, length):
    dt = start.dtype
    n = range_length(start.item(), limit.item(), delta.item(), _dt.as_dtype(dt))
    return (start + np.arange(n).astype(dt) * delta).astype(dt)


register(OpDef("range", _range_shape, lambda b, node, s, lim, d: b.op("Range", [s, lim, d]), _range_ref,
               default_name="range", differentiable=False))


def _scalar_dtype(v) -> _dt.DType:
    if isinstance(v, Tensor):
        return v.dtype
    if isinstance(v, (bool, np.bool_)):
        raise DTypeError(f"range: a bool is not a number: {v!r}")
    if isinstance(v, np.generic):
        return _dt.as_dtype(v.dtype)
    if isinstance(v, int):
        return _dt.int32
    return _dt.float32


def range_(start, limit=None, delta=1, dtype=None, name: str = "range") -> Tensor:
    """TF's tf.range(start, limit, delta, dtype): [start, limit) by delta; range(n) counts from 0. The dtype
    is the widest of the arguments' (Python ints are int32, floats float32) unless given."""
    from .array_ops import cast, constant
    from ..tensor_util import constant_value

    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    if dtype is not None:
        dt = _dt.as_dtype(dtype)
        if dt not in _RANGE_TYPES:
            raise DTypeError(f"range: dtype must be int32, int64, float32 or float64, got {dt.name}")
    else:
        dt = max((_scalar_dtype(a) for a in args), key=_RANGE_TYPES.index)
    with name_scope(name, "Range") as scope:
        ts = []
        for a, nm in zip(args, ("start", "limit", "delta")):
            if isinstance(a, Tensor):
                ts.append(a if a.dtype is dt else cast(a, dt))
            else:
                if dt.is_integer and float(a) != int(a):
                    raise DTypeError(f"range: {nm}={a!r} is not an integer but the dtype is {dt.name}")
                ts.append(constant(np.array(a).astype(dt.np), name=nm))
        vals = [constant_value(t) for t in ts]
        length = None if any(v is None for v in vals) else range_length(*(v.item() for v in vals), dt)
        return apply_op("range", ts, name=scope or "range/", length=length)


# ------------------------------------------------------------------------------------------
# size / rank


def size(input, name: Optional[str] = None, out_type=_dt.int32) -> Tensor:
    """TF's tf.size: the number of elements, as an `out_type` scalar."""
    return apply_op("num_elements", [convert_to_tensor(input)], name=name or "Size", axes=None,
                    dtype=_dt.as_dtype(out_type))


def rank(input, name: Optional[str] = None) -> Tensor:
    """TF's tf.rank: slimir tensors always have a static rank, so this is an int32 constant."""
    from .array_ops import constant

    return constant(np.int32(len(convert_to_tensor(input).shape)), name=name or "Rank")


# ------------------------------------------------------------------------------------------
# random integers: random_uniform(shape, minval, maxval, dtype=int32/int64)


def _randint_shape(specs, shape, dtype, minval, maxval, seed):
    if not dtype.is_integer:
        raise DTypeError(f"random integers need an integer dtype, got {dtype.name}")
    return [Spec(shape, dtype)]


def _randint_lower(b, node):
    """minval + floor(u * (maxval - minval)) with u ~ U[0, 1) in float64, exact below 2**53."""
    a = node.attrs
    u = b.op("RandomUniform", [], shape=list(a["shape"]), low=0.0, high=1.0, dtype=_DOUBLE, **onnx_seed(a["seed"]))
    span = float(a["maxval"] - a["minval"])
    k = b.op("Floor", [b.op("Mul", [u, b.const(np.array(span))])])
    k = b.op("Min", [k, b.const(np.array(span - 1.0))])
    k = b.op("Add", [k, b.const(np.array(float(a["minval"])))])
    return b.op("Cast", [k], to=a["dtype"].onnx)


register(OpDef("random_uniform_int", _randint_shape, _randint_lower,
               lambda shape, dtype, minval, maxval, seed: np.random.default_rng(seed).integers(
                   minval, maxval, shape).astype(dtype.np),
               default_name="random_uniform", stateful=True, differentiable=False))


def random_uniform_int(shape, minval, maxval, dtype, seed=None, name: Optional[str] = None) -> Tensor:
    """Integers uniform in [minval, maxval), drawn when the graph runs (TF's random_uniform, integer dtype)."""
    dtype = _dt.as_dtype(dtype)
    if maxval is None:
        raise InvalidArgumentError(f"Must specify maxval for integer dtype {dtype.name}")
    lo, hi = int(minval), int(maxval)
    if lo >= hi:
        raise InvalidArgumentError(f"Need minval < maxval: {lo} >= {hi}")
    if hi - lo > 2**53:
        raise InvalidArgumentError(f"random_uniform: slimir draws integers over ranges up to 2**53, got [{lo}, {hi})")
    shape = tuple(int(d) for d in shape)
    key = get_default_graph().unique_name(name or "random_uniform", mark_as_used=False)
    return apply_op("random_uniform_int", [], name=name or "random_uniform", shape=shape, dtype=dtype, minval=lo,
                    maxval=hi, seed=get_seed(seed, key))


# ------------------------------------------------------------------------------------------
# random values of a shape known only at run time (nasnet's drop_path: [tf.shape(x)[0], 1, 1, 1])


def _rand_dyn_shape(specs, kind, dtype, a, b, seed, static):
    s = specs[0]
    if not s.dtype.is_integer or len(s.shape) != 1 or s.shape[0] != len(static):
        raise ShapeError(f"the shape of random values must be an int vector of {len(static)} entries, got "
                         f"{s.dtype.name} {fmt(s.shape)}")
    if not dtype.is_floating:
        raise InvalidArgumentError(f"random values of a run-time shape need a floating dtype, got {dtype.name}")
    return [Spec(static, dtype)]


def _rand_dyn_lower(b, node, shape):
    from .random_ops import _truncated_like

    a = node.attrs
    dt = a["dtype"]
    base = b.op("ConstantOfShape", [b.op("Cast", [shape], to=_dt.int64.onnx)], value=_onnx_zero(dt))
    if a["kind"] == "uniform":
        return b.op("RandomUniformLike", [base], low=float(a["a"]), high=float(a["b"]), **onnx_seed(a["seed"]))
    if a["kind"] == "normal":
        return b.op("RandomNormalLike", [base], mean=float(a["a"]), scale=float(a["b"]), **onnx_seed(a["seed"]))
    return _truncated_like(b, base, dt, a["a"], a["b"], a["seed"])


def _rand_dyn_ref(shape, kind, dtype, a, b, seed, static):
    from .random_ops import truncated_normal_np

    rng = np.random.default_rng(seed)
    shp = tuple(int(d) for d in shape)
    if kind == "uniform":
        return rng.uniform(a, b, shp).astype(dtype.np)
    if kind == "normal":
        return rng.normal(a, b, shp).astype(dtype.np)
    return truncated_normal_np(rng, shp, a, b, dtype.np)


register(OpDef("random_dynamic", _rand_dyn_shape, _rand_dyn_lower, _rand_dyn_ref, default_name="random",
               stateful=True, differentiable=False))


def random_dynamic(kind: str, shape: Tensor, static, a: float, b: float, dtype=_dt.float32, seed=None,
                   name: Optional[str] = None) -> Tensor:
    """Random values (kind 'uniform' [a, b), 'normal' or 'truncated' with mean a, stddev b) of the run-time shape
    held by the int vector `shape`; `static` gives the entries known while building (None elsewhere)."""
    dtype = _dt.as_dtype(dtype)
    default = {"uniform": "random_uniform", "normal": "random_normal", "truncated": "truncated_normal"}[kind]
    if kind == "uniform" and float(a) >= float(b):
        raise InvalidArgumentError(f"random_uniform: minval {a} must be < maxval {b}")
    key = get_default_graph().unique_name(name or default, mark_as_used=False)
    return apply_op("random_dynamic", [shape], name=name or default, kind=kind, dtype=dtype, a=float(a), b=float(b),
                    seed=get_seed(seed, key), static=tuple(static))


# ------------------------------------------------------------------------------------------
# Assert: the Session raises (before any variable is written) when the condition is false


_ERRORS = {"InvalidArgumentError": InvalidArgumentError, "OutOfRangeError": OutOfRangeError}


def _assert_shape(specs, message, summarize, error):
    c = specs[0]
    if not c.dtype.is_bool:
        raise ShapeError(f"Assert needs a bool condition, got {c.dtype.name} {fmt(c.shape)}")
    if error not in _ERRORS:
        raise InvalidArgumentError(f"Assert: unknown error class {error!r}")
    return list(specs)


def assert_failure(node: Node, values) -> Optional[Exception]:
    """The error a run of the assert `node` raises, given its output values (condition first: every element
    must hold), else None."""
    if bool(np.all(values[0])):
        return None
    n = node.attrs["summarize"]
    parts = []
    for v in values[1:]:
        flat = np.asarray(v).reshape(-1)
        parts.append("[" + " ".join(str(x) for x in flat[:n]) + ("..." if flat.size > n else "") + "]")
    msg = node.attrs["message"] or f"assertion failed: {node.name}"
    return _ERRORS[node.attrs["error"]](" ".join([msg] + parts))


def _assert_ref(*values, message, summarize, error):
    # the reference interpreter has no node: rebuild the message from the attributes
    class _N:
        name = "Assert"
        attrs = {"message": message, "summarize": summarize, "error": error}

    err = assert_failure(_N, values)
    if err is not None:
        raise err
    return values if len(values) > 1 else values[0]


register(OpDef("assert", _assert_shape, lambda b, node, *xs: [b.op("Identity", [x]) for x in xs], _assert_ref,
               default_name="Assert", stateful=True, differentiable=False, extra={"check": assert_failure}))


def make_assert(condition, data=(), summarize: Optional[int] = None, name: Optional[str] = None,
                error: str = "InvalidArgumentError", message: str = "") -> Node:
    """An op that makes the run fail with `error` when `condition` is false (TF's tf.Assert); strings in
    `data` join the message, tensors are printed after it. Returns the op (use it in control_dependencies)."""
    texts = [message] if message else []
    tensors = []
    for d in data or ():
        if isinstance(d, (str, bytes)):
            texts.append(d.decode() if isinstance(d, bytes) else d)
        else:
            tensors.append(convert_to_tensor(d))
    cond = convert_to_tensor(condition)
    if cond.dtype is not _dt.bool_:
        raise DTypeError(f"Assert: the condition must be bool, got {cond.dtype.name}")
    out = apply_op("assert", [cond] + tensors, name=name or "Assert", message=" ".join(texts),
                   summarize=3 if summarize is None else int(summarize), error=error)
    return (out[0] if isinstance(out, tuple) else out).op


# ------------------------------------------------------------------------------------------
# Variable.count_up_to


def count_up_to(ref, limit: int, name: Optional[str] = None) -> Tensor:
    """The value of the integer variable `ref` before this run, which increments it; a run that finds it at
    `limit` or beyond raises OutOfRangeError and changes nothing (TF's count_up_to)."""
    from ..graph import Variable, control_dependencies
    from .array_ops import cast, identity
    from .state_ops import assign

    if not isinstance(ref, Variable):
        raise DTypeError(f"count_up_to needs a variable, got {getattr(ref, 'name', ref)!r}")
    if not ref.dtype.is_integer or len(ref.shape) != 0:
        raise DTypeError(f"count_up_to needs a scalar int32/int64 variable, got {ref.dtype.name} {fmt(ref.shape)}")
    with name_scope(name, "CountUpTo"):
        below = ref < cast(convert_to_tensor(np.array(int(limit), ref.dtype.np)), ref.dtype)
        check = make_assert(below, name="Assert", error="OutOfRangeError", message=f"Reached limit of {int(limit)}")
        with control_dependencies([check]):
            inc = assign(ref, ref + np.array(1, ref.dtype.np))
        with control_dependencies([inc.op]):
            return identity(ref, name="CountUpTo")


# ------------------------------------------------------------------------------------------
# gather


def _gather_shape(specs, axis):
    p, i = specs
    if not i.dtype.is_integer:
        raise DTypeError(f"gather: indices must be integers, got {i.dtype.name}")
    ax = normalize_axis(axis, len(p.shape))
    return [Spec(tuple(p.shape[:ax]) + tuple(i.shape) + tuple(p.shape[ax + 1:]), p.dtype)]


def _gather_lower(b, node, p, i):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    return b.op("Gather", [p, i], axis=ax)


def _gather_ref(p, i, axis):
    return np.take(p, i, axis=axis)


def _gather_vjp(node, grads):
    p, i = node.inputs
    return [apply_op("gather_grad", [grads[0], i, p], axis=node.attrs["axis"]), None]


register(OpDef("gather", _gather_shape, _gather_lower, _gather_ref, default_name="GatherV2", vjp=_gather_vjp,
               flops=lambda node: 0))


def _gather_grad_shape(specs, axis):
    return [Spec(tuple(specs[2].shape), specs[0].dtype)]


def _gather_grad_lower(b, node, g, i, p):
    """ScatterND(add) of g into zeros shaped like params, the gathered axis moved to the front."""
    if b.opset < 16:
        raise InvalidArgumentError(f"{node.name}: the gradient of gather needs ONNX opset >= 16 (ScatterND add)")
    r = len(node.inputs[2].shape)
    ax = normalize_axis(node.attrs["axis"], r)
    ri = len(node.inputs[1].shape)
    perm = [ax] + [d for d in range(r) if d != ax]
    pt = b.op("Transpose", [p], perm=perm) if ax else p
    zeros = b.op("ConstantOfShape", [b.op("Shape", [pt])],
                 value=_onnx_zero(node.outputs[0].dtype))
    # g is pre + idx + post; bring idx to the front: [idx..., pre..., post...]
    gperm = list(range(ax, ax + ri)) + list(range(ax)) + list(range(ax + ri, r - 1 + ri))
    gt = b.op("Transpose", [g], perm=gperm) if gperm != list(range(len(gperm))) else g
    idx = b.op("Unsqueeze", [b.op("Cast", [i], to=_dt.int64.onnx), b.const(i64([ri]))])
    out = b.op("ScatterND", [zeros, idx, gt], reduction="add")
    if not ax:
        return out
    inv = [0] * r
    for k, d in enumerate(perm):
        inv[d] = k
    return b.op("Transpose", [out], perm=inv)


def _onnx_zero(dtype):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(1, dtype.np))


def _gather_grad_ref(g, i, p, axis):
    ax = normalize_axis(axis, p.ndim)
    out = np.zeros(p.shape, g.dtype)
    moved = np.moveaxis(out, ax, 0)
    ri = np.ndim(i)
    gm = np.moveaxis(g, list(range(ax, ax + ri)), list(range(ri)))
    np.add.at(moved, np.asarray(i), gm)
    return out


register(OpDef("gather_grad", _gather_grad_shape, _gather_grad_lower, _gather_grad_ref, default_name="GatherGrad",
               differentiable=False, flops=lambda node: numel1(node.inputs[0].shape)))


def gather(params, indices, validate_indices=None, name: Optional[str] = None, axis=None, batch_dims: int = 0):
    """TF's tf.gather(params, indices, axis): slices of `params` along `axis` at `indices`."""
    if batch_dims:
        raise InvalidArgumentError("gather: batch_dims != 0 is not available in slimir")
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices)
    return apply_op("gather", [params, indices], name=name, axis=0 if axis is None else int(axis))


# ------------------------------------------------------------------------------------------
# stack / unstack (TF's tf.stack, not slim.stack the layer repeater)


def stack(values, axis: int = 0, name: str = "stack") -> Tensor:
    """TF's tf.stack: pack tensors of one shape along a new `axis`."""
    from .array_ops import concat, expand_dims

    if not len(values):
        raise InvalidArgumentError("stack needs at least one value")
    vals = [_packed(v) for v in values]
    r = len(vals[0].shape)
    ax = axis if axis >= 0 else axis + r + 1
    if not 0 <= ax <= r:
        raise ShapeError(f"stack: axis {axis} out of range for values of rank {r}")
    with name_scope(name, "stack") as scope:
        parts = [expand_dims(v, ax) for v in vals]
        return concat(parts, axis=ax, name=scope or "stack/")


def _packed(v) -> Tensor:
    """A value as a tensor; nested lists holding tensors are stacked (TF's auto-packing of [[0, t], ...])."""
    if isinstance(v, (list, tuple)) and any(isinstance(e, Tensor) or isinstance(e, (list, tuple)) for e in v):
        if any(isinstance(e, Tensor) for e in _flat(v)):
            return stack(list(v), axis=0, name="packed")
    return convert_to_tensor(v)


def _flat(v):
    for e in v:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def unstack(value, num: Optional[int] = None, axis: int = 0, name: str = "unstack") -> list:
    """TF's tf.unstack: the slices of `value` along `axis`, that axis removed."""
    from .array_ops import split, squeeze

    value = convert_to_tensor(value)
    ax = normalize_axis(axis, len(value.shape))
    n = value.shape[ax] if num is None else int(num)
    if n is None:
        raise ShapeError(f"Cannot infer num from shape {fmt(value.shape)}")
    with name_scope(name, "unstack"):
        parts = split(value, n, axis=ax) if n > 1 else [value]
        return [squeeze(p, [ax]) for p in parts]


__all__ = ["count_up_to", "gather", "make_assert", "random_uniform_int", "range_", "rank", "size", "stack",
           "unstack"]
