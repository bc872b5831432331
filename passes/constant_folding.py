"""constant_folding: nodes whose inputs are all constants become constants (computed with the ops'
numpy references); random and stateful ops are left alone."""

from __future__ import annotations

import numpy as np

from slimir.ir.registry import get_op
from slimir.shape import Shape

from .pipeline import PassReport, register_pass
from .rewrite import const, live_nodes, remove_dead

_GROWTH_LIMIT = 1 << 22  # do not materialise big tensors out of small ones (tile, fill)


@register_pass("constant_folding")
def constant_folding(graph, outputs) -> PassReport:
    """Evaluate variable-free subgraphs at compile time."""
    before = len(graph.nodes)
    changes, skipped, folded = [], [], []
    for node in live_nodes(graph, outputs):
        if node.type in ("const", "placeholder", "variable") or not node.outputs or not node.inputs:
            continue
        if not all(t.op.type == "const" for t in node.inputs):
            continue
        op = get_op(node.type)
        if op.stateful or op.reference is None:
            skipped.append(f"{node.name} ({node.type}: stateful or no reference)")
            continue
        n_out = sum(Shape(t.shape).num_elements() or 0 for t in node.outputs)
        n_in = sum(t.op.attrs["value"].size for t in node.inputs)
        if n_out > max(4 * n_in, _GROWTH_LIMIT):
            skipped.append(f"{node.name} ({node.type}: result much larger than its inputs)")
            continue
        vals = op.reference(*[t.op.attrs["value"] for t in node.inputs], **node.attrs)
        vals = vals if isinstance(vals, tuple) else (vals,)
        sources: dict = {}
        for t in node.inputs:
            if "variable" in t.op.meta:
                sources[t.op.name] = tuple(t.shape)
            sources.update(t.op.meta.get("sources", {}))
        scope = node.name.rpartition("/")[0]
        for t, v in zip(node.outputs, vals):
            arr = np.asarray(v, dtype=t.dtype.np)
            if Shape(t.shape).is_fully_defined():  # else a data-dependent size (boolean_mask, top_k with a tensor k)
                arr = arr.reshape(tuple(t.shape))
            c = const(graph, scope, arr, name=node.name.rpartition("/")[2] + "_folded")
            if sources:
                c.op.meta["from_variable"] = True
                c.op.meta["sources"] = sources
            graph.replace_uses(t, c, outputs)
            folded.append(c.op)
        changes.append(f"folded {node.type} {node.name}")
    remove_dead(graph, outputs)
    _inherit_names(graph, folded)
    return PassReport("constant_folding", before, len(graph.nodes), changes, skipped)


def _inherit_names(graph, folded) -> None:
    """A folded constant takes the name of the one variable of the same shape it was made from, when
    that variable is gone (conv1/weights stays conv1/weights after batch-norm folding or a layout change)."""
    claims: dict = {}
    for c in folded:
        if graph._by_name.get(c.name) is not c:
            continue
        same = [n for n, shp in c.meta.get("sources", {}).items() if shp == tuple(c.outputs[0].shape)]
        if len(same) == 1:
            claims.setdefault(same[0], []).append(c)
    for src, cs in claims.items():
        if len(cs) == 1 and src not in graph._by_name:
            c = cs[0]
            del graph._by_name[c.name]
            c.name = src
            graph._by_name[src] = c
