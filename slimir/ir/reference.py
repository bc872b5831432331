"""A small numpy interpreter of the IR: runs each node's registered `reference` function.

It is the ground truth the tests compare the ONNX lowering (and the passes) against; it holds no state.
"""

from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from ..errors import FeedError, SlimirError
from .analysis import needed_nodes
from .graph import Node, Variable
from .registry import get_op


def evaluate(fetches: Iterable, feed_dict: Optional[dict] = None,
             variables: Optional[dict] = None, compute_dtype=None) -> list:
    """Evaluate `fetches` (tensors, or nodes: these give None) with numpy references.

    feed_dict: {Tensor: value} for placeholders or any tensor to override.
    variables: {Variable: value} for the variables the fetches read.
    compute_dtype: a wider float type (np.float64) in which every floating-point value of the graph is
        computed instead of its own dtype (feeds, variables, constants and each node's outputs are widened):
        the float64 truth that the float32 Session is measured against.
    Returns one array per fetch, in order.
    """
    fetches = list(fetches)
    widen = _widener(compute_dtype)
    values: dict = {}  # id(Tensor) -> np.ndarray
    for t, v in (feed_dict or {}).items():
        values[id(t)] = widen(np.asarray(v, t.dtype.np))
    for node in needed_nodes(fetches, set(values)):
        if get_op(node.type).python_side:  # no numerical effect (the Session runs these in Python)
            continue
        if node.type == "placeholder":
            raise FeedError(f"evaluate: no value fed for placeholder {node.name}")
        if node.type == "variable":
            out = widen(_variable_value(node.outputs[0], variables))
        else:
            out = _run_node(node, values)
        outs = out if isinstance(out, tuple) else (out,)
        if len(outs) != len(node.outputs):
            raise SlimirError(f"{node.name}: reference of {node.type} gave {len(outs)} outputs, "
                              f"expected {len(node.outputs)}")
        for t, v in zip(node.outputs, outs):
            values[id(t)] = widen(np.asarray(v))
    return [None if isinstance(f, Node) else values[id(f)] for f in fetches]


def _widener(compute_dtype):
    """value -> value in `compute_dtype` when it is a narrower float (identity when compute_dtype is None)."""
    if compute_dtype is None:
        return lambda a: a
    wide = np.dtype(compute_dtype)

    def widen(a: np.ndarray) -> np.ndarray:
        if a.dtype.kind == "f" and a.dtype.itemsize < wide.itemsize:
            return a.astype(wide)
        return a

    return widen


def _variable_value(v: Variable, variables: Optional[dict]) -> np.ndarray:
    if variables is None or v not in variables:
        raise FeedError(f"evaluate: no value given for variable {v.op.name}")
    return np.asarray(variables[v], v.dtype.np)


def _run_node(node: Node, values: dict):
    """Call the op's reference on the node's input values and attributes."""
    op = get_op(node.type)
    if op.reference is None:
        raise SlimirError(f"{node.name}: op {node.type} has no numpy reference")
    args = [values[id(t)] for t in node.inputs]
    return op.reference(*args, **node.attrs)


__all__ = ["evaluate"]
