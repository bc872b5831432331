"""The op registry: each op declared once with its shape rule, ONNX lowering, numpy reference, VJP, FLOPs.

An op module (`ops/conv.py`, ...) calls `register(OpDef(...))` for each op it holds; everything else
(graph building, lowering, the reference interpreter, autodiff, FLOP counting) looks ops up here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, GraphError, InvalidArgumentError, ShapeError, SlimirError
from ..graph import Node, Tensor, get_default_graph
from ..shape import Shape, fmt


class Spec(NamedTuple):
    """The static type of a value: shape (tuple, None for unknown dims) and dtype."""

    shape: tuple
    dtype: _dt.DType


@dataclass
class OpDef:
    """Everything slimir knows about one op.

    shape(specs, **attrs) -> list[Spec]               static shape/dtype rule; raises ShapeError etc.
    lower(b, node, *input_names) -> name | [names]    emits ONNX nodes through the lowering builder `b`
    reference(*arrays, **attrs) -> array | tuple      numpy semantics, the ground truth for tests
    vjp(node, grads) -> list[Tensor | None]           IR expression of input gradients (training issue)
    flops(node) -> int                                multiply-adds counted as 2 FLOPs
    """

    name: str
    shape: Callable
    lower: Optional[Callable]
    reference: Optional[Callable]
    default_name: str = ""
    vjp: Optional[Callable] = None
    flops: Optional[Callable] = None
    stateful: bool = False
    differentiable: bool = True
    doc: str = ""
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    if op.name in _REGISTRY:
        raise SlimirError(f"op {op.name!r} is registered twice")
    if not op.default_name:
        op.default_name = op.name
    _REGISTRY[op.name] = op
    return op


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SlimirError(f"unknown op type {name!r}") from None


def registered_ops() -> dict:
    return dict(_REGISTRY)


# ------------------------------------------------------------------------------------------
# Building nodes


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def convert_to_tensor(value, dtype: Optional[_dt.DType] = None, name: Optional[str] = None,
                      graph=None) -> Tensor:
    """A Tensor as it is, or a Python/numpy value as a constant in the (given or default) graph."""
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype is not _dt.as_dtype(dtype):
            raise DTypeError(
                f"{value.name}: expected dtype {_dt.as_dtype(dtype).name}, got {value.dtype.name}")
        return value
    if isinstance(value, Node):
        raise GraphError(f"expected a tensor, got the operation {value.name} (use op.outputs[0])")
    if getattr(value, "_slimir_host_tensor", False):  # slim.data host tensor: apply_op maps the op per example
        if dtype is not None and value.dtype is not None and value.dtype is not _dt.as_dtype(dtype):
            raise DTypeError(f"{value.name}: expected dtype {_dt.as_dtype(dtype).name}, got {value.dtype.name}")
        return value
    from . import array_ops  # noqa: F401  (registers 'const')

    return array_ops.constant(value, dtype=dtype, name=name or "Const", graph=graph)


def apply_op(op_type: str, inputs: Sequence, name: Optional[str] = None, *, exact_name: bool = False,
             tensor_cls=Tensor, **attrs) -> Any:
    """Add one node of `op_type` to the graph of its inputs; returns its output(s).

    The op's shape rule runs here, so bad shapes fail where the user made the mistake, with the
    node's scope in the message.
    """
    if any(getattr(x, "_slimir_host_tensor", False) for x in inputs):  # slim.data host tensors: map per example
        from ..data.host import apply_host_op

        return apply_host_op(op_type, inputs, attrs)
    op = get_op(op_type)
    graph = _graph_for(inputs)
    inputs = [convert_to_tensor(x, graph=graph) if not isinstance(x, Tensor) else x for x in inputs]
    attrs = {k: _freeze(v) for k, v in attrs.items()}
    specs = [Spec(t.shape, t.dtype) for t in inputs]
    base = name or op.default_name
    try:
        outs = op.shape(specs, **attrs)
    except (ShapeError, InvalidArgumentError, DTypeError) as e:
        where = graph.get_name_scope()
        where = f"{where}/{base}" if where else base
        what = f"{where}: {op_type}" if where.rpartition("/")[2].lower() != op_type.lower() else where
        raise type(e)(f"{what}: {e}") from None
    node = graph.add_node(op_type, inputs, attrs, outs, base, exact_name=exact_name, tensor_cls=tensor_cls)
    if len(node.outputs) == 1:
        return node.outputs[0]
    if not node.outputs:
        return node
    return tuple(node.outputs)


def _graph_for(inputs):
    graph = None
    for t in inputs:
        if isinstance(t, Tensor):
            if graph is None:
                graph = t.graph
            elif t.graph is not graph:
                raise GraphError(f"{t.name} belongs to another graph than {inputs[0].name}")
    default = get_default_graph()
    if graph is None:
        return default
    if graph is not default:
        from ..graph import _default_graph_stack

        if _default_graph_stack():
            raise GraphError(
                f"{next(t for t in inputs if isinstance(t, Tensor)).name} belongs to another graph than "
                "the default graph being built (enter its graph with `with g.as_default():`)")
    return graph


# ------------------------------------------------------------------------------------------
# Helpers for shape rules


def expect_rank(spec: Spec, ranks, what: str = "input") -> None:
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if len(spec.shape) not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"expects {what} of rank {want}, got {fmt(spec.shape)}")


def expect_float(spec: Spec, what: str = "input") -> None:
    if not spec.dtype.is_floating:
        raise DTypeError(f"expects a floating-point {what}, got {spec.dtype.name}")


def same_dtype(specs: Sequence[Spec]) -> _dt.DType:
    d = specs[0].dtype
    for s in specs[1:]:
        if s.dtype is not d:
            raise DTypeError(f"inputs must have the same dtype, got {d.name} and {s.dtype.name}")
    return d


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def numel(shape) -> Optional[int]:
    return Shape(shape).num_elements()


def numel1(shape) -> int:
    """Element count for FLOP rules: unknown dims count as 1 (so an open batch gives per-example FLOPs)."""
    n = 1
    for d in shape:
        n *= 1 if d is None else int(d)
    return n


def np_dtype(spec_or_dtype) -> np.dtype:
    d = spec_or_dtype.dtype if isinstance(spec_or_dtype, Spec) else spec_or_dtype
    return d.np
