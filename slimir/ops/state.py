"""Stateful and control ops: assign (variable updates), variable initialisation, no_op/group, Print, the
run-time checks check_numerics, check_labels and assert (TF's tf.Assert), and count_up_to.

Their run-time effect is carried out by the Session: `assign` lowers to the new value, which the
Session writes back into the variable after the run; `init_variables` and `no_op` run in Python. A check
op lowers to Identities whose values the Session hands to the op's `extra["check"](node, values)` after the
run and before writing any variable: an error it returns is raised, and the variables stay as they were.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, NumericsError, OutOfRangeError, ShapeError, SlimirError
from ..ir.graph import Node, Tensor, Variable, control_dependencies, get_default_graph, name_scope
from ..ir.registry import OpDef, Spec, apply_op, convert_to_tensor, register
from ..shape import compatible, fmt


def _assign_shape(specs, var):
    v = specs[0]
    if v.dtype is not var.dtype:
        raise DTypeError(f"cannot assign a {v.dtype.name} value to {var.name} of dtype {var.dtype.name}")
    if not compatible(v.shape, var.shape):
        raise ShapeError(f"cannot assign a value of shape {fmt(v.shape)} to {var.name} of shape {fmt(var.shape)}")
    return [Spec(var.shape, var.dtype)]


register(OpDef("assign", _assign_shape, lambda b, node, v: b.op("Identity", [v]), lambda v, var: v,
               default_name="Assign", stateful=True, differentiable=False, side_effect=True))


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


Variable.assign = lambda self, value, name=None: assign(self, value, name=name)
Variable.assign_add = lambda self, delta, name=None: assign_add(self, delta, name=name)
Variable.assign_sub = lambda self, delta, name=None: assign_sub(self, delta, name=name)


def _no_outputs(specs, **_):
    return []


register(OpDef("init_variables", _no_outputs, None, None, default_name="init", stateful=True,
               differentiable=False, python_side=True))
register(OpDef("no_op", _no_outputs, None, None, default_name="NoOp", differentiable=False, python_side=True))


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
               default_name="Print", stateful=True, side_effect=True,
               vjp=lambda node, grads: [grads[0]] + [None] * (len(node.inputs) - 1)))


def Print(input_, data, message: Optional[str] = None, first_n: Optional[int] = None, summarize: Optional[int] = None,
          name: Optional[str] = None) -> Tensor:
    """Identity on `input_` that prints `message` and the values of `data` when run (TF's tf.Print)."""
    return apply_op("print", [input_] + list(data), name=name, message=message or "",
                    first_n=-1 if first_n is None else int(first_n),
                    summarize=3 if summarize is None else int(summarize))


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


def _numerics_failure(node: Node, values) -> Optional[SlimirError]:
    """The NumericsError of a check_numerics output holding NaN or Inf (None when all finite)."""
    v = np.asarray(values[0])
    if np.all(np.isfinite(v)):
        return None
    kind = "NaN" if np.any(np.isnan(v)) else "Inf"
    return NumericsError(f"{node.attrs['message']} : Tensor {node.inputs[0].name} had {kind} values "
                         "(the variables were not updated by this run)")


register(OpDef("check_numerics", lambda specs, message: [specs[0]],
               lambda b, node, x: b.op("Identity", [x]), lambda x, message: x,
               default_name="CheckNumerics", stateful=True, side_effect=True, vjp=lambda node, grads: [grads[0]],
               extra={"check": _numerics_failure}))


def check_numerics(tensor, message: str, name: Optional[str] = None) -> Tensor:
    """`tensor`, checked for NaN and Inf whenever it is computed (TF's tf.check_numerics)."""
    return apply_op("check_numerics", [tensor], name=name, message=str(message))


# ------------------------------------------------------------------------------------------
# check_labels: identity of integer class ids that makes the Session raise on one outside [0, num_classes)


def _labels_message(value, num_classes: int, message: str, tensor: str) -> Optional[str]:
    """TF's text for the first label outside [0, num_classes) in `value` (None when all are in range)."""
    v = np.asarray(value)
    bad = (v < 0) | (v >= num_classes)
    if not np.any(bad):
        return None
    first = v[bad].reshape(-1)[0]
    where = f"{message}: " if message else ""
    return (f"{where}Received a label value of {first} which is outside the valid range of [0, {num_classes}) "
            f"(tensor {tensor}: {int(bad.sum())} of {v.size} labels out of range)")


def _labels_failure(node: Node, values) -> Optional[SlimirError]:
    text = _labels_message(values[0], node.attrs["num_classes"], node.attrs["message"], node.inputs[0].name)
    return None if text is None else InvalidArgumentError(text + "; the variables were not updated by this run")


def _labels_reference(x, num_classes, message):
    text = _labels_message(x, num_classes, message, "labels")
    if text is not None:
        raise InvalidArgumentError(text)
    return x


def _labels_shape(specs, num_classes, message):
    if not specs[0].dtype.is_integer:
        raise DTypeError(f"{message or 'check_labels'}: labels must be integer class ids, got {specs[0].dtype.name}")
    return [specs[0]]


register(OpDef("check_labels", _labels_shape, lambda b, node, x: b.op("Identity", [x]), _labels_reference,
               default_name="CheckLabels", stateful=True, side_effect=True, differentiable=False,
               extra={"check": _labels_failure}))


def check_labels(labels, num_classes: int, message: str = "", name: Optional[str] = None) -> Tensor:
    """`labels` (integer class ids), checked to lie in [0, num_classes) whenever they are computed: a run
    that computes a label outside raises InvalidArgumentError with TF's "Received a label value of 7 which is
    outside the valid range of [0, 3)", naming the tensor, before it writes any variable. (TF checks inside
    its sparse cross-entropy kernel; slimir checks with this one identity.) Constant labels are checked here,
    when the graph is built."""
    labels = convert_to_tensor(labels)
    num_classes = int(num_classes)
    if num_classes < 1:
        raise InvalidArgumentError(f"check_labels: num_classes must be >= 1, got {num_classes}")
    if labels.op.type == "const":
        text = _labels_message(labels.op.attrs["value"], num_classes, message, labels.name)
        if text is not None:
            raise InvalidArgumentError(text)
    return apply_op("check_labels", [labels], name=name, num_classes=num_classes, message=str(message))


# ------------------------------------------------------------------------------------------
# assert: the Session raises (before any variable is written) when the condition is false (TF's tf.Assert)


_ERRORS = {"InvalidArgumentError": InvalidArgumentError, "OutOfRangeError": OutOfRangeError}


def _assert_shape(specs, message, summarize, error):
    c = specs[0]
    if not c.dtype.is_bool:
        raise ShapeError(f"Assert needs a bool condition, got {c.dtype.name} {fmt(c.shape)}")
    if error not in _ERRORS:
        raise InvalidArgumentError(f"Assert: unknown error class {error!r}")
    return list(specs)


def assert_failure(node: Node, values) -> Optional[Exception]:
    """The error a run of the assert `node` raises, given its output values (condition first: every element
    must hold), else None."""
    if bool(np.all(values[0])):
        return None
    n = node.attrs["summarize"]
    parts = []
    for v in values[1:]:
        flat = np.asarray(v).reshape(-1)
        parts.append("[" + " ".join(str(x) for x in flat[:n]) + ("..." if flat.size > n else "") + "]")
    msg = node.attrs["message"] or f"assertion failed: {node.name}"
    return _ERRORS[node.attrs["error"]](" ".join([msg] + parts))


def _assert_ref(*values, message, summarize, error):
    # the reference interpreter has no node: rebuild the message from the attributes
    class _N:
        name = "Assert"
        attrs = {"message": message, "summarize": summarize, "error": error}

    err = assert_failure(_N, values)
    if err is not None:
        raise err
    return values if len(values) > 1 else values[0]


register(OpDef("assert", _assert_shape, lambda b, node, *xs: [b.op("Identity", [x]) for x in xs], _assert_ref,
               default_name="Assert", stateful=True, side_effect=True, differentiable=False,
               extra={"check": assert_failure}))


def make_assert(condition, data=(), summarize: Optional[int] = None, name: Optional[str] = None,
                error: str = "InvalidArgumentError", message: str = "") -> Node:
    """An op that makes the run fail with `error` when `condition` is false (TF's tf.Assert); strings in
    `data` join the message, tensors are printed after it. Returns the op (use it in control_dependencies)."""
    texts = [message] if message else []
    tensors = []
    for d in data or ():
        if isinstance(d, (str, bytes)):
            texts.append(d.decode() if isinstance(d, bytes) else d)
        else:
            tensors.append(convert_to_tensor(d))
    cond = convert_to_tensor(condition)
    if cond.dtype is not _dt.bool_:
        raise DTypeError(f"Assert: the condition must be bool, got {cond.dtype.name}")
    out = apply_op("assert", [cond] + tensors, name=name or "Assert", message=" ".join(texts),
                   summarize=3 if summarize is None else int(summarize), error=error)
    return (out[0] if isinstance(out, tuple) else out).op


def assert_all(condition, message: str, name: Optional[str] = None):
    """A run-time assertion (TF's assert ops): running it, or anything with a control dependency on it, makes
    the Session raise InvalidArgumentError(message) when an element of the bool `condition` is false, before
    it writes any variable of that run. Returns the assert op."""
    return make_assert(condition, name=name, message=str(message))


# ------------------------------------------------------------------------------------------
# count_up_to (TF's Variable.count_up_to): an increment guarded by an assert that raises OutOfRangeError


def count_up_to(ref, limit: int, name: Optional[str] = None) -> Tensor:
    """The value of the integer variable `ref` before this run, which increments it; a run that finds it at
    `limit` or beyond raises OutOfRangeError and changes nothing (TF's count_up_to)."""
    from .array import cast, identity

    if not isinstance(ref, Variable):
        raise DTypeError(f"count_up_to needs a variable, got {getattr(ref, 'name', ref)!r}")
    if not ref.dtype.is_integer or len(ref.shape) != 0:
        raise DTypeError(f"count_up_to needs a scalar int32/int64 variable, got {ref.dtype.name} {fmt(ref.shape)}")
    with name_scope(name, "CountUpTo"):
        below = ref < cast(convert_to_tensor(np.array(int(limit), ref.dtype.np)), ref.dtype)
        check = make_assert(below, name="Assert", error="OutOfRangeError", message=f"Reached limit of {int(limit)}")
        with control_dependencies([check]):
            inc = assign(ref, ref + np.array(1, ref.dtype.np))
        with control_dependencies([inc.op]):
            return identity(ref, name="CountUpTo")


def _variable_count_up_to(self: Variable, limit: int) -> Tensor:
    """Increment this integer variable when run, returning its value before the increment; a run that finds it
    at `limit` or beyond raises OutOfRangeError (TF's Variable.count_up_to)."""
    return count_up_to(self, limit)


Variable.count_up_to = _variable_count_up_to


# ------------------------------------------------------------------------------------------
# summary: identity of a value to report under a tag (scalar or histogram)


register(OpDef("summary", lambda specs, tag, kind: [specs[0]], lambda b, node, x: b.op("Identity", [x]),
               lambda x, tag, kind: x, default_name="Summary", differentiable=False))
