"""Random tensors drawn when the graph runs: random_normal, random_uniform, truncated_normal."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..graph import Tensor, get_default_graph, get_seed
from .lowering_utils import onnx_seed
from .registry import OpDef, Spec, apply_op, register


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
        from .core_ops import random_uniform_int

        return random_uniform_int(shape, minval, maxval, dtype, seed=seed, name=name)
    maxval = 1.0 if maxval is None else maxval
    if float(minval) >= float(maxval):
        raise InvalidArgumentError(f"random_uniform: minval {minval} must be < maxval {maxval}")
    return _random("random_uniform", shape, minval, maxval, dtype, seed, name)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=_dt.float32, seed=None, name: Optional[str] = None) -> Tensor:
    return _random("truncated_normal", shape, mean, stddev, dtype, seed, name)
