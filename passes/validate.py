"""validate_shapes: re-run every needed node's shape rule and check the recorded shapes and dtypes."""

from __future__ import annotations

from slimir.errors import ShapeError
from slimir.ir.analysis import needed_nodes
from slimir.ir.registry import Spec, get_op
from slimir.shape import compatible, fmt

from .pipeline import PassReport, register_pass


@register_pass("validate_shapes")
def validate_shapes(graph, outputs=None) -> PassReport:
    """Shape/dtype validation over the graph (or what `outputs` need): every node agrees with its op's rule."""
    nodes = needed_nodes(outputs, set()) if outputs else list(graph.nodes)
    for node in nodes:
        op = get_op(node.type)
        specs = [Spec(t.shape, t.dtype) for t in node.inputs]
        want = op.shape(specs, **node.attrs)
        if len(want) != len(node.outputs):
            raise ShapeError(f"{node.name}: {node.type} has {len(node.outputs)} outputs, its rule gives {len(want)}")
        for t, w in zip(node.outputs, want):
            if t.dtype is not w.dtype or not compatible(t.shape, w.shape):
                raise ShapeError(f"{node.name}: recorded {t.dtype.name}{fmt(t.shape)} but the rule gives "
                                 f"{w.dtype.name}{fmt(w.shape)}")
    return PassReport("validate_shapes", len(nodes), len(nodes))
