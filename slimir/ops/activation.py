"""Activations inside fused ops (fused_conv2d, gemm): the fused node applies an activation op's own lowering,
reference and output-gradient (`OpDef.activation`), so every activation that declares one fuses the same way.

A fused node carries `activation` (the activation op's name, "" for none) and `act_attrs` (that op's
attributes as sorted (name, value) pairs).
"""

from __future__ import annotations

from ..errors import ShapeError
from ..ir.registry import get_op, ops_where

NO_ACTIVATION = {"activation": "", "act_attrs": ()}


def fusable_activations() -> frozenset:
    """The ops a fusion may absorb as the activation after a layer (those with `OpDef.activation`)."""
    return ops_where(lambda op: op.activation is not None)


def activation_attrs(node) -> dict:
    """The fused-node attributes (`activation`, `act_attrs`) of an activation node."""
    return {"activation": node.type, "act_attrs": tuple(sorted(node.attrs.items()))}


def check_activation(name: str) -> None:
    """Raise unless `name` is "" or an activation that may be fused."""
    if name and name not in fusable_activations():
        raise ShapeError(f"unknown fused activation {name!r}; fusable: {', '.join(sorted(fusable_activations()))}")


class _Value:
    """Stand-in for the pre-activation value (never a graph tensor of its own) in an activation's rules."""

    def __init__(self, dtype, shape):
        self.dtype, self.shape = dtype, shape


class _ActivationView:
    """A fused node seen as its activation node: the activation's attributes, the pre-activation as input."""

    def __init__(self, node):
        y = node.outputs[0]
        self.name = node.name
        self.attrs = dict(node.attrs["act_attrs"])
        self.inputs = [_Value(y.dtype, y.shape)]
        self.outputs = node.outputs


def lower_activation(b, node, y: str) -> str:
    """Emit the fused node's activation (if any) on the ONNX value `y` with the activation op's lowering."""
    act = node.attrs["activation"]
    if not act:
        return y
    return get_op(act).lower(b, _ActivationView(node), y)


def reference_activation(y, activation: str, act_attrs):
    """The activation op's numpy reference on `y` (identity for "")."""
    if not activation:
        return y
    return get_op(activation).reference(y, **dict(act_attrs))


def pre_activation_grad(node, g):
    """d/d(pre-activation) of a fused node from its OUTPUT y (the pre-activation itself is not kept)."""
    act = node.attrs["activation"]
    if not act:
        return g
    return get_op(act).activation(node.outputs[0], g, dict(node.attrs["act_attrs"]))
