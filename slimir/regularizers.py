"""Weight regularizers (TF-Slim's regularizers.py): functions `weights -> scalar loss tensor`."""

from __future__ import annotations

import numbers
from typing import Callable, Optional

from .errors import InvalidArgumentError, ShapeError
from .ir.graph import GraphKeys, add_to_collection, get_collection, name_scope
from .ops import math_ops
from .ops.array_ops import constant


def _check_scale(scale) -> bool:
    """Validate a scale as TF-Slim does; False means 'scale 0: no regularizer'."""
    if isinstance(scale, numbers.Integral):
        raise InvalidArgumentError(f"scale cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise InvalidArgumentError(f"Setting a scale less than 0 on a regularizer: {scale}")
        if scale == 0.0:
            return False
    return True


def l1_regularizer(scale: float, scope: Optional[str] = None) -> Callable:
    """Returns `weights -> scale * sum(|weights|)`."""
    if not _check_scale(scale):
        return lambda _: None

    def l1(weights, name=None):
        with name_scope(scope, "l1_regularizer", [weights]) as sc:
            s = constant(scale, dtype=weights.dtype, name="scale")
            return math_ops.mul(s, math_ops.reduce_sum(math_ops.abs(weights)), name=sc)

    return l1


def l2_regularizer(scale: float, scope: Optional[str] = None) -> Callable:
    """Returns `weights -> scale * sum(weights**2) / 2` (TF's l2_loss)."""
    if not _check_scale(scale):
        return lambda _: None

    def l2(weights):
        with name_scope(scope, "l2_regularizer", [weights]) as sc:
            s = constant(scale, dtype=weights.dtype, name="scale")
            half = constant(0.5, dtype=weights.dtype, name="half")
            loss = math_ops.mul(math_ops.reduce_sum(math_ops.square(weights)), half, name="L2Loss")
            return math_ops.mul(s, loss, name=sc)

    return l2


def l1_l2_regularizer(scale_l1: float = 1.0, scale_l2: float = 1.0, scope: Optional[str] = None) -> Callable:
    """The sum of an l1 and an l2 regularizer."""
    _check_scale(scale_l1)
    _check_scale(scale_l2)
    scope = scope or "l1_l2_regularizer"
    if scale_l1 == 0.0:
        return l2_regularizer(scale_l2, scope)
    if scale_l2 == 0.0:
        return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope=scope)


def sum_regularizer(regularizer_list, scope: Optional[str] = None) -> Optional[Callable]:
    """A regularizer adding the losses of `regularizer_list`; None when the list is empty."""
    regs = [r for r in regularizer_list if r is not None]
    if not regs:
        return None

    def summed(weights):
        with name_scope(scope, "sum_regularizer", [weights]) as sc:
            losses = [x for x in (r(weights) for r in regs) if x is not None]
            return math_ops.add_n(losses, name=sc) if losses else None

    return summed


def apply_regularization(regularizer: Callable, weights_list=None):
    """Sum of `regularizer` over `weights_list` (default: the WEIGHTS collection), added to
    REGULARIZATION_LOSSES and returned."""
    if not weights_list:
        weights_list = get_collection(GraphKeys.WEIGHTS)
    if not weights_list:
        raise InvalidArgumentError("No weights to regularize.")
    with name_scope("get_regularization_penalty", values=weights_list) as sc:
        penalties = [regularizer(w) for w in weights_list]
        penalties = [p if p is not None else constant(0.0) for p in penalties]
        for p in penalties:
            if len(p.shape) != 0:
                raise ShapeError(f"regularizer must return a scalar Tensor instead of a Tensor with rank "
                                 f"{len(p.shape)}.")
        summed = math_ops.add_n(penalties, name=sc)
    add_to_collection(GraphKeys.REGULARIZATION_LOSSES, summed)
    return summed
