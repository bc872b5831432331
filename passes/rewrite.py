"""Small helpers the passes share: building nodes in a graph under a scope, constants, consumers, DCE."""

from __future__ import annotations

from typing import Optional

import numpy as np

from slimir.ir.analysis import needed_nodes
from slimir.ir.graph import Graph, Node, Tensor
from slimir.ir.registry import apply_op


def build(g: Graph, scope: str, op_type: str, inputs: list, name: Optional[str] = None, **attrs):
    """Add a node of `op_type` to `g` under name scope `scope` (its shape rule runs as usual)."""
    with g.as_default(), g.name_scope(scope + "/" if scope else None):
        return apply_op(op_type, inputs, name=name, **attrs)


def build_replacing(g: Graph, old: Node, op_type: str, inputs: list, **attrs):
    """Build the node that replaces `old`, under `old`'s exact name (Netron keeps showing the scope)."""
    name = g.take_name(old)
    with g.as_default():
        return apply_op(op_type, inputs, name=name, exact_name=True, **attrs)


def const(g: Graph, scope: str, value, name: str = "Const") -> Tensor:
    arr = np.array(value, order="C")
    arr.setflags(write=False)
    return build(g, scope, "const", [], name=name, value=arr)


def only_consumer(g: Graph, t: Tensor, outputs: list) -> Optional[Node]:
    """The single node reading `t`, when `t` has exactly one reader and is not a graph output."""
    cons = g.consumers_of(t)
    if len(cons) != 1 or any(o is t for o in outputs):
        return None
    return cons[0]


def remove_dead(g: Graph, outputs: list, keep=()) -> int:
    """Remove every node that `outputs` (and `keep` nodes) do not need; returns how many went."""
    live = {id(n) for n in needed_nodes(list(outputs) + list(keep), set())}
    dead = [n for n in g.nodes if id(n) not in live]
    g.remove_nodes(dead)
    return len(dead)


def live_nodes(g: Graph, outputs: list) -> list:
    """The nodes `outputs` need, inputs before consumers."""
    return needed_nodes(outputs, set())


def inverse_perm(p) -> tuple:
    inv = [0] * len(p)
    for i, x in enumerate(p):
        inv[x] = i
    return tuple(inv)
