"""Learning-rate schedules (TF1's exponential_decay, piecewise_constant, polynomial_decay, cosine_decay): graph
tensors computed from the global step with TF1's formulas."""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError
from ..ir.graph import Tensor, get_default_graph
from ..ops import math_ops
from ..ops.array import cast, constant
from .optimizer import _static_value

# ------------------------------------------------------------------------------------------
# Learning-rate schedules (TF1's tf.train.*_decay)


def _schedule_inputs(fn: str, learning_rate, global_step):
    """(learning rate tensor, global step cast to its dtype, dtype) for a schedule."""
    if global_step is None:
        raise InvalidArgumentError(f"global_step is required for {fn}.")
    lr = learning_rate if isinstance(learning_rate, Tensor) else constant(learning_rate, dtype=_dt.float32,
                                                                            name="learning_rate")
    if not lr.dtype.is_floating:
        raise DTypeError(f"{fn}: learning_rate must be floating-point, got {lr.dtype.name}")
    step = global_step if isinstance(global_step, Tensor) else constant(global_step)
    step = step if step.dtype is lr.dtype else cast(step, lr.dtype)
    return lr, step, lr.dtype


def _check_steps(fn: str, decay_steps) -> None:
    v = _static_value(decay_steps)
    if v is not None and not v > 0:
        raise InvalidArgumentError(f"{fn}: decay_steps must be positive, got {decay_steps}")


def _as(value, dtype: _dt.DType, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value if value.dtype is dtype else cast(value, dtype)
    return constant(value, dtype=dtype, name=name)


def _schedule_graph(*values):
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
    return get_default_graph()


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase: bool = False,
                      name: Optional[str] = None) -> Tensor:
    """learning_rate * decay_rate ^ (global_step / decay_steps); the exponent floored when `staircase`."""
    _check_steps("exponential_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "ExponentialDecay"):
        lr, step, dt = _schedule_inputs("exponential_decay", learning_rate, global_step)
        p = step / _as(decay_steps, dt, "decay_steps")
        if staircase:
            p = math_ops.floor(p)
        return math_ops.multiply(lr, math_ops.pow(_as(decay_rate, dt, "decay_rate"), p), name="ExponentialDecay")


def piecewise_constant(x, boundaries, values, name: Optional[str] = None) -> Tensor:
    """values[0] while x <= boundaries[0], values[i] while boundaries[i-1] < x <= boundaries[i], then values[-1]."""
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise InvalidArgumentError("piecewise_constant: the length of boundaries should be 1 less than the length "
                                   f"of values (got {len(boundaries)} boundaries and {len(values)} values)")
    if not values:
        raise InvalidArgumentError("piecewise_constant: values must not be empty")
    statics = [_static_value(b) for b in boundaries]
    known = [b for b in statics if b is not None]
    if any(b > a for a, b in zip(known[1:], known[:-1])):
        raise InvalidArgumentError(f"piecewise_constant: boundaries must be non-decreasing, got {boundaries}")
    g = _schedule_graph(x, *boundaries, *values)
    with g.as_default(), g.name_scope(name or "PiecewiseConstant"):
        xt = x if isinstance(x, Tensor) else constant(x)
        tensor_vals = [v for v in values if isinstance(v, Tensor)]
        if tensor_vals:
            vdt = tensor_vals[0].dtype
        else:
            kinds = {np.asarray(v).dtype.kind for v in values}
            if len(kinds) > 1:
                raise DTypeError(f"piecewise_constant: values must all have the same dtype, got {values}")
            vdt = _python_dtype(values[0])
        vals = []
        for v in values:
            if isinstance(v, Tensor):
                if v.dtype is not vdt:
                    raise DTypeError(f"piecewise_constant: values must all have the same dtype, got {v.name} of "
                                     f"{v.dtype.name} and {vdt.name}")
                vals.append(v)
            else:
                vals.append(constant(v, dtype=vdt))
        bounds = []
        for b in boundaries:
            if isinstance(b, Tensor):
                bounds.append(b if b.dtype is xt.dtype else cast(b, xt.dtype))
            else:
                arr = np.asarray(b)
                if xt.dtype.is_integer and arr.dtype.kind == "f":
                    arr = np.trunc(arr)  # x <= 2.5 and x <= 2 agree for integer x >= 0 (TF casts too)
                bounds.append(constant(arr.astype(xt.dtype.np)))
        out = vals[-1]
        for b, v in zip(reversed(bounds), reversed(vals[:-1])):
            out = math_ops.where(math_ops.less_equal(xt, b), v, out)
        return _identity(out, "PiecewiseConstant")


def _python_dtype(value) -> _dt.DType:
    """The dtype TF gives a Python/numpy value: float32 for Python floats, int32 for Python ints."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _dt.as_dtype(value.dtype)
    kind = np.asarray(value).dtype.kind
    return _dt.float32 if kind == "f" else _dt.int32 if kind in "iu" else _dt.as_dtype(np.asarray(value).dtype)


def _identity(t: Tensor, name: str) -> Tensor:
    from ..ops.array import identity

    return identity(t, name=name)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001, power=1.0,
                     cycle: bool = False, name: Optional[str] = None) -> Tensor:
    """(lr - end) * (1 - min(step, decay_steps) / decay_steps) ^ power + end.

    With `cycle`, decay_steps is instead multiplied by ceil(step / decay_steps) (1 at step 0).
    """
    _check_steps("polynomial_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "PolynomialDecay"):
        lr, step, dt = _schedule_inputs("polynomial_decay", learning_rate, global_step)
        end_lr = _as(end_learning_rate, dt, "end_learning_rate")
        steps = _as(decay_steps, dt, "decay_steps")
        pw = _as(power, dt, "power")
        if cycle:
            mult = math_ops.where(math_ops.equal(step, 0.0), constant(1.0, dtype=dt),
                                  math_ops.ceil(step / steps))
            steps = steps * mult
        else:
            step = math_ops.minimum(step, steps)
        p = step / steps
        return math_ops.add((lr - end_lr) * math_ops.pow(1.0 - p, pw), end_lr, name="PolynomialDecay")


# sin(y) = sum_k (-1)^k y^(2k+1) / (2k+1)!, enough terms for float64 on |y| <= pi/2
_SIN_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(11)]


def _cos_pi(f: Tensor) -> Tensor:
    """cos(pi * f) for f in [0, 1], in float64, from existing ops (slimir has no Cos op):
    cos(pi f) = -sin(y) with y = pi f - pi/2 in [-pi/2, pi/2], a Horner-evaluated Taylor series."""
    f64 = cast(f, _dt.float64)
    y = f64 * math.pi - math.pi / 2
    y2 = y * y
    acc = constant(_SIN_COEFFS[-1], dtype=_dt.float64)
    for c in reversed(_SIN_COEFFS[:-1]):
        acc = acc * y2 + c
    return -(acc * y)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name: Optional[str] = None) -> Tensor:
    """learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)."""
    _check_steps("cosine_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "CosineDecay"):
        lr, step, dt = _schedule_inputs("cosine_decay", learning_rate, global_step)
        steps = _as(decay_steps, dt, "decay_steps")
        fraction = math_ops.minimum(step, steps) / steps
        cosine_decayed = cast(0.5 * (1.0 + _cos_pi(fraction)), dt)
        a = _as(alpha, dt, "alpha")
        decayed = (1.0 - a) * cosine_decayed + a
        return math_ops.multiply(lr, decayed, name="CosineDecay")


