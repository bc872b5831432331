"""Random ops drawn when the graph runs: random_normal, random_uniform, truncated_normal, integer random_uniform,
random values of a shape known only at run time, and dropout."""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import numpy_helper

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import Tensor, get_default_graph, get_seed
from ..ir.registry import OpDef, Spec, apply_op, expect_float, register
from ..shape import fmt
from .lowering_utils import i64, onnx_seed


def _rand_shape(specs, shape, dtype, a, b, seed):
    if not dtype.is_floating:
        raise InvalidArgumentError(f"random values need a floating dtype, got {dtype.name}")
    return [Spec(shape, dtype)]


def _seed_attr(seed, salt: int = 0):
    return onnx_seed(seed, salt)


def _normal_lower(b, node):
    a = node.attrs
    return b.op("RandomNormal", [], shape=list(a["shape"]), mean=float(a["a"]), scale=float(a["b"]),
                dtype=a["dtype"].onnx, **_seed_attr(a["seed"]))


def _uniform_lower(b, node):
    a = node.attrs
    return b.op("RandomUniform", [], shape=list(a["shape"]), low=float(a["a"]), high=float(a["b"]),
                dtype=a["dtype"].onnx, **_seed_attr(a["seed"]))


def _truncated_lower(b, node):
    """Standard normals redrawn where |z| > 2 (four rounds), then clipped: TF's truncated normal."""
    a = node.attrs
    dt = a["dtype"]
    z = b.op("RandomNormal", [], shape=list(a["shape"]), dtype=dt.onnx, **_seed_attr(a["seed"]))
    return _truncate(b, z, dt, a["a"], a["b"], a["seed"])


def _truncate(b, z, dt, mean, stddev, seed):
    two = b.const(np.array(2.0, dt.np))
    for i in range(4):
        z2 = b.op("RandomNormalLike", [z], **_seed_attr(seed, i + 1))
        z = b.op("Where", [b.op("Greater", [b.op("Abs", [z]), two]), z2, z])
    z = b.op("Clip", [z, b.const(np.array(-2.0, dt.np)), two])
    return b.op("Add", [b.op("Mul", [z, b.const(np.array(stddev, dt.np))]), b.const(np.array(mean, dt.np))])


def _truncated_like(b, like, dt, mean, stddev, seed):
    """The truncated normal of the shape of `like` (run-time shapes)."""
    return _truncate(b, b.op("RandomNormalLike", [like], **_seed_attr(seed)), dt, mean, stddev, seed)


def truncated_normal_np(rng: np.random.Generator, shape, mean=0.0, stddev=1.0, dtype=np.float32) -> np.ndarray:
    """Normal values with those beyond two standard deviations redrawn (TF's truncated_normal)."""
    z = rng.standard_normal(shape)
    bad = np.abs(z) > 2
    while bad.any():
        z[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2
    return (z * stddev + mean).astype(dtype)


register(OpDef("random_normal", _rand_shape, _normal_lower,
               lambda shape, dtype, a, b, seed: np.random.default_rng(seed).normal(a, b, shape).astype(dtype.np),
               default_name="random_normal", stateful=True, differentiable=False))
register(OpDef("random_uniform", _rand_shape, _uniform_lower,
               lambda shape, dtype, a, b, seed: np.random.default_rng(seed).uniform(a, b, shape).astype(dtype.np),
               default_name="random_uniform", stateful=True, differentiable=False))
register(OpDef("truncated_normal", _rand_shape, _truncated_lower,
               lambda shape, dtype, a, b, seed: truncated_normal_np(np.random.default_rng(seed), shape, a, b, dtype.np),
               default_name="truncated_normal", stateful=True, differentiable=False))


def _random(op_name, shape, a, b, dtype, seed, name):
    shape = tuple(int(d) for d in shape)
    dtype = _dt.as_dtype(dtype)
    key = get_default_graph().unique_name(name or op_name, mark_as_used=False)
    return apply_op(op_name, [], name=name, shape=shape, dtype=dtype, a=float(a), b=float(b),
                    seed=get_seed(seed, key))


def random_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    return _random("random_normal", shape, mean, stddev, dtype, seed, name)


def random_uniform(shape, minval=0, maxval=None, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    """Uniform values in [minval, maxval) (maxval defaults to 1 for floats; integer dtypes need it, as in TF)."""
    if _dt.as_dtype(dtype).is_integer:
        return random_uniform_int(shape, minval, maxval, dtype, seed=seed, name=name)
    maxval = 1.0 if maxval is None else maxval
    if float(minval) >= float(maxval):
        raise InvalidArgumentError(f"random_uniform: minval {minval} must be < maxval {maxval}")
    return _random("random_uniform", shape, minval, maxval, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    return _random("truncated_normal", shape, mean, stddev, dtype, seed, name)


# ------------------------------------------------------------------------------------------
# random integers: random_uniform(shape, minval, maxval, dtype=int32/int64)

_DOUBLE = 11  # ONNX TensorProto.DOUBLE


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
    a = node.attrs
    dt = a["dtype"]
    base = b.op("ConstantOfShape", [b.op("Cast", [shape], to=_dt.int64.onnx)],
                value=numpy_helper.from_array(np.zeros(1, dt.np)))
    if a["kind"] == "uniform":
        return b.op("RandomUniformLike", [base], low=float(a["a"]), high=float(a["b"]), **onnx_seed(a["seed"]))
    if a["kind"] == "normal":
        return b.op("RandomNormalLike", [base], mean=float(a["a"]), scale=float(a["b"]), **onnx_seed(a["seed"]))
    return _truncated_like(b, base, dt, a["a"], a["b"], a["seed"])


def _rand_dyn_ref(shape, kind, dtype, a, b, seed, static):
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
# Dropout: y, mask = dropout(x); keep when uniform >= rate, scale by 1/(1-rate) (TF semantics)


def _dropout_shape(specs, rate, seed, noise_shape):
    expect_float(specs[0])
    if not 0 <= rate < 1:
        raise InvalidArgumentError(f"dropout rate must be in [0, 1), got {rate}")
    x = specs[0]
    ns = noise_shape if noise_shape is not None else x.shape
    if len(ns) != len(x.shape):
        raise ShapeError(f"noise_shape {list(ns)} does not have the rank of the input {fmt(x.shape)}")
    mshape = tuple(n if n is not None else None for n in ns)
    return [x, Spec(mshape, x.dtype)]


def _dropout_lower(b, node, x):
    a = node.attrs
    dt = node.inputs[0].dtype
    ns = a["noise_shape"]
    seed = onnx_seed(a["seed"])
    if ns is None:
        u = b.op("RandomUniformLike", [x], dtype=dt.onnx, **seed)
    else:
        xs = b.op("Shape", [x])
        parts = []
        for i, d in enumerate(ns):
            if d is None:
                parts.append(b.op("Slice", [xs, b.const(i64([i])), b.const(i64([i + 1]))]))
            else:
                parts.append(b.const(i64([d])))
        shp = b.op("Concat", parts, axis=0)
        zeros = b.op("ConstantOfShape", [shp], value=numpy_helper.from_array(np.zeros(1, dt.np)))
        u = b.op("RandomUniformLike", [zeros], dtype=dt.onnx, **seed)
    keep = b.op("Cast", [b.op("GreaterOrEqual", [u, b.const(np.array(a["rate"], dt.np))])], to=dt.onnx)
    mask = b.op("Mul", [keep, b.const(np.array(1.0 / (1.0 - a["rate"]), dt.np))])
    return [b.op("Mul", [x, mask]), mask]


def _dropout_ref(x, rate, seed, noise_shape):
    rng = np.random.default_rng(seed)
    ns = x.shape if noise_shape is None else tuple(d if d is not None else x.shape[i]
                                                   for i, d in enumerate(noise_shape))
    mask = (rng.random(ns) >= rate).astype(x.dtype) / np.asarray(1.0 - rate, x.dtype)
    return (x * mask).astype(x.dtype), np.broadcast_to(mask, ns).astype(x.dtype)


def _dropout_vjp(node, grads):
    return [apply_op("mul", [grads[0], node.outputs[1]])]


register(OpDef("dropout", _dropout_shape, _dropout_lower, _dropout_ref, default_name="dropout",
               stateful=True, vjp=_dropout_vjp))


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name: Optional[str] = None, rate=None):
    """TF's tf.nn.dropout: keeps each value with probability 1-rate and scales it by 1/(1-rate)."""
    if rate is None:
        if keep_prob is None:
            raise InvalidArgumentError("dropout needs rate or keep_prob")
        rate = 1.0 - float(keep_prob)
    if float(rate) == 0.0:
        return apply_op("identity", [x], name=name or "dropout")
    key = get_default_graph().unique_name(name or "dropout", mark_as_used=False)
    out = apply_op("dropout", [x], name=name, rate=float(rate), seed=get_seed(seed, key),
                   noise_shape=None if noise_shape is None else tuple(noise_shape))
    return out[0]
