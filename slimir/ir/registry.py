"""The op registry: each op declared once with its shape rule, ONNX lowering, numpy reference, VJP, FLOPs
and the properties the passes read (its elementwise/layout class, whether fusions may absorb it).

An op module (`ops/conv.py`, ...) calls `register(OpDef(...))` for each op it holds; everything else
(graph building, lowering, the reference interpreter, autodiff, FLOP counting, the passes' op sets) looks
ops up here. Values that are not graph tensors (slim.data's host tensors) reach their own implementation
through dispatch hooks (`register_dispatch`), so this module imports nothing above the IR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Optional, Sequence

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, GraphError, InvalidArgumentError, ShapeError, SlimirError
from ..shape import fmt
from .graph import Node, Tensor, _default_graph_stack, get_default_graph


class Spec(NamedTuple):
    """The static type of a value: shape (tuple, None for unknown dims) and dtype."""

    shape: tuple
    dtype: _dt.DType


#: OpDef.kind values the passes read. "unary": one input, elementwise, output shaped as the input;
#: "binary": two inputs, elementwise with numpy broadcasting; "reduce": `axis`/`keepdims` reductions.
KINDS = ("", "unary", "binary", "reduce")


@dataclass(frozen=True)
class Layout:
    """How an op that has an NHWC and an NCHW form moves to NCHW (the layout pass reads it).

    inputs / outputs: indices of its 4-D activation inputs / outputs (the ones transposed).
    to_nchw(node) -> attrs of the NCHW form, or None when the node is not an NHWC 4-D node.
    """

    inputs: tuple
    outputs: tuple
    to_nchw: Callable


def _data_format_to_nchw(node) -> Optional[dict]:
    attrs = dict(node.attrs)
    if attrs.get("data_format", "NHWC") != "NHWC" or len(node.inputs[0].shape) != 4:
        return None
    attrs["data_format"] = "NCHW"
    if "input_shape" in attrs:
        n, h, w, c = attrs["input_shape"]
        attrs["input_shape"] = (n, c, h, w)
    return attrs


def data_format_layout(inputs: tuple = (0,), outputs: tuple = (0,)) -> Layout:
    """The Layout of an op with a `data_format` attribute ('NHWC' | 'NCHW')."""
    return Layout(tuple(inputs), tuple(outputs), _data_format_to_nchw)


@dataclass
class OpDef:
    """Everything slimir knows about one op.

    shape(specs, **attrs) -> list[Spec]               static shape/dtype rule; raises ShapeError etc.
    lower(b, node, *input_names) -> name | [names]    emits ONNX nodes through the lowering builder `b`
    reference(*arrays, **attrs) -> array | tuple      numpy semantics, the ground truth for tests
    vjp(node, grads) -> list[Tensor | None]           IR expression of input gradients
    flops(node) -> int                                multiply-adds counted as 2 FLOPs
    kind                                              "unary" | "binary" | "reduce" | "" (see KINDS)
    layout                                            Layout of an op with NHWC and NCHW forms, else None
    activation(y, g, attrs) -> Tensor                 for an activation that fusions may absorb into the
                                                      layer before it: d/d(input) from the OUTPUT y
    python_side                                       the Session runs it in Python (no ONNX node)
    side_effect                                       kept when only reached through control dependencies
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
    kind: str = ""
    layout: Optional[Layout] = None
    activation: Optional[Callable] = None
    python_side: bool = False
    side_effect: bool = False
    extra: dict = field(default_factory=dict)


_REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add `op` to the registry (each name once)."""
    if op.name in _REGISTRY:
        raise SlimirError(f"op {op.name!r} is registered twice")
    if op.kind not in KINDS:
        raise SlimirError(f"op {op.name!r}: unknown kind {op.kind!r} (one of {KINDS})")
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
    """{name: OpDef} of every registered op."""
    return dict(_REGISTRY)


def ops_where(pred: Callable[[OpDef], bool]) -> frozenset:
    """The names of the registered ops for which `pred(op)` holds (the passes' op sets)."""
    return frozenset(n for n, op in _REGISTRY.items() if pred(op))


# ------------------------------------------------------------------------------------------
# Dispatch hooks: values that are not graph tensors (slim.data's host tensors) bring their own apply_op

_DISPATCH: list = []  # (claims(value) -> bool, apply(op_type, inputs, attrs) -> result)


def register_dispatch(claims: Callable[[Any], bool], apply: Callable[[str, Sequence, dict], Any]) -> None:
    """Route `apply_op` calls with an input that `claims` to `apply(op_type, inputs, attrs)`."""
    _DISPATCH.append((claims, apply))


def dispatched(value) -> bool:
    """Whether a dispatch hook claims `value` (then it is passed through as it is, not made a constant)."""
    return any(claims(value) for claims, _ in _DISPATCH)


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
    if _DISPATCH and dispatched(value):  # e.g. a slim.data host tensor: apply_op hands the op to its hook
        if dtype is not None and value.dtype is not None and value.dtype is not _dt.as_dtype(dtype):
            raise DTypeError(f"{value.name}: expected dtype {_dt.as_dtype(dtype).name}, got {value.dtype.name}")
        return value
    arr = constant_array(value, dtype)
    g = graph or get_default_graph()
    if graph is None:
        return apply_op("const", [], name=name or "Const", value=arr)
    with g.as_default():
        return apply_op("const", [], name=name or "Const", value=arr)


def constant_array(value, dtype=None, shape=None) -> np.ndarray:
    """`value` as the read-only array of a constant (TF's rules: Python floats float32, ints int32; numpy scalars
    and arrays keep their dtype)."""
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        arr = np.asarray(value)
        if arr.dtype.kind == "f" and dtype.is_integer:
            raise DTypeError(f"constant: cannot convert float value {value!r} to {dtype.name}")
        arr = arr.astype(dtype.np)
    else:
        arr = np.asarray(value)
        if arr.dtype == np.float64 and not isinstance(value, (np.ndarray, np.generic)):
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64 and not isinstance(value, (np.ndarray, np.generic)):
            arr = arr.astype(np.int32)
        elif arr.dtype.kind == "O" or arr.dtype.kind == "U":
            raise DTypeError(f"constant: cannot make a tensor from {value!r}")
        _dt.as_dtype(arr.dtype)
    if shape is not None:
        shape = tuple(int(d) for d in shape)
        if arr.size == 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == int(np.prod(shape)):
            arr = arr.reshape(shape)
        else:
            raise ShapeError(f"constant: {arr.size} values cannot fill shape {fmt(shape)}")
    arr = np.array(arr, order="C")  # (np.ascontiguousarray would turn a scalar into shape [1])
    arr.setflags(write=False)
    return arr


def apply_op(op_type: str, inputs: Sequence, name: Optional[str] = None, *, exact_name: bool = False,
             tensor_cls=Tensor, **attrs) -> Any:
    """Add one node of `op_type` to the graph of its inputs; returns its output(s).

    The op's shape rule runs here, so bad shapes fail where the user made the mistake, with the
    node's scope in the message.
    """
    for claims, apply in _DISPATCH:
        if any(claims(x) for x in inputs):
            return apply(op_type, inputs, attrs)
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


def numel1(shape) -> int:
    """Element count for FLOP rules: unknown dims count as 1 (so an open batch gives per-example FLOPs)."""
    n = 1
    for d in shape:
        n *= 1 if d is None else int(d)
    return n


def np_dtype(spec_or_dtype) -> np.dtype:
    d = spec_or_dtype.dtype if isinstance(spec_or_dtype, Spec) else spec_or_dtype
    return d.np
