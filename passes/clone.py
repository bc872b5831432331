"""Copy the part of a graph that some outputs need, so passes can rewrite it without touching the user's graph.

Variables can be kept, frozen into constants (export: their values become weights), or turned
into graph inputs (export without weights).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from slimir.errors import SlimirError
from slimir.ir.analysis import needed_nodes
from slimir.ir.graph import Graph, Tensor, Variable
from slimir.shape import Shape


@dataclass
class Cloned:
    """A copied subgraph: the new graph, its outputs and inputs, and old -> new tensor mapping."""

    graph: Graph
    outputs: list
    feeds: list
    mapping: dict = field(default_factory=dict)  # id(old tensor) -> new tensor


def clone(graph: Graph, outputs: list, feeds=(), variables: str = "keep", var_values: Optional[dict] = None) -> Cloned:
    """Copy what `outputs` need (stopping at `feeds`, which become placeholders of the copy).

    variables: "keep" (variables stay variables), "freeze" (constants holding `var_values`), or
    "inputs" (placeholders named like the variables). Frozen constants remember their variable in
    `node.meta["variable"]`.
    """
    if variables not in ("keep", "freeze", "inputs"):
        raise SlimirError(f"clone: variables must be keep, freeze or inputs, got {variables!r}")
    g = Graph()
    g.seed = graph.seed
    fed = {id(t): t for t in feeds}
    m: dict = {}
    new_feeds = []
    for t in feeds:
        nm = t.op.name if t.index == 0 else t.name.replace(":", "_")
        node = g.add_node("placeholder", [], {"shape": Shape(t.shape), "dtype": t.dtype}, [(t.shape, t.dtype)], nm,
                          exact_name=True)
        m[id(t)] = node.outputs[0]
        new_feeds.append(node.outputs[0])
    for node in needed_nodes(outputs, set(fed)):
        if node.type == "variable":
            v = node.outputs[0]
            if variables == "freeze":
                if var_values is None or v not in var_values:
                    raise SlimirError(f"no value for variable {node.name} to freeze")
                arr = np.array(var_values[v], dtype=v.dtype.np, order="C")
                arr.setflags(write=False)
                new = g.add_node("const", [], {"value": arr}, [(v.shape, v.dtype)], node.name, exact_name=True)
                new.meta["variable"] = v
            elif variables == "inputs":
                new = g.add_node("placeholder", [], {"shape": Shape(v.shape), "dtype": v.dtype},
                                 [(v.shape, v.dtype)], node.name, exact_name=True)
                new.meta["variable"] = v
            else:
                new = g.add_node("variable", [], dict(node.attrs), [(v.shape, v.dtype)], node.name,
                                 exact_name=True, tensor_cls=Variable)
                nv = new.outputs[0]
                nv.trainable = v.trainable
                nv.initial_value_fn = v.initial_value_fn
                nv.initial_value_tensor = None
                nv._collections = v._collections
                new.meta["variable"] = v
            m[id(v)] = new.outputs[0]
            continue
        attrs = dict(node.attrs)
        if "var" in attrs and id(attrs["var"]) in m:
            attrs["var"] = m[id(attrs["var"])]
        new = g.add_node(node.type, [m[id(t)] for t in node.inputs], attrs,
                         [(t.shape, t.dtype) for t in node.outputs], node.name, exact_name=True)
        new.control_inputs = [m[id(c.outputs[0])].op if c.outputs else _find(g, c) for c in node.control_inputs
                              if (c.outputs and id(c.outputs[0]) in m) or c.name in g._by_name]
        new.device = node.device
        new.meta = dict(node.meta)
        for old_t, new_t in zip(node.outputs, new.outputs):
            m[id(old_t)] = new_t
            if getattr(old_t, "aliases", None):
                new_t.aliases = list(old_t.aliases)
    outs = []
    for t in outputs:
        if not isinstance(t, Tensor):
            continue
        outs.append(m[id(t)])
    return Cloned(g, outs, new_feeds, m)


def _find(g: Graph, node):
    return g._by_name[node.name]
