"""Fusion passes, written as rules (passes/patterns.py: pattern, condition, replacement).

fuse_conv_bias_act:  conv (2-D, depthwise, transposed) -> [bias_add | add(per-channel vector)] -> [activation]
                     becomes one `fused_conv2d` (ONNX Conv with its bias input + the activation).
fuse_gemm:           matmul (rank 2) -> bias_add | add(vector) -> [activation]  becomes one `gemm`.

The activations are the ops whose OpDef declares an output-gradient (`OpDef.activation`). A link is fused only
when the value before it has no other reader and is not a graph output.
"""

from __future__ import annotations

from typing import Optional

from slimir.ops.activation import NO_ACTIVATION, activation_attrs, fusable_activations
from slimir.ops.conv import CONV_TYPES

from .patterns import Rule, anchor, apply_rule, link
from .pipeline import PassReport, register_pass
from .rewrite import build, build_replacing, remove_dead


def _channels(node) -> Optional[int]:
    y = node.outputs[0]
    return y.shape[1] if node.attrs.get("data_format", "NHWC") == "NCHW" else y.shape[-1]


def _bias_of(g, add, y, channels: Optional[int], data_format: str):
    """The per-channel bias vector that `add` adds to `y`, if it is one."""
    if add.type == "bias_add":
        if add.inputs[0] is y and add.attrs["data_format"] == data_format:
            return add.inputs[1]
        return None
    if add.type == "add":
        other = add.inputs[1] if add.inputs[0] is y else add.inputs[0] if add.inputs[1] is y else None
        if other is None or add.outputs[0].shape != y.shape:
            return None
        if data_format == "NHWC" and len(other.shape) == 1 and other.shape[0] == channels:
            return other
        if data_format == "NCHW" and tuple(other.shape) in ((channels, 1, 1), (1, channels, 1, 1)):
            return build(g, add.scope, "reshape", [other], name="bias", shape=(channels,))
    return None


def _per_channel_bias(g, node, y, m):
    """Link matcher: `node` adds a per-channel bias vector to the anchor's output."""
    a = m.anchor
    return _bias_of(g, node, y, _channels(a), a.attrs.get("data_format", "NHWC"))


def _activation(g, node, y, m):
    """Link matcher: `node` is an activation a fused op can apply; binds its fused-node attributes."""
    return activation_attrs(node) if node.type in fusable_activations() else None


def _act(m) -> dict:
    return m.act or dict(NO_ACTIVATION)


def _describe(kind: str):
    def describe(m) -> str:
        a = m.anchor
        act = _act(m)["activation"]
        bias = " + bias" if m.bias is not None else ""
        what = a.type if kind == "fused_conv2d" else "matmul"
        return f"{a.name}: {what}{bias}{' + ' + act if act else ''} -> {kind}"

    return describe


CONV_BIAS_ACT = Rule(
    "fuse_conv_bias_act",
    pattern=(anchor("conv", CONV_TYPES), link("bias", _per_channel_bias, optional=True),
             link("act", _activation, optional=True)),
    condition=lambda g, m: m.bias is not None or m.act is not None,
    replacement=lambda g, m: build_replacing(g, m.conv, "fused_conv2d",
                                             list(m.conv.inputs) + ([m.bias] if m.bias is not None else []),
                                             conv=m.conv.type, **m.conv.attrs, **_act(m)),
    describe=_describe("fused_conv2d"),
)

GEMM_BIAS_ACT = Rule(
    "fuse_gemm",
    pattern=(anchor("matmul", ("matmul",)), link("bias", _per_channel_bias, optional=True),
             link("act", _activation, optional=True)),
    condition=lambda g, m: m.bias is not None and _rank2(m.matmul),
    replacement=lambda g, m: build_replacing(g, m.matmul, "gemm", [*m.matmul.inputs, m.bias],
                                             transpose_b=m.matmul.attrs["transpose_b"], **_act(m)),
    describe=_describe("gemm"),
)


def _rank2(mm) -> bool:
    a, w = mm.inputs
    return len(a.shape) == 2 and len(w.shape) == 2 and not mm.attrs["transpose_a"]


@register_pass("fuse_conv_bias_act")
def fuse_conv_bias_act(graph, outputs) -> PassReport:
    """Conv + per-channel bias + activation -> fused_conv2d (Conv with bias input, then the activation)."""
    before = len(graph.nodes)
    changes, declined = apply_rule(graph, outputs, CONV_BIAS_ACT)
    skipped = [f"{m.conv.name}: output read by {len(graph.consumers_of(m.conv.outputs[0]))} nodes"
               for m in declined if len(graph.consumers_of(m.conv.outputs[0])) > 1]
    remove_dead(graph, outputs)
    return PassReport("fuse_conv_bias_act", before, len(graph.nodes), changes, skipped)


@register_pass("fuse_gemm")
def fuse_gemm(graph, outputs) -> PassReport:
    """MatMul (rank 2) + bias [+ activation] -> gemm (ONNX Gemm with its C input)."""
    before = len(graph.nodes)
    changes, declined = apply_rule(graph, outputs, GEMM_BIAS_ACT)
    skipped = [f"{m.matmul.name}: not a rank-2 matmul" for m in declined if not _rank2(m.matmul)]
    remove_dead(graph, outputs)
    return PassReport("fuse_gemm", before, len(graph.nodes), changes, skipped)
