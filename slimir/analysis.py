"""Graph analyses shared by passes and the runtime: what a set of outputs needs, in order."""

from __future__ import annotations

from typing import Iterable

from .graph import Tensor


def needed_nodes(outputs: Iterable, fed: set) -> list:
    """Nodes (in topological = creation order) that `outputs` (tensors or nodes) depend on.

    Traversal stops at fed tensors (`fed` holds their ids); control inputs are followed.
    """
    seen: dict = {}
    stack = []
    for o in outputs:
        if isinstance(o, Tensor) and id(o) in fed:
            continue
        stack.append(o.op if isinstance(o, Tensor) else o)
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen[id(n)] = n
        for t in n.inputs:
            if id(t) not in fed and id(t.op) not in seen:
                stack.append(t.op)
        for c in n.control_inputs:
            if id(c) not in seen:
                stack.append(c)
    return sorted(seen.values(), key=lambda n: n._id)
