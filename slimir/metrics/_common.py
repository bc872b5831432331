"""Helpers shared by the metric modules: accumulator variables, casts, weights, the run-time checks."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import (
    GraphKeys,
    Tensor,
    add_to_collections,
)
from ..ir.registry import apply_op, convert_to_tensor
from ..ops import array_ops, math_ops
from ..ops import state as state_ops
from ..shape import Shape, compatible, fmt
from ..variables import Variable_

_F32 = _dt.float32
_F64 = _dt.float64
_EPSILON = 1e-7  # TF-Slim's _EPSILON / TF's kepsilon



# ------------------------------------------------------------------------------------------
# Helpers


def _t(x, dtype=None) -> Tensor:
    """A tensor from a tensor, a Python value or a numpy array (Python floats become float32)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) and x.dtype == np.float64 and dtype is None:
        return array_ops.constant(x.astype(np.float32))
    return convert_to_tensor(x, dtype=dtype)


def _cast(x, dtype) -> Tensor:
    x = _t(x)
    dtype = _dt.as_dtype(dtype)
    return x if x.dtype is dtype else array_ops.cast(x, dtype)


def _to_float(x) -> Tensor:
    """`x` as float32 unless it is already floating."""
    x = _t(x)
    return x if x.dtype.is_floating else array_ops.cast(x, _F32)


def _metric_variable(shape, dtype, name: str):
    """A zero-initialised, non-trainable variable in LOCAL_VARIABLES and METRIC_VARIABLES."""
    dtype = _dt.as_dtype(dtype)
    shape = Shape(shape)
    if not shape.is_fully_defined():
        raise ShapeError(f"metric variable {name}: slimir needs a static shape, got {fmt(shape)}")
    return Variable_(np.zeros(tuple(shape), dtype.np), trainable=False, dtype=dtype, name=name,
                     collections=[GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES])


def _add_to_collections(collections, value) -> None:
    if collections:
        if not isinstance(collections, (list, tuple, set, str)):
            raise InvalidArgumentError(f"collections must be a list or a tuple of names, got {collections!r}")
        add_to_collections(collections, value)


def _numel(x: Tensor) -> Tensor:
    """The number of elements of `x` as a float32 scalar (a constant when the shape is static)."""
    n = x.shape.num_elements()
    if n is not None:
        return array_ops.constant(np.float32(n))
    return apply_op("num_elements", [x], axes=None, dtype=_F32)


def _div_no_nan(x: Tensor, y: Tensor, name: Optional[str] = None) -> Tensor:
    """x / y, and 0 where y == 0 (TF's div_no_nan)."""
    nz = math_ops.not_equal(y, 0)
    return math_ops.where(nz, x / math_ops.where(nz, y, 1), 0, name=name)


def _safe_div(x: Tensor, y: Tensor, name: Optional[str] = None) -> Tensor:
    """x / y where y > 0, else 0 (TF's div_no_nan(x, maximum(y, 0)))."""
    pos = math_ops.greater(y, 0)
    return math_ops.where(pos, x / math_ops.where(pos, y, 1), 0, name=name)


def _any(b: Tensor, axis=None) -> Tensor:
    return math_ops.greater(math_ops.reduce_max(array_ops.cast(b, _F32), axis=axis), 0.0)


def _runtime_check(bad: Tensor, message: str):
    """A node that makes the Session raise InvalidArgumentError (before writing any variable) when the
    scalar `bad` is true (TF's assert ops)."""
    return state_ops.assert_all(math_ops.logical_not(bad), message)


def _check_compatible(a: Tensor, b: Tensor, what: str) -> None:
    if len(a.shape) != len(b.shape) or not compatible(a.shape, b.shape):
        raise ShapeError(f"{what}: shapes {fmt(a.shape)} and {fmt(b.shape)} are incompatible")


def _remove_squeezable_dimensions(predictions, labels, weights):
    """TF's rule: squeeze a trailing 1 from predictions or labels when their ranks differ by one, then
    squeeze or expand the last dimension of weights to match the predictions' rank (scalars stay)."""
    predictions = _t(predictions)
    if labels is not None:
        labels = _t(labels)
        rp, rl = len(predictions.shape), len(labels.shape)
        if rp - rl == 1 and predictions.shape[-1] == 1:
            predictions = array_ops.squeeze(predictions, [-1])
        elif rl - rp == 1 and labels.shape[-1] == 1:
            labels = array_ops.squeeze(labels, [-1])
        _check_compatible(predictions, labels, "predictions and labels")
    if weights is None:
        return predictions, labels, None
    weights = _t(weights)
    rw, rp = len(weights.shape), len(predictions.shape)
    if rw == 0:
        return predictions, labels, weights
    if rw - rp == 1:
        if weights.shape[-1] not in (1, None):
            raise ShapeError(f"weights of shape {fmt(weights.shape)} do not fit predictions of shape "
                             f"{fmt(predictions.shape)}")
        weights = array_ops.squeeze(weights, [-1])
    elif rp - rw == 1:
        weights = array_ops.expand_dims(weights, -1)
    return predictions, labels, weights


def _check_broadcastable(weights: Tensor, values: Tensor) -> None:
    ws, vs = weights.shape, values.shape
    if len(ws) == 0:
        return
    if len(ws) != len(vs):
        raise ShapeError(f"weights can not be broadcast to values: weights of rank {len(ws)} {fmt(ws)}, values "
                         f"of rank {len(vs)} {fmt(vs)} (weights must be a scalar or have the values' rank)")
    for w, v in zip(ws, vs):
        if w is not None and w != 1 and v is not None and w != v:
            raise ShapeError(f"weights can not be broadcast to values: weights {fmt(ws)}, values {fmt(vs)}")


def _broadcast_weights(weights: Tensor, values: Tensor) -> Tensor:
    """`weights` broadcast to the shape of `values` (TF's weights_broadcast_ops.broadcast_weights)."""
    _check_broadcastable(weights, values)
    if weights.shape == values.shape and weights.shape.is_fully_defined():
        return weights
    return apply_op("broadcast_like", [weights, values])


def _const(value, dtype) -> Tensor:
    return array_ops.constant(np.asarray(value, _dt.as_dtype(dtype).np))


def _sum64(x: Tensor, axis=None) -> Tensor:
    """reduce_sum of `x` in float64: a batch's sum joins float64 accumulators without a float32 rounding."""
    return math_ops.reduce_sum(_cast(x, _F64), axis=axis)
