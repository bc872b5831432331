"""Fusion passes.

fuse_conv_bias_act:  conv (2-D, depthwise, transposed) -> bias_add | add(per-channel vector) -> activation
                     becomes one `fused_conv2d` (ONNX Conv with its bias input + the activation).
fuse_gemm:           matmul (rank 2) -> bias_add | add(vector) [-> activation]  becomes one `gemm`.

A link is fused only when the intermediate value has no other reader and is not a graph output.
"""

from __future__ import annotations

from typing import Optional

from slimir.ops.activation import NO_ACTIVATION, activation_attrs, fusable_activations
from slimir.ops.conv import CONV_TYPES

from .pipeline import PassReport, register_pass
from .rewrite import build, build_replacing, live_nodes, only_consumer, remove_dead


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


def _activation(g, t, outputs) -> Optional[tuple]:
    nxt = only_consumer(g, t, outputs)
    if nxt is not None and nxt.type in fusable_activations():
        return nxt, activation_attrs(nxt)
    return None


@register_pass("fuse_conv_bias_act")
def fuse_conv_bias_act(graph, outputs) -> PassReport:
    """Conv + per-channel bias + activation -> fused_conv2d (Conv with bias input, then the activation)."""
    before = len(graph.nodes)
    changes, skipped = [], []
    for conv in live_nodes(graph, outputs):
        if conv.type not in CONV_TYPES:
            continue
        y = conv.outputs[0]
        df = conv.attrs["data_format"]
        chans = y.shape[1] if df == "NCHW" else y.shape[-1]
        last, bias, act = y, None, dict(NO_ACTIVATION)
        nxt = only_consumer(graph, y, outputs)
        if nxt is not None:
            bias = _bias_of(graph, nxt, y, chans, df)
            if bias is not None:
                last = nxt.outputs[0]
        found = _activation(graph, last, outputs)
        if found is not None:
            act_node, act = found
            last = act_node.outputs[0]
        if bias is None and not act["activation"]:
            if len(graph.consumers_of(y)) > 1:
                skipped.append(f"{conv.name}: output read by {len(graph.consumers_of(y))} nodes")
            continue
        inputs = list(conv.inputs) + ([bias] if bias is not None else [])
        name = conv.name
        fused = build_replacing(graph, conv, "fused_conv2d", inputs, conv=conv.type, **conv.attrs, **act)
        graph.replace_uses(last, fused, outputs)
        changes.append(f"{name}: {conv.type}{' + bias' if bias is not None else ''}"
                       f"{' + ' + act['activation'] if act['activation'] else ''} -> fused_conv2d")
    remove_dead(graph, outputs)
    return PassReport("fuse_conv_bias_act", before, len(graph.nodes), changes, skipped)


@register_pass("fuse_gemm")
def fuse_gemm(graph, outputs) -> PassReport:
    """MatMul (rank 2) + bias [+ activation] -> gemm (ONNX Gemm with its C input)."""
    before = len(graph.nodes)
    changes, skipped = [], []
    for mm in live_nodes(graph, outputs):
        if mm.type != "matmul":
            continue
        a, w = mm.inputs
        y = mm.outputs[0]
        if len(a.shape) != 2 or len(w.shape) != 2 or mm.attrs["transpose_a"]:
            skipped.append(f"{mm.name}: not a rank-2 matmul")
            continue
        nxt = only_consumer(graph, y, outputs)
        bias = _bias_of(graph, nxt, y, y.shape[-1], "NHWC") if nxt is not None else None
        if bias is None:
            continue
        last, act, name = nxt.outputs[0], dict(NO_ACTIVATION), mm.name
        found = _activation(graph, last, outputs)
        if found is not None:
            act_node, act = found
            last = act_node.outputs[0]
        g = build_replacing(graph, mm, "gemm", [a, w, bias], transpose_b=mm.attrs["transpose_b"], **act)
        graph.replace_uses(last, g, outputs)
        changes.append(f"{name}: matmul + bias{' + ' + act['activation'] if act['activation'] else ''} -> gemm")
    remove_dead(graph, outputs)
    return PassReport("fuse_gemm", before, len(graph.nodes), changes, skipped)

