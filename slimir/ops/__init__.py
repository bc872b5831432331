"""The op registry and the ops it holds, one module per family (each op defined in one place)."""

from . import array_ops, conv3d_ops, fused_ops, grad_ops, math_ops, nn_ops, random_ops, state_ops  # noqa: F401
from .registry import OpDef, Spec, apply_op, convert_to_tensor, get_op, register, registered_ops

__all__ = ["OpDef", "Spec", "apply_op", "convert_to_tensor", "get_op", "register", "registered_ops"]
