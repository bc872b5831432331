"""Reverse-mode autodiff over the IR: `gradients(ys, xs)` adds the backward graph, built from each op's VJP
while the user builds the graph (TF's tf.gradients; `slim.gradients`, used by the optimisers).

Like TF's tf.gradients: the backward nodes live in the same graph under the name scope `gradients/`
(`gradients/conv1/Conv2D_grad/...`); integer inputs and non-differentiable ops get no gradient;
unused branches get None; fan-out sums the partial gradients (add_n).
"""

from __future__ import annotations

from typing import Optional

from ..errors import DTypeError, GraphError, InvalidArgumentError, ShapeError
from ..shape import compatible, fmt
from .analysis import needed_nodes
from .graph import Tensor
from .registry import apply_op, get_op


def _float(t: Tensor) -> bool:
    return t.dtype.is_floating


def _on_path(ys, xs, stop: set) -> set:
    """Ids of nodes that lie on a path from some x to some y (stopping at `stop` tensors)."""
    x_ids = {id(x) for x in xs}
    on = set()
    for n in needed_nodes(ys, set()):  # dependency order: inputs first
        if any(id(t) in x_ids or id(t.op) in on for t in n.inputs if id(t) not in stop):
            on.add(id(n))
    return on


def gradients(ys, xs, grad_ys=None, name: str = "gradients", stop_gradients=None,
              colocate_gradients_with_ops: bool = False, gate_gradients: bool = False,
              aggregation_method=None) -> list:
    """d(sum(ys))/d(xs): a list with one tensor (or None when x does not affect ys) per x."""
    ys = [ys] if isinstance(ys, Tensor) else list(ys)
    xs = [xs] if isinstance(xs, Tensor) else list(xs)
    if not ys:
        return [None] * len(xs)
    graph = ys[0].graph
    for t in ys + xs:
        if not isinstance(t, Tensor):
            raise InvalidArgumentError(f"gradients expects tensors, got {t!r}")
        if t.graph is not graph:
            raise GraphError(f"gradients: {t.name} belongs to another graph than {ys[0].name}")
    if grad_ys is None:
        grad_ys = [None] * len(ys)
    elif isinstance(grad_ys, Tensor):
        grad_ys = [grad_ys]
    if len(grad_ys) != len(ys):
        raise InvalidArgumentError(f"gradients: {len(grad_ys)} grad_ys for {len(ys)} ys")
    stop = {id(t) for t in (stop_gradients or [])}
    on = _on_path(ys, xs, stop)
    x_ids = {id(x) for x in xs}
    partial: dict = {}  # id(tensor) -> [partial grads]
    with graph.as_default(), graph.name_scope(name):
        for y, gy in zip(ys, grad_ys):
            if not _float(y):
                raise DTypeError(f"gradients: {y.name} has dtype {y.dtype.name}; only floating tensors can be "
                                 "differentiated")
            if gy is None:
                gy = apply_op("fill_like", [y], name=f"{y.op.name.replace('/', '_')}_grad_ys", value=1.0, dtype=None)
            elif not compatible(gy.shape, y.shape):
                raise ShapeError(f"gradients: grad_ys {fmt(gy.shape)} does not match {y.name} {fmt(y.shape)}")
            partial.setdefault(id(y), []).append(gy)
        order = [n for n in needed_nodes(ys, stop) if id(n) in on]
        for node in reversed(order):
            out_grads = [_sum(partial.get(id(t)), t) for t in node.outputs]
            if all(g is None for g in out_grads):
                continue
            op = get_op(node.type)
            if not op.differentiable:
                continue
            if op.vjp is None:
                raise InvalidArgumentError(f"{node.name}: no gradient is defined for op {node.type}")
            with graph.name_scope(node.name + "_grad"):
                in_grads = op.vjp(node, out_grads)
            if len(in_grads) != len(node.inputs):
                raise GraphError(f"{node.name}: the VJP of {node.type} gave {len(in_grads)} gradients for "
                                 f"{len(node.inputs)} inputs")
            for t, g in zip(node.inputs, in_grads):
                if g is None or not _float(t) or id(t) in stop:
                    continue
                if id(t.op) not in on and id(t) not in x_ids:
                    continue
                partial.setdefault(id(t), []).append(g)
        return [_sum(partial.get(id(x)), x) for x in xs]


def _sum(grads: Optional[list], like: Tensor):
    if not grads:
        return None
    if len(grads) == 1:
        return grads[0]
    return apply_op("add_n", grads)
