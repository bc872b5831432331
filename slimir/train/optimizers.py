"""TF1's optimisers (tf.train.GradientDescentOptimizer, Momentum, Adam, AdamW, RMSProp, Adagrad, Adadelta, Ftrl):
each update written from TF's dense kernel (ApplyGradientDescent, ApplyMomentum, ApplyAdam, ApplyRMSProp,
ApplyCenteredRMSProp, ApplyAdagrad, ApplyAdadelta, ApplyFtrl/ApplyFtrlV2) as IR ops."""

from __future__ import annotations

import math
from typing import Optional

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..initializers import Constant, Ones
from ..ir.graph import Graph, Tensor, get_default_graph
from ..ops import math_ops
from ..ops.array import cast, constant
from ..ops.state import assign
from .optimizer import Optimizer, _check_hyper, _is_number, _static_value

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


