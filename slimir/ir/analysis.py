"""Graph analyses shared by passes and the runtime: what a set of outputs needs, in dependency order."""

from __future__ import annotations

import contextlib
import gc
from typing import Iterable

from .graph import Node, Tensor


@contextlib.contextmanager
def no_gc():
    """Pause Python's cyclic garbage collector: compiling a big graph makes millions of objects that are
    all alive, so full collections only cost time (they made compile time grow faster than linearly)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def needed_nodes(outputs: Iterable, fed: set) -> list:
    """Nodes that `outputs` (tensors or nodes) depend on, each after all of its inputs.

    Traversal stops at fed tensors (`fed` holds their ids); control inputs are followed. The order
    is a depth-first post-order (inputs before consumers, in input order), so it stays valid after
    passes rewire a graph, where creation order would not.
    """
    order: list = []
    state: dict = {}  # id(node) -> 1 visiting, 2 done
    roots = []
    for o in outputs:
        if isinstance(o, Tensor):
            if id(o) in fed:
                continue
            roots.append(o.op)
        else:
            roots.append(o)
    for root in roots:
        if id(root) in state:
            continue
        stack = [(root, False)]
        while stack:
            n, expanded = stack.pop()
            if expanded:
                state[id(n)] = 2
                order.append(n)
                continue
            if id(n) in state:
                continue
            state[id(n)] = 1
            stack.append((n, True))
            deps = _deps(n, fed)
            for d in reversed(deps):
                s = state.get(id(d))
                if s is None:
                    stack.append((d, False))
                elif s == 1:  # d is still open, so it is an ancestor of n: a cycle
                    raise ValueError(f"the graph has a cycle through {d.name} and {n.name}")
    return order


def _deps(n: Node, fed: set) -> list:
    deps = [t.op for t in n.inputs if id(t) not in fed]
    deps.extend(n.control_inputs)
    return deps
