"""The Optimizer base class of slimir.train (TF1's tf.train.Optimizer): minimize = compute_gradients (autodiff
over the IR) + apply_gradients (one `assign` per variable and slot), slots named as TF names them.

An optimiser turns (gradient, variable) pairs into `assign` ops. slimir applies every assign of one
`sess.run` after the run, and every update reads the values from before the run, so an update is
written as a pure function of the old variable, its slots and the gradient. Slot variables are named as TF
names them (`conv1/weights/Momentum`, `conv1/weights/Adam`, `conv1/weights/Adam_1`), are non-trainable and
sit in GLOBAL_VARIABLES, so savers save them.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, GraphError, InvalidArgumentError, ShapeError
from ..initializers import Zeros
from ..ir.autodiff import gradients
from ..ir.graph import Graph, GraphKeys, Node, Tensor, Variable, VariableScope, get_default_graph
from ..ir.registry import convert_to_tensor
from ..ops.array import cast, constant
from ..ops.state import group
from ..shape import compatible, fmt
from ..variables import Variable_, get_variable

TRAIN_OP = "train_op"  # TF's GraphKeys.TRAIN_OP: apply_gradients adds its op there


# ------------------------------------------------------------------------------------------
# Hyper-parameter checks


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Real, np.number)) and not isinstance(v, bool)


def _static_value(v):
    """The Python value of a number or of a constant tensor; None when only known at run time."""
    if _is_number(v):
        return float(v)
    if isinstance(v, Tensor) and v.op.type == "const":
        arr = np.asarray(v.op.attrs["value"])
        if arr.size == 1 and arr.dtype.kind in "fiu":
            return float(arr.reshape(()))
    return None


def _check_hyper(opt_name: str, name: str, value, lo: float, hi: Optional[float] = None, *,
                 lo_open: bool = False, hi_open: bool = True) -> None:
    """Raise InvalidArgumentError naming `name` when its (static) value is outside the range."""
    if value is None:
        raise InvalidArgumentError(f"{opt_name}: {name} must be given, got None")
    if isinstance(value, Tensor):
        if not value.dtype.is_floating:
            raise DTypeError(f"{opt_name}: {name} must be a floating-point tensor, got {value.name} of dtype "
                             f"{value.dtype.name}")
        if len(value.shape) != 0:
            raise ShapeError(f"{opt_name}: {name} must be a scalar, got {value.name} of shape {fmt(value.shape)}")
    elif not (_is_number(value) or callable(value)):
        raise InvalidArgumentError(f"{opt_name}: {name} must be a number or a scalar tensor, got {value!r}")
    v = _static_value(value)
    if v is None:
        return
    below = v <= lo if lo_open else v < lo
    above = hi is not None and (v >= hi if hi_open else v > hi)
    if not math.isfinite(v) or below or above:
        left = "(" if lo_open else "["
        right = ("inf)" if hi is None else f"{hi:g}" + (")" if hi_open else "]"))
        raise InvalidArgumentError(f"{opt_name}: {name} must be in {left}{lo:g}, {right}, got {v:g}")


# ------------------------------------------------------------------------------------------
# The Optimizer base class


@contextlib.contextmanager
def _root_scopes(graph: Graph):
    """Create variables as at the top of the graph: root variable scope, no name scope, no control deps."""
    saved = graph._var_scope
    graph._var_scope = VariableScope("", reuse=None)
    try:
        with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None):
            yield
    finally:
        graph._var_scope = saved


def _unique_slot_name(graph: Graph, base: str) -> str:
    """`base`, or `base_1`, `base_2`... if taken (TF uniquifies the slot's variable scope the same way)."""
    def taken(n):
        return n in graph._var_store or n in graph._by_name or graph._var_scope_counts.get(n, 0) > 0

    if not taken(base):
        return base
    i = 1
    while taken(f"{base}_{i}"):
        i += 1
    return f"{base}_{i}"


class Optimizer:
    """Base class of the optimisers (TF1's tf.train.Optimizer).

    Subclasses declare their hyper-parameters in `self._hyper`, create slots in `_create_slots`
    and return the new values as assign tensors from `_apply_dense(grad, var)`; `_finish`
    may add assigns that run once per step (Adam's beta powers).
    """

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking: bool, name: str):
        if not name:
            raise InvalidArgumentError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._hyper: dict = {}  # name -> number, scalar tensor or callable (as given)
        self._slots: dict = {}  # slot name -> {variable: slot variable}
        self._non_slot_dict: dict = {}  # (name, graph) -> variable
        self._prepared: dict = {}  # (name, dtype) -> tensor, valid during one apply_gradients

    def get_name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<slim.train.{type(self).__name__} '{self._name}'>"

    # -- the public API
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                 colocate_gradients_with_ops: bool = False, name: Optional[str] = None, grad_loss=None):
        """compute_gradients then apply_gradients; returns the op that updates `var_list` (and the step)."""
        grads_and_vars = self.compute_gradients(loss, var_list=var_list, gate_gradients=gate_gradients,
                                                aggregation_method=aggregation_method,
                                                colocate_gradients_with_ops=colocate_gradients_with_ops,
                                                grad_loss=grad_loss)
        if not any(g is not None for g, _ in grads_and_vars):
            raise InvalidArgumentError(
                f"{self._name}: No gradients provided for any variable, check your graph for ops that do not "
                f"support gradients, between variables {[v.op.name for _, v in grads_and_vars]} and loss "
                f"{loss.name}.")
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP, aggregation_method=None,
                          colocate_gradients_with_ops: bool = False, grad_loss=None) -> list:
        """[(gradient or None, variable)] of `loss` for `var_list` (default: the trainable variables)."""
        if callable(loss) and not isinstance(loss, Tensor):
            loss = loss()
        if gate_gradients not in (Optimizer.GATE_NONE, Optimizer.GATE_OP, Optimizer.GATE_GRAPH):
            raise InvalidArgumentError(
                f"{self._name}: gate_gradients must be one of: Optimizer.GATE_NONE, Optimizer.GATE_OP, "
                f"Optimizer.GATE_GRAPH. Not {gate_gradients}")
        if not isinstance(loss, Tensor):
            raise InvalidArgumentError(f"{self._name}: the loss must be a tensor, got {loss!r}")
        if not loss.dtype.is_floating:
            raise DTypeError(f"{self._name}: the loss {loss.name} has dtype {loss.dtype.name}; it must be "
                             "floating-point")
        if var_list is None:
            var_list = loss.graph.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        else:
            var_list = list(_flatten(var_list))
        if not var_list:
            raise InvalidArgumentError(f"{self._name}: No variables to optimize.")
        for v in var_list:
            self._check_variable(v)
            if v.graph is not loss.graph:
                raise GraphError(f"{self._name}: variable {v.op.name} belongs to another graph than the loss "
                                 f"{loss.name}")
        grads = gradients(loss, var_list, grad_ys=grad_loss, gate_gradients=gate_gradients == self.GATE_OP,
                          aggregation_method=aggregation_method,
                          colocate_gradients_with_ops=colocate_gradients_with_ops)
        return list(zip(grads, var_list))

    def apply_gradients(self, grads_and_vars, global_step=None, name: Optional[str] = None):
        """An op that applies the gradients (and, with `global_step`, adds 1 to it) when run."""
        pairs = self._convert_grads_and_vars(grads_and_vars)
        var_list = [v for g, v in pairs if g is not None]
        if not var_list:
            raise InvalidArgumentError(
                f"{self._name}: No gradients provided for any variable: {[v.op.name for _, v in pairs]}.")
        graph = var_list[0].graph
        if global_step is not None:
            if not isinstance(global_step, Variable):
                raise InvalidArgumentError(f"{self._name}: global_step must be a variable, got {global_step!r}")
            if global_step.graph is not graph:
                raise GraphError(f"{self._name}: global_step belongs to another graph than {var_list[0].op.name}")
        with _root_scopes(graph):
            self._create_slots(var_list)
        with graph.as_default(), graph.name_scope(name or self._name) as scope:
            self._prepared = {}
            self._prepare()
            updates = []
            for g, v in pairs:
                if g is None:
                    continue
                with graph.name_scope("update_" + v.op.name), graph.device(v.device):
                    updates.extend(self._apply_dense(g, v))
            updates.extend(self._finish(updates, graph))
            if global_step is not None:
                with graph.device(global_step.device):
                    updates.append(global_step.assign_add(1))
            op = group(*updates, name=scope)
            self._prepared = {}
        if op not in graph.get_collection(TRAIN_OP):
            graph.add_to_collection(TRAIN_OP, op)
        return op

    def get_slot(self, var, name: str):
        """The slot variable `name` ('m', 'momentum', 'rms', ...) created for `var`, or None."""
        return self._slots.get(name, {}).get(var)

    def get_slot_names(self) -> list:
        return sorted(self._slots)

    def variables(self) -> list:
        """The optimiser's variables in the default graph (slots and non-slot ones), sorted by name."""
        g = get_default_graph()
        out = [v for (_, vg), v in self._non_slot_dict.items() if vg is g]
        for per_var in self._slots.values():
            out.extend(s for s in per_var.values() if s.graph is g)
        return sorted(out, key=lambda v: v.name)

    # -- checks
    def _check_variable(self, v) -> None:
        if not isinstance(v, Variable):
            raise InvalidArgumentError(f"{self._name}: expected a variable, got {getattr(v, 'name', v)!r}")
        if not v.dtype.is_floating:
            raise DTypeError(f"{self._name}: cannot optimise variable {v.op.name} of dtype {v.dtype.name}; only "
                             "floating-point variables can be trained (leave it out of var_list / "
                             "variables_to_train)")

    def _convert_grads_and_vars(self, grads_and_vars) -> list:
        try:
            items = list(grads_and_vars)
        except TypeError:
            raise InvalidArgumentError(f"{self._name}: grads_and_vars must be a list of (gradient, variable) "
                                       f"pairs, got {grads_and_vars!r}") from None
        if not items:
            raise InvalidArgumentError(f"{self._name}: No variables provided.")
        pairs, seen = [], set()
        for item in items:
            try:
                g, v = item
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{self._name}: expected a (gradient, variable) pair, got {item!r}") \
                    from None
            self._check_variable(v)
            if g is not None:
                if isinstance(g, Node):
                    raise InvalidArgumentError(f"{self._name}: the gradient of {v.op.name} must be a tensor, got "
                                               f"the operation {g.name}")
                if not isinstance(g, Tensor):
                    with v.graph.as_default():
                        g = convert_to_tensor(np.asarray(g, dtype=v.dtype.np), graph=v.graph)
                if g.graph is not v.graph:
                    raise GraphError(f"{self._name}: the gradient {g.name} belongs to another graph than "
                                     f"{v.op.name}")
                if g.dtype is not v.dtype:
                    raise DTypeError(f"{self._name}: the gradient {g.name} of {v.op.name} has dtype "
                                     f"{g.dtype.name}, the variable {v.dtype.name}")
                if not compatible(g.shape, v.shape):
                    raise ShapeError(f"{self._name}: the gradient {g.name} of shape {fmt(g.shape)} does not fit "
                                     f"{v.op.name} of shape {fmt(v.shape)}")
                if v in seen:
                    raise InvalidArgumentError(f"{self._name}: variable {v.op.name} appears more than once in "
                                               "grads_and_vars; sum its gradients first")
                seen.add(v)
            pairs.append((g, v))
        return pairs

    # -- hyper-parameters: numbers, scalar tensors or callables, cast to each variable's dtype
    def _prepare(self) -> None:
        for hname, value in self._hyper.items():
            if callable(value) and not isinstance(value, Tensor):
                value = value()
            if isinstance(value, Tensor):
                t = value
            else:
                t = constant(float(value), dtype=_dt.float32, name=hname)
            self._prepared[(hname, None)] = t

    def _get_hyper(self, hname: str, dtype: _dt.DType) -> Tensor:
        key = (hname, dtype)
        t = self._prepared.get(key)
        if t is None:
            base = self._prepared[(hname, None)]
            if base.dtype is dtype:
                t = base
            else:
                value = _static_value(base) if base.op.type == "const" else None
                t = (constant(value, dtype=dtype, name=hname) if value is not None
                     else cast(base, dtype, name=hname + "_cast"))
            self._prepared[key] = t
        return t

    # -- slots
    def _slot_dict(self, slot_name: str) -> dict:
        return self._slots.setdefault(slot_name, {})

    def _get_or_make_slot_with_initializer(self, var: Variable, initializer, slot_name: str, op_name: str):
        named = self._slot_dict(slot_name)
        if var not in named:
            graph = var.graph
            full = _unique_slot_name(graph, f"{var.op.name}/{op_name}")
            named[var] = get_variable(full, shape=list(var.shape), dtype=var.dtype, initializer=initializer,
                                      trainable=False, collections=[GraphKeys.GLOBAL_VARIABLES],
                                      device=var.device or None)
        return named[var]

    def _zeros_slot(self, var: Variable, slot_name: str, op_name: str):
        return self._get_or_make_slot_with_initializer(var, Zeros(), slot_name, op_name)

    def _create_non_slot_variable(self, initial_value: float, name: str, colocate_with: Variable) -> Variable:
        """A per-graph variable of the optimiser (e.g. Adam's 'beta1_power'), named as tf.Variable names it."""
        graph = colocate_with.graph
        key = (name, graph)
        v = self._non_slot_dict.get(key)
        if v is None:
            with graph.as_default(), graph.device(colocate_with.device), graph.control_dependencies(None):
                v = Variable_(np.float32(initial_value), trainable=False, name=name,
                              collections=[GraphKeys.GLOBAL_VARIABLES])
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name: str, graph: Graph) -> Optional[Variable]:
        return self._non_slot_dict.get((name, graph))

    # -- what subclasses implement
    def _create_slots(self, var_list: list) -> None:
        pass

    def _apply_dense(self, grad: Tensor, var: Variable) -> list:
        raise InvalidArgumentError(f"{type(self).__name__} does not define its update rule (_apply_dense); "
                                   "subclass one of the slim.train optimizers")

    def _finish(self, updates: list, graph: Graph) -> list:
        return []


def _flatten(values):
    if isinstance(values, (list, tuple, set)):
        for v in values:
            yield from _flatten(v)
    else:
        yield values


