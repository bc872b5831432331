"""Random ops drawn when the graph runs: random_normal, random_uniform, truncated_normal, and dropout."""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import numpy_helper

from .. import dtypes as _dt
from ..errors import InvalidArgumentError, ShapeError
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
    two = b.const(np.array(2.0, dt.np))
    for i in range(4):
        z2 = b.op("RandomNormalLike", [z], **_seed_attr(a["seed"], i + 1))
        z = b.op("Where", [b.op("Greater", [b.op("Abs", [z]), two]), z2, z])
    z = b.op("Clip", [z, b.const(np.array(-2.0, dt.np)), two])
    return b.op("Add", [b.op("Mul", [z, b.const(np.array(a["b"], dt.np))]), b.const(np.array(a["a"], dt.np))])


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


def random_uniform(shape, minval=0.0, maxval=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    if float(minval) >= float(maxval):
        raise InvalidArgumentError(f"random_uniform: minval {minval} must be < maxval {maxval}")
    return _random("random_uniform", shape, minval, maxval, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    return _random("truncated_normal", shape, mean, stddev, dtype, seed, name)


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
