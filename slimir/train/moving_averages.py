"""TF1's tf.train.ExponentialMovingAverage: shadow variables that follow variables with an exponential decay."""

from __future__ import annotations

from typing import Optional

from .. import dtypes as _dt
from ..errors import DTypeError, GraphError, InvalidArgumentError, ShapeError
from ..initializers import Zeros
from ..ir.graph import Graph, GraphKeys, Node, Tensor, Variable, get_default_graph, rng_for
from ..ops import math_ops
from ..ops.array import cast, constant
from ..ops.state import assign, group
from ..shape import fmt
from ..variables import get_variable
from .optimizer import _check_hyper, _flatten, _is_number, _root_scopes, _unique_slot_name

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


