"""`slim.learning` (TF-Slim's learning.py): `create_train_op` and the gradient helpers it uses, and the training
loop `train` / `train_step` (defined in slimir.runtime.training, named here as TF-Slim names them: with the
slim.train namespace, the one front-end re-export of runtime names, recorded in the import contract).

`create_train_op(total_loss, optimizer)` returns a tensor that, when run, computes the loss, runs the
update ops (batch-norm statistics), applies the optimiser's update and increments the global step.
"""

from __future__ import annotations

import logging
from typing import Optional

from .errors import DTypeError, InvalidArgumentError, ShapeError
from .ir.graph import GraphKeys, Tensor, control_dependencies, get_default_graph, name_scope
from .ops import array_ops, math_ops
from .ops.state import check_numerics as _check_numerics
from .ops.state import no_op
from .runtime.training import train, train_step  # noqa: F401  (the loop: runtime)
from .variables import get_or_create_global_step, trainable_variables

log = logging.getLogger("slimir")

_USE_GLOBAL_STEP = object()


def with_dependencies(dependencies, output_tensor: Tensor, name: Optional[str] = None) -> Tensor:
    """`output_tensor`, computed only after `dependencies` ran."""
    with control_dependencies(dependencies):
        return array_ops.identity(output_tensor, name=name)


def global_norm(t_list, name: Optional[str] = None) -> Tensor:
    """sqrt(sum of squared L2 norms) of the non-None tensors in `t_list`."""
    with name_scope(name, "global_norm", [t for t in t_list if t is not None]):
        sq = [math_ops.reduce_sum(math_ops.square(t)) for t in t_list if t is not None]
        return math_ops.sqrt(math_ops.add_n(sq), name="global_norm")


def clip_by_norm(t: Tensor, clip_norm: float, name: Optional[str] = None) -> Tensor:
    """t * clip_norm / max(||t||_2, clip_norm)."""
    with name_scope(name, "clip_by_norm", [t]):
        c = array_ops.constant(float(clip_norm), dtype=t.dtype)
        norm = math_ops.sqrt(math_ops.reduce_sum(math_ops.square(t)))
        return math_ops.div(math_ops.mul(t, c), math_ops.maximum(norm, c))


def clip_gradient_norms(gradients_to_variables, max_norm: float) -> list:
    """Clip each gradient to L2 norm `max_norm` (TF-Slim's learning.clip_gradient_norms)."""
    return [(None if g is None else clip_by_norm(g, max_norm), v) for g, v in gradients_to_variables]


def multiply_gradients(grads_and_vars, gradient_multipliers: dict) -> list:
    """Multiply the gradients of the variables named in `gradient_multipliers` (keys: variables or op names)."""
    if not isinstance(grads_and_vars, list):
        raise InvalidArgumentError("`grads_and_vars` must be a list.")
    if not gradient_multipliers:
        raise InvalidArgumentError("`gradient_multipliers` is empty.")
    if not isinstance(gradient_multipliers, dict):
        raise InvalidArgumentError("`gradient_multipliers` must be a dict.")
    out = []
    for g, v in grads_and_vars:
        key = v if v in gradient_multipliers else v.op.name
        if key in gradient_multipliers and g is not None:
            m = array_ops.constant(gradient_multipliers[key], dtype=g.dtype)
            g = math_ops.mul(g, m)
        out.append((g, v))
    return out


def add_gradients_summaries(grads_and_vars) -> list:
    """A histogram of each gradient and a scalar of its norm (TF-Slim's names)."""
    from . import summary

    out = []
    for g, v in grads_and_vars:
        if g is None:
            log.info("Var %s has no gradient", v.op.name)
            continue
        out.append(summary.histogram(v.op.name + "_gradient", g))
        out.append(summary.scalar(v.op.name + "_gradient_norm", global_norm([g])))
    return out


def create_train_op(total_loss, optimizer, global_step=_USE_GLOBAL_STEP, update_ops=None, variables_to_train=None,
                    clip_gradient_norm: float = 0, summarize_gradients: bool = False, gate_gradients=1,
                    aggregation_method=None, colocate_gradients_with_ops: bool = False,
                    gradient_multipliers: Optional[dict] = None, check_numerics: bool = True) -> Tensor:
    """The train op of TF-Slim: running it returns the loss and applies one optimiser step."""
    if not isinstance(total_loss, Tensor):
        raise InvalidArgumentError(f"create_train_op: total_loss must be a tensor, got {total_loss!r}")
    if total_loss.shape.num_elements() != 1 or len(total_loss.shape) > 1:
        raise ShapeError(f"create_train_op: the loss {total_loss.name} must be a scalar, got shape {total_loss.shape}")
    if not total_loss.dtype.is_floating:
        raise DTypeError(f"create_train_op: the loss {total_loss.name} must be floating point, "
                         f"got {total_loss.dtype.name}")
    g = get_default_graph()
    if global_step is _USE_GLOBAL_STEP:
        global_step = get_or_create_global_step()
    all_updates = list(g.get_collection(GraphKeys.UPDATE_OPS))
    update_ops = all_updates if update_ops is None else list(update_ops)
    if not set(all_updates) <= set(update_ops):
        log.warning("update_ops in create_train_op does not contain all the update_ops in GraphKeys.UPDATE_OPS")
    if update_ops:
        with control_dependencies(update_ops):
            barrier = no_op(name="update_barrier")
        total_loss = with_dependencies([barrier], total_loss)
    if variables_to_train is None:
        variables_to_train = trainable_variables()
    else:
        variables_to_train = list(variables_to_train)
        for v in variables_to_train:
            if not v.dtype.is_floating:
                raise DTypeError(f"create_train_op: variables_to_train holds {v.op.name} of dtype {v.dtype.name}; "
                                 "only floating-point variables can be trained")
    if not variables_to_train:
        raise InvalidArgumentError("create_train_op: there are no variables to train")
    grads = optimizer.compute_gradients(total_loss, variables_to_train)
    for gr, v in grads:
        if gr is None:
            log.warning("%s has no path to the loss %s: it gets no gradient and no update", v.op.name, total_loss.name)
    if gradient_multipliers:
        with name_scope("multiply_grads"):
            grads = multiply_gradients(grads, gradient_multipliers)
    if clip_gradient_norm > 0:
        with name_scope("clip_grads"):
            grads = clip_gradient_norms(grads, clip_gradient_norm)
    if summarize_gradients:
        with name_scope("summarize_grads"):
            add_gradients_summaries(grads)
    grad_updates = optimizer.apply_gradients([(gr, v) for gr, v in grads if gr is not None], global_step=global_step)
    with name_scope("train_op"):
        if check_numerics:
            total_loss = _check_numerics(total_loss, "LossTensor is inf or nan")
        train_op = with_dependencies([grad_updates], total_loss)
    ref = g.get_collection_ref("train_op")
    if train_op not in ref:
        ref.append(train_op)
    return train_op
