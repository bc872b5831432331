"""cse: common-subexpression elimination: nodes of the same op on the same inputs with the same
attributes are merged (small constants with equal values too)."""

from __future__ import annotations

import numpy as np

from slimir.ir.registry import get_op

from .pipeline import PassReport, register_pass
from .rewrite import live_nodes, remove_dead

_SMALL = 64  # constants up to this many elements are merged by value


def _attr_key(v):
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_attr_key(x) for x in v)
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, dict):
        return tuple(sorted((k, _attr_key(x)) for k, x in v.items()))
    try:
        hash(v)
        return v
    except TypeError:
        return ("id", id(v))


@register_pass("cse")
def cse(graph, outputs) -> PassReport:
    """Merge duplicate computations."""
    before = len(graph.nodes)
    seen: dict = {}
    changes = []
    for node in live_nodes(graph, outputs):
        if node.type in ("placeholder", "variable") or not node.outputs:
            continue
        if node.type == "const":
            if node.attrs["value"].size > _SMALL or node.meta:
                continue
        elif get_op(node.type).stateful:
            continue
        key = (node.type, tuple(id(t) for t in node.inputs), _attr_key(node.attrs))
        other = seen.get(key)
        if other is None:
            seen[key] = node
            continue
        for a, b in zip(node.outputs, other.outputs):
            graph.replace_uses(a, b, outputs)
        changes.append(f"merged {node.name} into {other.name}")
    remove_dead(graph, outputs)
    return PassReport("cse", before, len(graph.nodes), changes)
