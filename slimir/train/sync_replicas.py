"""TF's tf.train.SyncReplicasOptimizer, on all-reduce: the gradient graph and the apply graph of a data-parallel
step (slimir.runtime.split_step runs them with the all-reduce between)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidArgumentError
from .optimizer import Optimizer

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
            raise InvalidArgumentError(f"SyncReplicasOptimizer: update_ops must be 'mean' or 'chief', "
                                       f"got {update_ops!r}")
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


