"""Stateful and control ops: assign (variable updates), variable initialisation, no_op/group, Print.

Their run-time effect is carried out by the Session: `assign` lowers to the new value, which the
Session writes back into the variable after the run; `init_variables` and `no_op` run in Python.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, ShapeError
from ..graph import Node, Tensor, Variable, get_default_graph
from ..shape import compatible, fmt
from .registry import OpDef, Spec, apply_op, convert_to_tensor, register


def _assign_shape(specs, var):
    v = specs[0]
    if v.dtype is not var.dtype:
        raise DTypeError(f"cannot assign a {v.dtype.name} value to {var.name} of dtype {var.dtype.name}")
    if not compatible(v.shape, var.shape):
        raise ShapeError(f"cannot assign a value of shape {fmt(v.shape)} to {var.name} of shape {fmt(var.shape)}")
    return [Spec(var.shape, var.dtype)]


register(OpDef("assign", _assign_shape, lambda b, node, v: b.op("Identity", [v]), lambda v, var: v,
               default_name="Assign", stateful=True, differentiable=False))


def assign(ref: Variable, value, name: Optional[str] = None) -> Tensor:
    """Write `value` into the variable `ref` when run; returns the new value (TF's tf.assign)."""
    if not isinstance(ref, Variable):
        raise DTypeError(f"assign needs a variable, got {getattr(ref, 'name', ref)!r}")
    value = convert_to_tensor(value, dtype=ref.dtype, graph=ref.graph) if not isinstance(value, Tensor) else value
    return apply_op("assign", [value], name=name, var=ref)


def assign_add(ref: Variable, value, name: Optional[str] = None) -> Tensor:
    return assign(ref, ref + value, name=name or "AssignAdd")


def assign_sub(ref: Variable, value, name: Optional[str] = None) -> Tensor:
    return assign(ref, ref - value, name=name or "AssignSub")


def _no_outputs(specs, **_):
    return []


register(OpDef("init_variables", _no_outputs, None, None, default_name="init", stateful=True,
               differentiable=False))
register(OpDef("no_op", _no_outputs, None, None, default_name="NoOp", differentiable=False))


def init_variables_op(var_list, name: str = "init") -> Node:
    """An op that (re)initialises `var_list` when run."""
    with get_default_graph().control_dependencies(None):
        return apply_op("init_variables", [], name=name, vars=tuple(var_list))


def no_op(name: Optional[str] = None) -> Node:
    return apply_op("no_op", [], name=name)


def group(*inputs, name: Optional[str] = None) -> Node:
    """An op that runs all `inputs` (TF's tf.group)."""
    flat = []
    for x in inputs:
        if isinstance(x, (list, tuple)):
            flat.extend(x)
        elif x is not None:
            flat.append(x)
    with get_default_graph().control_dependencies(flat):
        return no_op(name=name or "group_deps")


def _print_shape(specs, message, first_n, summarize):
    return [specs[0]]


def _print_ref(x, *data, message, first_n, summarize):
    return x


register(OpDef("print", _print_shape, lambda b, node, x, *data: b.op("Identity", [x]), _print_ref,
               default_name="Print", stateful=True,
               vjp=lambda node, grads: [grads[0]] + [None] * (len(node.inputs) - 1)))


def Print(input_, data, message: Optional[str] = None, first_n: Optional[int] = None, summarize: Optional[int] = None,
          name: Optional[str] = None) -> Tensor:
    """Identity on `input_` that prints `message` and the values of `data` when run (TF's tf.Print)."""
    return apply_op("print", [input_] + list(data), name=name, message=message or "",
                    first_n=-1 if first_n is None else int(first_n), summarize=3 if summarize is None else int(summarize))


def format_print(node: Node, values) -> str:
    """The line tf.Print writes: the message then each value, at most `summarize` entries each."""
    parts = []
    n = node.attrs["summarize"]
    for v in values:
        flat = np.asarray(v).reshape(-1)
        body = " ".join(str(x) for x in flat[:n])
        parts.append("[" + body + ("..." if flat.size > n else "") + "]")
    return node.attrs["message"] + "".join(parts)


# ------------------------------------------------------------------------------------------
# check_numerics: identity that makes the Session raise (before any variable is written) on NaN/Inf


# The `error` attribute names the slimir error the Session raises: NumericsError for check_numerics,
# InvalidArgumentError for run-time assertions (assert_all), as TF's assert ops raise.
register(OpDef("check_numerics", lambda specs, message, error="NumericsError": [specs[0]],
               lambda b, node, x: b.op("Identity", [x]), lambda x, message, error="NumericsError": x,
               default_name="CheckNumerics", stateful=True, vjp=lambda node, grads: [grads[0]]))


def check_numerics(tensor, message: str, name: Optional[str] = None) -> Tensor:
    """`tensor`, checked for NaN and Inf whenever it is computed (TF's tf.check_numerics)."""
    return apply_op("check_numerics", [tensor], name=name, message=str(message))


def assert_all(condition, message: str, name: Optional[str] = None) -> Tensor:
    """A run-time assertion (TF's assert ops): running it, or anything with a control dependency on it,
    makes the Session raise InvalidArgumentError(message) when an element of the bool `condition` is
    false, before any variable of that run is written."""
    from . import array_ops, math_ops

    cond = convert_to_tensor(condition)
    if len(cond.shape):
        cond = math_ops.reduce_min(array_ops.cast(cond, _dt.float32)) > 0.5
    flag = math_ops.where(cond, np.float32(0.0), np.float32(np.nan))
    return apply_op("check_numerics", [flag], name=name or "Assert", message=str(message),
                    error="InvalidArgumentError")


# ------------------------------------------------------------------------------------------
# summary: identity of a value to report under a tag (scalar or histogram)


register(OpDef("summary", lambda specs, tag, kind: [specs[0]], lambda b, node, x: b.op("Identity", [x]),
               lambda x, tag, kind: x, default_name="Summary", differentiable=False))
