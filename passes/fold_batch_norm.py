"""fold_batch_norm: inference batch norm after a convolution or a fully-connected matmul is folded into
that layer's weights and bias:  s = gamma / sqrt(var + eps);  w' = w * s (per output channel);
b' = (b - mean) * s + beta.  The new weights are IR expressions of the old ones, so constant
folding turns them into plain weights when the variables are frozen."""

from __future__ import annotations

from .pipeline import PassReport, register_pass
from .rewrite import build, build_replacing, live_nodes, only_consumer, remove_dead

_FOLDABLE = ("conv2d", "depthwise_conv2d", "conv2d_transpose", "matmul")


def _out_channel_axis_ok(layer, bn) -> bool:
    rank = len(bn.inputs[0].shape)
    ax = bn.attrs["axis"] % rank
    if layer.type == "matmul":
        return ax == rank - 1 and not layer.attrs["transpose_b"] and len(layer.inputs[1].shape) == 2
    want = 1 if layer.attrs["data_format"] == "NCHW" else 3
    return ax == want


def _scaled_weights(g, scope, layer, w, s):
    """w * s along the layer's output-channel axis."""
    kind = layer.type
    if kind == "depthwise_conv2d":
        _, _, c, m = w.shape
        s = build(g, scope, "reshape", [s], shape=(c, m))
    elif kind == "conv2d_transpose":
        s = build(g, scope, "reshape", [s], shape=(w.shape[2], 1))
    return build(g, scope, "mul", [w, s])


@register_pass("fold_batch_norm")
def fold_batch_norm(graph, outputs) -> PassReport:
    """BatchNorm (is_training=False) after conv/depthwise/transposed conv/matmul -> new weights + bias."""
    before = len(graph.nodes)
    changes, skipped = [], []
    for bn in live_nodes(graph, outputs):
        if bn.type != "fused_batch_norm" or bn.attrs["is_training"]:
            continue
        if any(graph.consumers_of(t) or any(o is t for o in outputs) for t in bn.outputs[1:]):
            skipped.append(f"{bn.name}: its batch statistics are read")
            continue
        x = bn.inputs[0]
        prev, bias = x.op, None
        if prev.type == "bias_add":
            if only_consumer(graph, x, outputs) is not bn:
                continue
            bias = prev.inputs[1]
            layer_out = prev.inputs[0]
        else:
            layer_out = x
        layer = layer_out.op
        if layer.type not in _FOLDABLE or only_consumer(graph, layer_out, outputs) is None:
            if layer.type in _FOLDABLE:
                skipped.append(f"{bn.name}: {layer.name}'s output has other readers")
            continue
        if not _out_channel_axis_ok(layer, bn) or (prev.type == "bias_add" and
                                                  prev.attrs["data_format"] != layer.attrs.get("data_format", "NHWC")):
            skipped.append(f"{bn.name}: normalised axis is not {layer.name}'s output channels")
            continue
        _, gamma, beta, mean, var = bn.inputs
        layer_name = layer.name
        sc = bn.scope or layer.scope
        eps = build(graph, sc, "const", [], name="eps", value=_scalar(bn.attrs["epsilon"], var.dtype))
        s = build(graph, sc, "mul", [gamma, build(graph, sc, "rsqrt", [build(graph, sc, "add", [var, eps])])],
                  name="fold_scale")
        w = layer.inputs[1]
        w2 = _scaled_weights(graph, sc, layer, w, s)
        shift = build(graph, sc, "sub", [bias, mean]) if bias is not None else build(graph, sc, "neg", [mean])
        b2 = build(graph, sc, "add", [build(graph, sc, "mul", [shift, s]), beta], name="fold_bias")
        new = build_replacing(graph, layer, layer.type, [layer.inputs[0], w2], **layer.attrs)
        out = build(graph, layer.scope, "bias_add", [new, b2], name="BiasAdd",
                    data_format=layer.attrs.get("data_format", "NHWC"))
        graph.replace_uses(bn.outputs[0], out, outputs)
        changes.append(f"{bn.name} folded into {layer_name}")
    remove_dead(graph, outputs)
    return PassReport("fold_batch_norm", before, len(graph.nodes), changes, skipped)


def _scalar(v, dtype):
    import numpy as np

    a = np.array(v, dtype=dtype.np)
    a.setflags(write=False)
    return a
