"""dead_code_elimination: drop every node the requested outputs do not need."""

from __future__ import annotations

from .pipeline import PassReport, register_pass
from .rewrite import remove_dead


@register_pass("dead_code_elimination")
def dead_code_elimination(graph, outputs) -> PassReport:
    """Remove nodes unreachable (backwards) from the outputs."""
    before = len(graph.nodes)
    n = remove_dead(graph, outputs)
    changes = [f"removed {n} unreachable nodes"] if n else []
    return PassReport("dead_code_elimination", before, len(graph.nodes), changes)
