"""remove_identity: inference-time no-ops (identity, stop_gradient, Print, same-shape reshape, no-op
transpose/cast/squeeze) are bypassed and removed."""

from __future__ import annotations

from slimir.shape import Shape

from .pipeline import PassReport, register_pass
from .rewrite import live_nodes, remove_dead


def _is_noop(node) -> bool:
    t = node.type
    if t in ("identity", "stop_gradient", "print"):
        return True
    x, y = node.inputs[0] if node.inputs else None, node.outputs[0] if node.outputs else None
    if x is None or y is None:
        return False
    if t == "reshape":
        return Shape(x.shape).is_fully_defined() and tuple(x.shape) == tuple(y.shape)
    if t == "transpose":
        return tuple(node.attrs["perm"]) == tuple(range(len(node.attrs["perm"])))
    if t == "cast":
        return node.attrs["dtype"] is x.dtype
    if t == "squeeze":
        return len(x.shape) == len(y.shape)
    if t == "concat" and len(node.inputs) == 1:
        return True
    return False


@register_pass("remove_identity")
def remove_identity(graph, outputs) -> PassReport:
    """Bypass identity-like nodes (dropout at inference is already an identity when built)."""
    before = len(graph.nodes)
    changes = []
    for node in live_nodes(graph, outputs):
        if _is_noop(node):
            graph.replace_uses(node.outputs[0], node.inputs[0], outputs)
            changes.append(f"bypassed {node.type} {node.name}")
    remove_dead(graph, outputs)
    return PassReport("remove_identity", before, len(graph.nodes), changes)
