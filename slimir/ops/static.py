"""Values known while the graph is built (TF's tensor_util.constant_value, which `slimir.tensor_util` names), and
static ints from TF-style arguments.

`constant_value(t)` evaluates the part of the graph below `t` with the ops' numpy references when it holds no
placeholder, variable or stateful op; a `shape`/`size` of a tensor whose static shape is fully defined counts as
known. So `tf.shape(x)[1] * 2`, `tf.constant([[0, 0], [1, 1]])` or `tf.stack([h, w])` resolve to numbers, which
the ops that need static arguments (pad, reshape, resize, tile, ...) accept in place of Python lists.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidArgumentError
from ..ir.graph import Node, Tensor
from ..ir.registry import get_op
from ..shape import Shape

#: Largest result (in values) that constant_value materialises.
MAX_VALUES = 1 << 20
#: Ops whose value depends only on their input's static shape.
_SHAPE_ONLY = frozenset({"shape", "num_elements", "fill_like"})
_SOURCES = frozenset({"placeholder", "variable"})


def constant_value(tensor, partial: bool = False) -> Optional[np.ndarray]:
    """The value of `tensor` if it can be computed without running the graph, else None.

    Non-tensors come back as numpy arrays (TF returns them unchanged). `partial` is accepted for TF's signature
    (partially known shapes give None here)."""
    del partial
    if isinstance(tensor, Node):
        return None
    if not isinstance(tensor, Tensor):
        return np.asarray(tensor)
    memo: dict = {}
    stack = [tensor.op]
    while stack:
        node = stack[-1]
        if id(node) in memo:
            stack.pop()
            continue
        vals = _leaf_value(node)
        if vals is not _PENDING:
            memo[id(node)] = vals
            stack.pop()
            continue
        missing = [t.op for t in node.inputs if id(t.op) not in memo]
        if missing:
            stack.extend(missing)
            continue
        stack.pop()
        ins = []
        for t in node.inputs:
            outs = memo[id(t.op)]
            ins.append(None if outs is None else outs[t.index])
        if any(v is None for v in ins):
            memo[id(node)] = None
            continue
        out = get_op(node.type).reference(*ins, **node.attrs)
        memo[id(node)] = tuple(np.asarray(o) for o in (out if isinstance(out, tuple) else (out,)))
    outs = memo[id(tensor.op)]
    return None if outs is None else np.asarray(outs[tensor.index], tensor.dtype.np)


_PENDING = object()


def _leaf_value(node: Node):
    """A node's output values when decided without its inputs (sources, shape-only ops), None when unknowable,
    else _PENDING."""
    if node.type == "const":
        return (node.attrs["value"],)
    if node.type in _SOURCES or not node.outputs:
        return None
    op = get_op(node.type)
    if op.stateful or op.reference is None:
        return None
    if any((Shape(t.shape).num_elements() or MAX_VALUES + 1) > MAX_VALUES for t in node.outputs):
        return None
    if node.type == "strided_slice" and node.inputs[0].op.type == "shape":  # tf.shape(x)[1] with dim 1 known
        src = node.inputs[0].op
        dims = np.array([-1 if d is None else d for d in src.inputs[0].shape], np.int64)
        picked = np.asarray(dims[node.attrs["key"]])
        if (picked < 0).any():
            return None
        return (picked.astype(src.attrs["out_type"].np),)
    if node.type in _SHAPE_ONLY:
        x = node.inputs[0]
        if not Shape(x.shape).is_fully_defined():
            return None
        out = op.reference(np.zeros(tuple(x.shape), x.dtype.np), **node.attrs)
        return tuple(np.asarray(o) for o in (out if isinstance(out, tuple) else (out,)))
    return _PENDING


def static_ints(value, what: str, allow_none: bool = False) -> Optional[list]:
    """A list of Python ints from a list/tuple/array of ints or scalar tensors, or an int tensor, resolving tensors
    with constant_value; a clear error naming `what` when a value is only known at run time.

    allow_none: return None (instead of raising) for values only known at run time."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        v = constant_value(value)
        if v is None:
            if allow_none:
                return None
            raise InvalidArgumentError(
                f"{what}: slimir needs this value while the graph is built, but {value.name} is only known at run "
                "time (give Python ints, or tensors computed from constants and static shapes)")
        return [int(x) for x in np.asarray(v).reshape(-1)]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [int(value)]
    out = []
    for x in (value.tolist() if isinstance(value, np.ndarray) else value):
        if isinstance(x, Tensor):
            r = static_ints(x, what, allow_none)
            if r is None:
                return None
            out.extend(r)
        elif isinstance(x, (list, tuple, np.ndarray)):
            r = static_ints(x, what, allow_none)
            if r is None:
                return None
            out.append(r)
        elif x is None:
            out.append(None)
        else:
            out.append(int(x))
    return out


def make_ndarray(tensor) -> np.ndarray:
    """TF's tensor_util.make_ndarray for constants: the value of a constant tensor."""
    v = constant_value(tensor)
    if v is None:
        raise InvalidArgumentError(f"make_ndarray: {getattr(tensor, 'name', tensor)} is not a constant")
    return v


__all__ = ["constant_value", "make_ndarray", "static_ints"]
