"""TF1's `tf.train` for slimir: optimisers, learning-rate schedules and the global-step helpers.

    opt = slim.train.MomentumOptimizer(learning_rate=0.01, momentum=0.9)
    train_op = opt.minimize(loss, global_step=slim.train.get_or_create_global_step())

An optimiser turns (gradient, variable) pairs into `assign` ops. slimir applies every assign of one
`sess.run` after the run, and every update reads the values from before the run, so an update is
written as a pure function of the old variable, its slots and the gradient (TF's dense kernels:
ApplyGradientDescent, ApplyMomentum, ApplyAdam, ApplyRMSProp, ApplyCenteredRMSProp, ApplyAdagrad,
ApplyAdadelta, ApplyFtrl/ApplyFtrlV2).
Slot variables are named as TF names them (`conv1/weights/Momentum`, `conv1/weights/Adam`,
`conv1/weights/Adam_1`), are non-trainable and sit in GLOBAL_VARIABLES, so savers save them.

The schedules (`exponential_decay`, `piecewise_constant`, `polynomial_decay`, `cosine_decay`) are
graph tensors computed from the global step with TF1's formulas.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Optional

import numpy as np

from . import dtypes as _dt
from .errors import DTypeError, GraphError, InvalidArgumentError, ShapeError
from .ir.graph import Graph, GraphKeys, Node, Tensor, Variable, VariableScope, get_default_graph, rng_for
from .initializers import Constant, Ones, Zeros
from .ops import math_ops
from .ops.array_ops import cast, constant
from .ir.registry import convert_to_tensor
from .ops.state import assign, group
from .shape import compatible, fmt
from .variables import Variable_, create_global_step, get_global_step, get_or_create_global_step, get_variable

__all__ = [
    "AdadeltaOptimizer",
    "AdagradOptimizer",
    "AdamOptimizer",
    "AdamWOptimizer",
    "ExponentialMovingAverage",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "MomentumOptimizer",
    "Optimizer",
    "RMSPropOptimizer",
    "SyncReplicasOptimizer",
    "cosine_decay",
    "create_global_step",
    "exponential_decay",
    "get_global_step",
    "get_or_create_global_step",
    "global_step",
    "piecewise_constant",
    "polynomial_decay",
]

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
        from .ir.autodiff import gradients

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


# ------------------------------------------------------------------------------------------
# The optimisers


class GradientDescentOptimizer(Optimizer):
    """var -= learning_rate * grad."""

    def __init__(self, learning_rate, use_locking: bool = False, name: str = "GradientDescent"):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        self._hyper = {"learning_rate": learning_rate}

    def _apply_dense(self, grad, var):
        lr = self._get_hyper("learning_rate", var.dtype)
        return [assign(var, var - lr * grad)]


class MomentumOptimizer(Optimizer):
    """accum = momentum * accum + grad; var -= lr * accum (Nesterov: var -= lr * grad + lr * momentum * accum).

    Slot 'momentum' (`<var>/Momentum`), zero-initialised.
    """

    def __init__(self, learning_rate, momentum, use_locking: bool = False, name: str = "Momentum",
                 use_nesterov: bool = False):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        _check_hyper(name, "momentum", momentum, 0.0, 1.0)
        self._hyper = {"learning_rate": learning_rate, "momentum": momentum}
        self._use_nesterov = bool(use_nesterov)

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var):
        accum = self.get_slot(var, "momentum")
        lr = self._get_hyper("learning_rate", var.dtype)
        mu = self._get_hyper("momentum", var.dtype)
        accum_t = accum * mu + grad
        if self._use_nesterov:
            var_t = var - (grad * lr + accum_t * mu * lr)
        else:
            var_t = var - accum_t * lr
        return [assign(accum, accum_t), assign(var, var_t)]


class AdamOptimizer(Optimizer):
    """Adam as TF1 computes it (the "epsilon hat" form of Kingma & Ba, section 2):

        lr_t = learning_rate * sqrt(1 - beta2^t) / (1 - beta1^t)
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        var -= lr_t * m / (sqrt(v) + epsilon)

    Slots 'm' (`<var>/Adam`) and 'v' (`<var>/Adam_1`); beta1^t and beta2^t live in the non-slot
    variables 'beta1_power' and 'beta2_power' (initialised to beta1 and beta2, multiplied by them
    once per step).
    """

    def __init__(self, learning_rate=0.001, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8,
                 use_locking: bool = False, name: str = "Adam"):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        _check_hyper(name, "beta1", beta1, 0.0, 1.0)
        _check_hyper(name, "beta2", beta2, 0.0, 1.0)
        _check_hyper(name, "epsilon", epsilon, 0.0, lo_open=True)
        for hname, v in (("beta1", beta1), ("beta2", beta2)):
            if _static_value(v) is None:
                raise InvalidArgumentError(f"{name}: {hname} must be a number (it initialises {hname}_power)")
        self._hyper = {"learning_rate": learning_rate, "beta1": beta1, "beta2": beta2, "epsilon": epsilon}
        self._beta1 = _static_value(beta1)
        self._beta2 = _static_value(beta2)

    def _get_beta_accumulators(self, graph: Optional[Graph] = None):
        graph = graph or get_default_graph()
        return (self._get_non_slot_variable("beta1_power", graph),
                self._get_non_slot_variable("beta2_power", graph))

    def _create_slots(self, var_list):
        first_var = min(var_list, key=lambda x: x.name)
        self._create_non_slot_variable(self._beta1, "beta1_power", first_var)
        self._create_non_slot_variable(self._beta2, "beta2_power", first_var)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _adam_update(self, grad, var):
        m = self.get_slot(var, "m")
        v = self.get_slot(var, "v")
        dt = var.dtype
        b1p, b2p = self._get_beta_accumulators(var.graph)
        if b1p.dtype is not dt:
            b1p, b2p = cast(b1p, dt), cast(b2p, dt)
        lr = self._get_hyper("learning_rate", dt)
        beta1 = self._get_hyper("beta1", dt)
        beta2 = self._get_hyper("beta2", dt)
        eps = self._get_hyper("epsilon", dt)
        lr_t = lr * math_ops.sqrt(1.0 - b2p) / (1.0 - b1p)
        m_t = m + (grad - m) * (1.0 - beta1)
        v_t = v + (math_ops.square(grad) - v) * (1.0 - beta2)
        step = lr_t * m_t / (math_ops.sqrt(v_t) + eps)
        return m, m_t, v, v_t, step

    def _apply_dense(self, grad, var):
        m, m_t, v, v_t, step = self._adam_update(grad, var)
        return [assign(m, m_t), assign(v, v_t), assign(var, var - step)]

    def _finish(self, updates, graph):
        b1p, b2p = self._get_beta_accumulators(graph)
        with graph.device(b1p.device):
            beta1 = self._get_hyper("beta1", b1p.dtype)
            beta2 = self._get_hyper("beta2", b2p.dtype)
            return [assign(b1p, b1p * beta1), assign(b2p, b2p * beta2)]


class AdamWOptimizer(AdamOptimizer):
    """Adam with decoupled weight decay (tf.contrib.opt.AdamWOptimizer, Loshchilov & Hutter).

    Each step first decays the variable, var -= weight_decay * var (weight_decay is NOT scaled by the
    learning rate; decay it with the same schedule yourself), then applies the Adam update computed
    from the gradient. `decay_var_list` (minimize / apply_gradients) limits the decay to those
    variables; None or empty decays every updated variable. Slots `<var>/AdamW` and `<var>/AdamW_1`.
    """

    def __init__(self, weight_decay, learning_rate=0.001, beta1: float = 0.9, beta2: float = 0.999,
                 epsilon: float = 1e-8, use_locking: bool = False, name: str = "AdamW"):
        super().__init__(learning_rate, beta1, beta2, epsilon, use_locking, name)
        _check_hyper(name, "weight_decay", weight_decay, 0.0, 1.0)
        self._hyper["weight_decay"] = weight_decay
        self._decay_var_list = None

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=Optimizer.GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops: bool = False, name: Optional[str] = None,
                 grad_loss=None, decay_var_list=None):
        self._decay_var_list = set(decay_var_list) if decay_var_list else None
        try:
            return super().minimize(loss, global_step=global_step, var_list=var_list,
                                    gate_gradients=gate_gradients, aggregation_method=aggregation_method,
                                    colocate_gradients_with_ops=colocate_gradients_with_ops, name=name,
                                    grad_loss=grad_loss)
        finally:
            self._decay_var_list = None

    def apply_gradients(self, grads_and_vars, global_step=None, name: Optional[str] = None, decay_var_list=None):
        if decay_var_list:
            self._decay_var_list = set(decay_var_list)
        try:
            return super().apply_gradients(grads_and_vars, global_step=global_step, name=name)
        finally:
            self._decay_var_list = None

    def _apply_dense(self, grad, var):
        m, m_t, v, v_t, step = self._adam_update(grad, var)
        if self._decay_var_list is None or var in self._decay_var_list:
            wd = self._get_hyper("weight_decay", var.dtype)
            var_t = var - wd * var - step
        else:
            var_t = var - step
        return [assign(m, m_t), assign(v, v_t), assign(var, var_t)]


class RMSPropOptimizer(Optimizer):
    """RMSProp as TF1 computes it:

        ms = decay * ms + (1 - decay) * g^2
        mom = momentum * mom + lr * g / sqrt(ms + epsilon);  var -= mom
    centered: mg = decay * mg + (1 - decay) * g and the denominator is sqrt(ms - mg^2 + epsilon).

    Slots 'rms' (`<var>/RMSProp`, initialised to ONES as TF1 does), 'mg' (centered only) and
    'momentum', created in that order (`<var>/RMSProp_1`, `<var>/RMSProp_2`).
    """

    def __init__(self, learning_rate, decay: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-10,
                 use_locking: bool = False, centered: bool = False, name: str = "RMSProp"):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        _check_hyper(name, "decay", decay, 0.0, 1.0, hi_open=False)
        _check_hyper(name, "momentum", momentum, 0.0, 1.0)
        _check_hyper(name, "epsilon", epsilon, 0.0, lo_open=True)
        self._hyper = {"learning_rate": learning_rate, "decay": decay, "momentum": momentum, "epsilon": epsilon}
        self._centered = bool(centered)

    def _create_slots(self, var_list):
        for v in var_list:
            self._get_or_make_slot_with_initializer(v, Ones(), "rms", self._name)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var):
        dt = var.dtype
        ms = self.get_slot(var, "rms")
        mom = self.get_slot(var, "momentum")
        lr = self._get_hyper("learning_rate", dt)
        rho = self._get_hyper("decay", dt)
        mu = self._get_hyper("momentum", dt)
        eps = self._get_hyper("epsilon", dt)
        ms_t = ms + (math_ops.square(grad) - ms) * (1.0 - rho)
        out = [assign(ms, ms_t)]
        if self._centered:
            mg = self.get_slot(var, "mg")
            mg_t = mg + (grad - mg) * (1.0 - rho)
            denom = ms_t - math_ops.square(mg_t) + eps
            out.append(assign(mg, mg_t))
        else:
            denom = ms_t + eps
        mom_t = mom * mu + grad * lr / math_ops.sqrt(denom)
        out += [assign(mom, mom_t), assign(var, var - mom_t)]
        return out


class AdagradOptimizer(Optimizer):
    """accum += g^2; var -= lr * g / sqrt(accum). Slot 'accumulator' (`<var>/Adagrad`), initialised to
    `initial_accumulator_value`."""

    def __init__(self, learning_rate, initial_accumulator_value: float = 0.1, use_locking: bool = False,
                 name: str = "Adagrad"):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        if not _is_number(initial_accumulator_value):
            raise InvalidArgumentError(f"{name}: initial_accumulator_value must be a number, got "
                                       f"{initial_accumulator_value!r}")
        _check_hyper(name, "initial_accumulator_value", initial_accumulator_value, 0.0, lo_open=True)
        self._hyper = {"learning_rate": learning_rate}
        self._initial_accumulator_value = float(initial_accumulator_value)

    def _create_slots(self, var_list):
        for v in var_list:
            self._get_or_make_slot_with_initializer(v, Constant(self._initial_accumulator_value), "accumulator",
                                                    self._name)

    def _apply_dense(self, grad, var):
        acc = self.get_slot(var, "accumulator")
        lr = self._get_hyper("learning_rate", var.dtype)
        acc_t = acc + math_ops.square(grad)
        return [assign(acc, acc_t), assign(var, var - lr * grad * math_ops.rsqrt(acc_t))]


class AdadeltaOptimizer(Optimizer):
    """Adadelta as TF1's ApplyAdadelta computes it (Zeiler, 2012, with a learning rate on the step):

        accum = rho * accum + (1 - rho) * g^2
        update = sqrt(accum_update + epsilon) / sqrt(accum + epsilon) * g
        accum_update = rho * accum_update + (1 - rho) * update^2
        var -= learning_rate * update

    Slots 'accum' (`<var>/Adadelta`) and 'accum_update' (`<var>/Adadelta_1`), zero-initialised.
    """

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking: bool = False,
                 name: str = "Adadelta"):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0)
        _check_hyper(name, "rho", rho, 0.0, 1.0, hi_open=False)
        _check_hyper(name, "epsilon", epsilon, 0.0, lo_open=True)
        self._hyper = {"learning_rate": learning_rate, "rho": rho, "epsilon": epsilon}

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name)

    def _apply_dense(self, grad, var):
        dt = var.dtype
        accum = self.get_slot(var, "accum")
        accum_update = self.get_slot(var, "accum_update")
        lr = self._get_hyper("learning_rate", dt)
        rho = self._get_hyper("rho", dt)
        eps = self._get_hyper("epsilon", dt)
        accum_t = accum * rho + math_ops.square(grad) * (1.0 - rho)
        update = math_ops.sqrt(accum_update + eps) * math_ops.rsqrt(accum_t + eps) * grad
        accum_update_t = accum_update * rho + math_ops.square(update) * (1.0 - rho)
        return [assign(accum, accum_t), assign(accum_update, accum_update_t), assign(var, var - update * lr)]


class FtrlOptimizer(Optimizer):
    """FTRL-proximal (McMahan et al., 2013) as TF1's ApplyFtrl / ApplyFtrlV2 compute it:

        g_s = g + 2 * l2_shrinkage * var                     (g itself without shrinkage)
        accum_new = accum + g^2
        linear += g_s - (accum_new^(-p) - accum^(-p)) / lr * var          (p = learning_rate_power)
        var = (l1 * sign(linear) - linear) / (accum_new^(-p) / lr + 2 * l2)  if |linear| > l1, else 0
        accum = accum_new

    `beta` enters as TF adds it: l2 + beta / (2 * lr). Slots 'accum' (`<var>/Ftrl`, or `<var>/<accum_name>`;
    initialised to `initial_accumulator_value`) and 'linear' (`<var>/Ftrl_1`, or `<var>/<linear_name>`;
    zero-initialised).
    """

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0, use_locking: bool = False,
                 name: str = "Ftrl", accum_name: Optional[str] = None, linear_name: Optional[str] = None,
                 l2_shrinkage_regularization_strength=0.0, beta=None):
        super().__init__(use_locking, name)
        _check_hyper(name, "learning_rate", learning_rate, 0.0, lo_open=True)
        _check_hyper(name, "learning_rate_power", learning_rate_power, -math.inf, 0.0, hi_open=False)
        if not _is_number(initial_accumulator_value):
            raise InvalidArgumentError(f"{name}: initial_accumulator_value must be a number, got "
                                       f"{initial_accumulator_value!r}")
        _check_hyper(name, "initial_accumulator_value", initial_accumulator_value, 0.0)
        _check_hyper(name, "l1_regularization_strength", l1_regularization_strength, 0.0)
        _check_hyper(name, "l2_regularization_strength", l2_regularization_strength, 0.0)
        _check_hyper(name, "l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, 0.0)
        beta = 0.0 if beta is None else beta
        if not _is_number(beta):
            raise InvalidArgumentError(f"{name}: beta must be a number, got {beta!r}")
        _check_hyper(name, "beta", beta, 0.0)
        self._hyper = {"learning_rate": learning_rate, "learning_rate_power": learning_rate_power,
                       "l1_regularization_strength": l1_regularization_strength,
                       "l2_regularization_strength": l2_regularization_strength,
                       "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength}
        self._initial_accumulator_value = float(initial_accumulator_value)
        self._beta = float(beta)
        self._power = _static_value(learning_rate_power)  # None: a tensor, known at run time only
        shrink = _static_value(l2_shrinkage_regularization_strength)
        self._has_shrinkage = shrink is None or shrink > 0.0  # ApplyFtrlV2 only when it is used, as TF
        self._accum_name = accum_name
        self._linear_name = linear_name

    def _create_slots(self, var_list):
        for v in var_list:
            self._get_or_make_slot_with_initializer(v, Constant(self._initial_accumulator_value), "accum",
                                                    self._accum_name or self._name)
            self._zeros_slot(v, "linear", self._linear_name or self._name)

    def _adjusted_l2(self, dtype: _dt.DType) -> Tensor:
        """l2 + beta / (2 * max(lr, 1e-36)), computed as TF does: in the learning rate's dtype, then cast."""
        key = ("adjusted_l2", dtype)
        t = self._prepared.get(key)
        if t is None:
            lr = self._prepared[("learning_rate", None)]
            l2 = self._get_hyper("l2_regularization_strength", lr.dtype)
            t = l2 + self._beta / (2.0 * math_ops.maximum(lr, 1e-36))
            if t.dtype is not dtype:
                t = cast(t, dtype)
            self._prepared[key] = t
        return t

    def _apply_dense(self, grad, var):
        dt = var.dtype
        accum = self.get_slot(var, "accum")
        linear = self.get_slot(var, "linear")
        lr = self._get_hyper("learning_rate", dt)
        l1 = self._get_hyper("l1_regularization_strength", dt)
        l2 = self._get_hyper("l2_regularization_strength", dt)
        if self._beta:
            l2 = self._adjusted_l2(dt)
        g = grad
        if self._has_shrinkage:
            g = grad + 2.0 * self._get_hyper("l2_shrinkage_regularization_strength", dt) * var
        accum_t = accum + math_ops.square(grad)
        if self._power == -0.5:  # the kernels' special case: square roots instead of powers
            new_p, old_p = math_ops.sqrt(accum_t), math_ops.sqrt(accum)
        else:
            neg_p = -self._get_hyper("learning_rate_power", dt)
            new_p, old_p = math_ops.pow(accum_t, neg_p), math_ops.pow(accum, neg_p)
        linear_t = linear + g - (new_p - old_p) / lr * var
        pre_shrink = (l1 * math_ops.sign(linear_t) - linear_t) / (new_p / lr + 2.0 * l2)
        var_t = math_ops.where(math_ops.greater(math_ops.abs(linear_t), l1), pre_shrink,
                               constant(0.0, dtype=dt))
        return [assign(accum, accum_t), assign(linear, linear_t), assign(var, var_t)]


# ------------------------------------------------------------------------------------------
# Moving averages of variables (TF1's tf.train.ExponentialMovingAverage)


def _float_dtype_check(what: str, t) -> None:
    if not isinstance(t, Tensor):
        raise InvalidArgumentError(f"ExponentialMovingAverage: {what} must be variables or tensors, got {t!r}")
    if t.dtype not in (_dt.float16, _dt.float32, _dt.float64) and t.dtype.name != "bfloat16":
        raise DTypeError(f"ExponentialMovingAverage: the variables must be half, float, or double: {t.name} is "
                         f"{t.dtype.name}")


class ExponentialMovingAverage:
    """Shadow copies of variables that follow them with an exponential decay (TF1's tf.train.ExponentialMovingAverage).

    `apply(var_list)` creates, for each variable, a non-trainable shadow `<var>/ExponentialMovingAverage`
    (in GLOBAL_VARIABLES, so savers save it) that starts at the variable's value when it is initialised,
    adds the variable to MOVING_AVERAGE_VARIABLES, and returns an op that, when run, updates every shadow:

        shadow -= (1 - decay) * (shadow - value)

    With `num_updates` (usually the global step) the decay is min(decay, (1 + num_updates) / (10 + num_updates)).
    Tensors that are not variables may be averaged too: their shadows start at zero and, with
    `zero_debias=True`, are divided by 1 - decay^t (shadow variables `<avg>/biased` and `<avg>/local_step`).

    As every slimir update, the op reads the values from before the run it belongs to: run in the same step as
    an optimiser's update (the train op's update ops), it averages the variables as they were before that
    step's update.

    For evaluation, `variables_to_restore()` maps `<var>/ExponentialMovingAverage` to each variable, so a
    Saver restores the averages into the plain variables.
    """

    def __init__(self, decay, num_updates=None, zero_debias: bool = False, name: str = "ExponentialMovingAverage"):
        if not name:
            raise InvalidArgumentError("ExponentialMovingAverage: name must not be empty")
        _check_hyper(name, "decay", decay, 0.0, 1.0, hi_open=False)
        if num_updates is not None:
            if isinstance(num_updates, Tensor):
                if len(num_updates.shape) != 0:
                    raise ShapeError(f"{name}: num_updates must be a scalar, got {num_updates.name} of shape "
                                     f"{fmt(num_updates.shape)}")
                if not (num_updates.dtype.is_floating or num_updates.dtype.is_integer):
                    raise DTypeError(f"{name}: num_updates must be a number, got {num_updates.name} of dtype "
                                     f"{num_updates.dtype.name}")
            elif not _is_number(num_updates):
                raise InvalidArgumentError(f"{name}: num_updates must be a number or a scalar tensor, got "
                                           f"{num_updates!r}")
        self._decay = decay
        self._num_updates = num_updates
        self._zero_debias = bool(zero_debias)
        self._name = name
        self._averages: dict = {}  # variable or tensor -> its shadow variable
        self._debias_vars: dict = {}  # shadow of a zero-debiased tensor -> (biased, local_step) variables

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<slim.train.ExponentialMovingAverage '{self._name}' decay={self._decay!r}>"

    def apply(self, var_list=None) -> Node:
        """Create the shadows of `var_list` (default: the trainable variables) and return the op that updates them."""
        if var_list is None:
            var_list = get_default_graph().get_collection(GraphKeys.TRAINABLE_VARIABLES)
        var_list = list(_flatten(var_list))
        for v in var_list:
            _float_dtype_check("var_list", v)
        if not var_list:
            raise InvalidArgumentError(f"{self._name}: apply needs at least one variable or tensor")
        graph = var_list[0].graph
        seen = set()
        for v in var_list:
            if v.graph is not graph:
                raise GraphError(f"{self._name}: {v.name} belongs to another graph than {var_list[0].name}")
            if v in seen:
                raise InvalidArgumentError(f"{self._name}: {v.name} appears more than once in var_list")
            seen.add(v)
        for v in var_list:
            if v not in self._averages:
                self._averages[v] = self._create_shadow(v, graph)
        with graph.as_default(), graph.name_scope(self._name) as scope:
            decay = self._decay if isinstance(self._decay, Tensor) else constant(float(self._decay),
                                                                                 dtype=_dt.float32, name="decay")
            if decay.dtype is not _dt.float32:
                decay = cast(decay, _dt.float32)
            if self._num_updates is not None:
                n = self._num_updates
                n = cast(n, _dt.float32, name="num_updates") if isinstance(n, Tensor) else constant(
                    float(n), dtype=_dt.float32, name="num_updates")
                decay = math_ops.minimum(decay, (1.0 + n) / (10.0 + n))
            updates = []
            for v in var_list:
                avg = self._averages[v]
                with graph.device(avg.device):
                    updates.extend(self._assign_moving_average(avg, v, decay, graph))
            return group(*updates, name=scope)

    def _create_shadow(self, v, graph: Graph) -> Variable:
        with _root_scopes(graph):
            full = _unique_slot_name(graph, f"{v.op.name}/{self._name}")
            if isinstance(v, Variable):
                avg = get_variable(full, dtype=v.dtype, initializer=v, trainable=False,
                                   collections=[GraphKeys.GLOBAL_VARIABLES], device=v.device or None)
                fn = v.initial_value_fn
                if fn is not None:  # what a copy of the graph without `v` starts from: v's own initial draw
                    avg.initial_value_fn = lambda rng, _v=v, _fn=fn: _fn(
                        rng_for(_v.graph, _v.op.attrs.get("seed"), _v.op.name))
                if v not in graph.get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES):
                    graph.add_to_collection(GraphKeys.MOVING_AVERAGE_VARIABLES, v)
            else:
                if not v.shape.is_fully_defined():
                    raise ShapeError(f"{self._name}: cannot average {v.name} of shape {fmt(v.shape)}; its shape "
                                     "must be fully defined")
                avg = get_variable(full, shape=list(v.shape), dtype=v.dtype, initializer=Zeros(), trainable=False,
                                   collections=[GraphKeys.GLOBAL_VARIABLES], device=v.op.device or None)
                if self._zero_debias:
                    biased = get_variable(_unique_slot_name(graph, f"{avg.op.name}/biased"), shape=list(v.shape),
                                          dtype=v.dtype, initializer=Zeros(), trainable=False,
                                          collections=[GraphKeys.GLOBAL_VARIABLES], device=avg.device or None)
                    step = get_variable(_unique_slot_name(graph, f"{avg.op.name}/local_step"), shape=[],
                                        dtype=v.dtype, initializer=Zeros(), trainable=False,
                                        collections=[GraphKeys.GLOBAL_VARIABLES], device=avg.device or None)
                    self._debias_vars[avg] = (biased, step)
        return avg

    def _assign_moving_average(self, avg: Variable, value: Tensor, decay: Tensor, graph: Graph) -> list:
        with graph.name_scope("AssignMovingAvg"):
            one_minus = 1.0 - decay
            if one_minus.dtype is not avg.dtype:
                one_minus = cast(one_minus, avg.dtype)
            if avg not in self._debias_vars:
                return [assign(avg, avg - (avg - value) * one_minus)]
            biased, step = self._debias_vars[avg]
            biased_t = biased - (biased - value) * one_minus
            step_t = step + 1.0
            bias_factor = 1.0 - math_ops.pow(1.0 - one_minus, step_t)
            return [assign(biased, biased_t), assign(step, step_t), assign(avg, biased_t / bias_factor)]

    def average(self, var) -> Optional[Variable]:
        """The shadow variable of `var`, or None if `apply` did not average it."""
        return self._averages.get(var)

    def average_name(self, var) -> str:
        """The name of `var`'s shadow: the one `apply` created, or the one it would create
        (`<var op name>/<name>`); use it to restore averages from a checkpoint."""
        avg = self._averages.get(var)
        if avg is not None:
            return avg.op.name
        if not isinstance(var, Tensor):
            raise InvalidArgumentError(f"{self._name}: average_name needs a variable, got {var!r}")
        return _unique_slot_name(var.graph, f"{var.op.name}/{self._name}")

    def variables_to_restore(self, moving_avg_variables=None) -> dict:
        """{name in the checkpoint: variable}: the averaged variables under their shadows' names, every other
        global variable under its own (`moving_avg_variables` defaults to the trainable variables plus
        MOVING_AVERAGE_VARIABLES)."""
        g = get_default_graph()
        if moving_avg_variables is None:
            moving_avg_variables = (g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
                                    + g.get_collection(GraphKeys.MOVING_AVERAGE_VARIABLES))
        averaged = []
        for v in _flatten(list(moving_avg_variables)):
            if not isinstance(v, Variable):
                raise InvalidArgumentError(f"{self._name}: variables_to_restore needs variables, got "
                                           f"{getattr(v, 'name', v)!r}")
            if v not in averaged:
                averaged.append(v)
        name_map = {self.average_name(v): v for v in averaged}
        averaged_names = {v.op.name for v in averaged}
        for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES):
            if v.op.name not in averaged_names and v.op.name not in name_map:
                name_map[v.op.name] = v
        return name_map


# ------------------------------------------------------------------------------------------
# Learning-rate schedules (TF1's tf.train.*_decay)


def _schedule_inputs(fn: str, learning_rate, global_step):
    """(learning rate tensor, global step cast to its dtype, dtype) for a schedule."""
    if global_step is None:
        raise InvalidArgumentError(f"global_step is required for {fn}.")
    lr = learning_rate if isinstance(learning_rate, Tensor) else constant(learning_rate, dtype=_dt.float32,
                                                                            name="learning_rate")
    if not lr.dtype.is_floating:
        raise DTypeError(f"{fn}: learning_rate must be floating-point, got {lr.dtype.name}")
    step = global_step if isinstance(global_step, Tensor) else constant(global_step)
    step = step if step.dtype is lr.dtype else cast(step, lr.dtype)
    return lr, step, lr.dtype


def _check_steps(fn: str, decay_steps) -> None:
    v = _static_value(decay_steps)
    if v is not None and not v > 0:
        raise InvalidArgumentError(f"{fn}: decay_steps must be positive, got {decay_steps}")


def _as(value, dtype: _dt.DType, name: str) -> Tensor:
    if isinstance(value, Tensor):
        return value if value.dtype is dtype else cast(value, dtype)
    return constant(value, dtype=dtype, name=name)


def _schedule_graph(*values):
    for v in values:
        if isinstance(v, Tensor):
            return v.graph
    return get_default_graph()


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase: bool = False,
                      name: Optional[str] = None) -> Tensor:
    """learning_rate * decay_rate ^ (global_step / decay_steps); the exponent floored when `staircase`."""
    _check_steps("exponential_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "ExponentialDecay"):
        lr, step, dt = _schedule_inputs("exponential_decay", learning_rate, global_step)
        p = step / _as(decay_steps, dt, "decay_steps")
        if staircase:
            p = math_ops.floor(p)
        return math_ops.multiply(lr, math_ops.pow(_as(decay_rate, dt, "decay_rate"), p), name="ExponentialDecay")


def piecewise_constant(x, boundaries, values, name: Optional[str] = None) -> Tensor:
    """values[0] while x <= boundaries[0], values[i] while boundaries[i-1] < x <= boundaries[i], then values[-1]."""
    boundaries, values = list(boundaries), list(values)
    if len(boundaries) != len(values) - 1:
        raise InvalidArgumentError("piecewise_constant: the length of boundaries should be 1 less than the length "
                                   f"of values (got {len(boundaries)} boundaries and {len(values)} values)")
    if not values:
        raise InvalidArgumentError("piecewise_constant: values must not be empty")
    statics = [_static_value(b) for b in boundaries]
    known = [b for b in statics if b is not None]
    if any(b > a for a, b in zip(known[1:], known[:-1])):
        raise InvalidArgumentError(f"piecewise_constant: boundaries must be non-decreasing, got {boundaries}")
    g = _schedule_graph(x, *boundaries, *values)
    with g.as_default(), g.name_scope(name or "PiecewiseConstant"):
        xt = x if isinstance(x, Tensor) else constant(x)
        tensor_vals = [v for v in values if isinstance(v, Tensor)]
        if tensor_vals:
            vdt = tensor_vals[0].dtype
        else:
            kinds = {np.asarray(v).dtype.kind for v in values}
            if len(kinds) > 1:
                raise DTypeError(f"piecewise_constant: values must all have the same dtype, got {values}")
            vdt = _python_dtype(values[0])
        vals = []
        for v in values:
            if isinstance(v, Tensor):
                if v.dtype is not vdt:
                    raise DTypeError(f"piecewise_constant: values must all have the same dtype, got {v.name} of "
                                     f"{v.dtype.name} and {vdt.name}")
                vals.append(v)
            else:
                vals.append(constant(v, dtype=vdt))
        bounds = []
        for b in boundaries:
            if isinstance(b, Tensor):
                bounds.append(b if b.dtype is xt.dtype else cast(b, xt.dtype))
            else:
                arr = np.asarray(b)
                if xt.dtype.is_integer and arr.dtype.kind == "f":
                    arr = np.trunc(arr)  # x <= 2.5 and x <= 2 agree for integer x >= 0 (TF casts too)
                bounds.append(constant(arr.astype(xt.dtype.np)))
        out = vals[-1]
        for b, v in zip(reversed(bounds), reversed(vals[:-1])):
            out = math_ops.where(math_ops.less_equal(xt, b), v, out)
        return _identity(out, "PiecewiseConstant")


def _python_dtype(value) -> _dt.DType:
    """The dtype TF gives a Python/numpy value: float32 for Python floats, int32 for Python ints."""
    if isinstance(value, (np.ndarray, np.generic)):
        return _dt.as_dtype(value.dtype)
    kind = np.asarray(value).dtype.kind
    return _dt.float32 if kind == "f" else _dt.int32 if kind in "iu" else _dt.as_dtype(np.asarray(value).dtype)


def _identity(t: Tensor, name: str) -> Tensor:
    from .ops.array_ops import identity

    return identity(t, name=name)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001, power=1.0,
                     cycle: bool = False, name: Optional[str] = None) -> Tensor:
    """(lr - end) * (1 - min(step, decay_steps) / decay_steps) ^ power + end.

    With `cycle`, decay_steps is instead multiplied by ceil(step / decay_steps) (1 at step 0).
    """
    _check_steps("polynomial_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "PolynomialDecay"):
        lr, step, dt = _schedule_inputs("polynomial_decay", learning_rate, global_step)
        end_lr = _as(end_learning_rate, dt, "end_learning_rate")
        steps = _as(decay_steps, dt, "decay_steps")
        pw = _as(power, dt, "power")
        if cycle:
            mult = math_ops.where(math_ops.equal(step, 0.0), constant(1.0, dtype=dt),
                                  math_ops.ceil(step / steps))
            steps = steps * mult
        else:
            step = math_ops.minimum(step, steps)
        p = step / steps
        return math_ops.add((lr - end_lr) * math_ops.pow(1.0 - p, pw), end_lr, name="PolynomialDecay")


# sin(y) = sum_k (-1)^k y^(2k+1) / (2k+1)!, enough terms for float64 on |y| <= pi/2
_SIN_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(11)]


def _cos_pi(f: Tensor) -> Tensor:
    """cos(pi * f) for f in [0, 1], in float64, from existing ops (slimir has no Cos op):
    cos(pi f) = -sin(y) with y = pi f - pi/2 in [-pi/2, pi/2], a Horner-evaluated Taylor series."""
    f64 = cast(f, _dt.float64)
    y = f64 * math.pi - math.pi / 2
    y2 = y * y
    acc = constant(_SIN_COEFFS[-1], dtype=_dt.float64)
    for c in reversed(_SIN_COEFFS[:-1]):
        acc = acc * y2 + c
    return -(acc * y)


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name: Optional[str] = None) -> Tensor:
    """learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)."""
    _check_steps("cosine_decay", decay_steps)
    g = _schedule_graph(global_step, learning_rate)
    with g.as_default(), g.name_scope(name or "CosineDecay"):
        lr, step, dt = _schedule_inputs("cosine_decay", learning_rate, global_step)
        steps = _as(decay_steps, dt, "decay_steps")
        fraction = math_ops.minimum(step, steps) / steps
        cosine_decayed = cast(0.5 * (1.0 + _cos_pi(fraction)), dt)
        a = _as(alpha, dt, "alpha")
        decayed = (1.0 - a) * cosine_decayed + a
        return math_ops.multiply(lr, decayed, name="CosineDecay")


# ------------------------------------------------------------------------------------------
# Synchronous data parallelism (TF's tf.train.SyncReplicasOptimizer, on all-reduce)


class SyncReplicasOptimizer(Optimizer):
    """Synchronous data-parallel training: every replica's gradients are averaged before one update.

    TF aggregated gradients on parameter servers; slimir all-reduces them between the gradient graph
    (`compute_gradients`) and the apply graph (`apply_gradients`, which clips and updates), so every
    rank applies the same averaged gradients. Pass it to `create_train_op` and, as `sync_optimizer=`, to
    `slim.learning.train(..., master=comm)`. Only full synchronous aggregation is supported:
    `replicas_to_aggregate == total_num_replicas == comm.size` (no backup workers).

    `update_ops`: how batch-norm statistics (UPDATE_OPS variables) are combined after a step: 'mean'
    (default; averaged over ranks, which equals the moving average of the averaged batch moments) or
    'chief' (rank 0's values are broadcast, as model_deploy took UPDATE_OPS from the first clone).
    """

    def __init__(self, opt, replicas_to_aggregate: int, total_num_replicas: Optional[int] = None,
                 variable_averages=None, variables_to_average=None, use_locking: bool = False,
                 name: str = "sync_replicas", update_ops: str = "mean"):
        super().__init__(use_locking, name)
        if not isinstance(opt, Optimizer) or isinstance(opt, SyncReplicasOptimizer):
            raise InvalidArgumentError(f"SyncReplicasOptimizer: opt must be a slim.train optimizer, got {opt!r}")
        if total_num_replicas is None:
            total_num_replicas = replicas_to_aggregate
        for nm, v in (("replicas_to_aggregate", replicas_to_aggregate), ("total_num_replicas", total_num_replicas)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise InvalidArgumentError(f"SyncReplicasOptimizer: {nm} must be a positive int, got {v!r}")
        if replicas_to_aggregate != total_num_replicas:
            raise InvalidArgumentError(
                f"SyncReplicasOptimizer: replicas_to_aggregate={replicas_to_aggregate} != total_num_replicas="
                f"{total_num_replicas}: backup workers (aggregating fewer replicas than run) are not supported; "
                "slimir averages every replica's gradients each step (set both to the number of processes)")
        if variable_averages is not None or variables_to_average is not None:
            raise InvalidArgumentError("SyncReplicasOptimizer: variable_averages is not supported; keep moving "
                                       "averages in the model instead")
        if update_ops not in ("mean", "chief"):
            raise InvalidArgumentError(f"SyncReplicasOptimizer: update_ops must be 'mean' or 'chief', got {update_ops!r}")
        self._opt = opt
        self.replicas_to_aggregate = int(replicas_to_aggregate)
        self.total_num_replicas = int(total_num_replicas)
        self.update_ops = update_ops
        self.loss = None  # the loss compute_gradients differentiated (with its update-op dependencies)
        self.grads_and_vars: list = []  # the raw (per-replica) gradients, before clipping or multipliers
        self.apply_op = None  # the op apply_gradients returned

    def compute_gradients(self, loss, var_list=None, gate_gradients=Optimizer.GATE_OP, aggregation_method=None,
                          colocate_gradients_with_ops: bool = False, grad_loss=None) -> list:
        """The wrapped optimizer's gradients; recorded as the tensors the gradient graph computes."""
        gv = self._opt.compute_gradients(loss, var_list=var_list, gate_gradients=gate_gradients,
                                         aggregation_method=aggregation_method,
                                         colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss)
        if self.loss is not None and self.loss is not loss:
            raise InvalidArgumentError("SyncReplicasOptimizer: compute_gradients was already called for another loss; "
                                       "use one SyncReplicasOptimizer per train op")
        self.loss = loss
        self.grads_and_vars = list(gv)
        return gv

    def apply_gradients(self, grads_and_vars, global_step=None, name: Optional[str] = None):
        """The wrapped optimizer's update; at run time it receives the averaged gradients."""
        if self.apply_op is not None:
            raise InvalidArgumentError("SyncReplicasOptimizer: apply_gradients was already called; use one "
                                       "SyncReplicasOptimizer per train op")
        if not self.grads_and_vars:
            raise InvalidArgumentError("SyncReplicasOptimizer: call compute_gradients (or create_train_op / minimize) "
                                       "with this optimizer before apply_gradients")
        self.apply_op = self._opt.apply_gradients(grads_and_vars, global_step=global_step, name=name)
        return self.apply_op

    def get_slot(self, var, name: str):
        return self._opt.get_slot(var, name)

    def get_slot_names(self) -> list:
        return self._opt.get_slot_names()

    def variables(self) -> list:
        return self._opt.variables()

    def get_chief_queue_runner(self):
        """TF's chief queue runner has no counterpart: the all-reduce needs no queue (returns None)."""
        return None

    def get_init_tokens_op(self, num_tokens: int = -1):
        """TF's token queue has no counterpart in all-reduce training (returns None)."""
        return None


# ------------------------------------------------------------------------------------------
# Global step (TF's tf.train.get_global_step & co., defined in slimir.variables)


def global_step(sess, global_step_tensor) -> int:
    """The current value of the global step as a Python int (TF's tf.train.global_step)."""
    return int(sess.run(global_step_tensor))
