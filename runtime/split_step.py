"""The train op split for data parallelism: gradient graph -> in-place all-reduce -> apply graph.

TF's `compute_gradients` / `apply_gradients`, as Horovod and SyncReplicasOptimizer split it. The gradient
graph (forward, loss, backward and the batch-norm update ops) writes every gradient straight into its
slice of one flat float32 bucket (ONNX Runtime IO binding on `bucket + offset`); the loss and the new
values of the UPDATE_OPS variables ride at the bucket's end. The communicator sums the bucket in place,
it is scaled by 1/N, and the apply graph (gradient multipliers, clipping, the optimizer, global step)
reads views of it. Clipping therefore acts on the averaged gradient, as in one process on the whole batch.

At world size 1 the split equals the fused train op bitwise. Both sessions run with ORT's thread
spinning off: with spinning on, two back-to-back sessions cost up to 2x on few cores.

Batch norm: each rank normalises with its own batch's moments (not cross-replica "sync" batch norm), so
with is_training=True the gradients equal the single-process whole-batch gradients only when every rank's
batch has the whole batch's moments; the moving statistics are averaged over ranks by default (exact:
the moving average is linear in the batch moments), or taken from the chief (`update_ops='chief'`).
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from slimir.errors import InvalidArgumentError, NumericsError, OutOfRangeError, SlimirError
from slimir.ir.graph import GraphKeys
from slimir.ir.registry import get_op

from .distributed import Communicator, DistributedError, LocalCommunicator, parameter_hash

__all__ = ["SplitStep", "broadcast_variables", "check_replicas", "threads_per_rank"]


def threads_per_rank() -> int:
    """Intra-op threads for one rank: the cores divided by the ranks on this node (at least 1)."""
    local = os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE") or os.environ.get("LOCAL_WORLD_SIZE") or "1"
    try:
        n = max(1, int(local))
    except ValueError:
        n = 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // n)


class SplitStep:
    """One synchronous data-parallel step of a train op built with a SyncReplicasOptimizer.

    `step(feed_dict)` runs the gradient graph on this rank's batch, all-reduces and averages the bucket,
    applies the averaged gradients and returns the averaged loss (the loss of the global batch when the
    ranks' batches have equal sizes).
    """

    def __init__(self, sess, sync_optimizer, comm: Optional[Communicator] = None, check_numerics: bool = True):
        from slimir.train import SyncReplicasOptimizer

        if not isinstance(sync_optimizer, SyncReplicasOptimizer):
            raise InvalidArgumentError(f"SplitStep needs the SyncReplicasOptimizer the train op was built with, "
                                       f"got {sync_optimizer!r}")
        if sync_optimizer.apply_op is None or sync_optimizer.loss is None:
            raise InvalidArgumentError("SplitStep: the SyncReplicasOptimizer was not used to build a train op "
                                       "(pass it to slim.learning.create_train_op)")
        self.comm = comm or LocalCommunicator()
        if sync_optimizer.total_num_replicas != self.comm.size:
            raise DistributedError(
                f"SyncReplicasOptimizer(replicas_to_aggregate={sync_optimizer.replicas_to_aggregate}, "
                f"total_num_replicas={sync_optimizer.total_num_replicas}) but the job has {self.comm.size} "
                f"process(es): set both to the number of processes (comm.size)")
        self.sess = sess
        self.opt = sync_optimizer
        self.graph = sess.graph
        self.loss = sync_optimizer.loss
        self.pairs = [(g, v) for g, v in sync_optimizer.grads_and_vars if g is not None]
        self.apply_op = sync_optimizer.apply_op
        self.check_numerics = check_numerics
        self._grad_tensors = [g for g, _ in self.pairs]
        self._compiled: dict = {}
        self._bucket = None
        self.last_feeds: dict = {}

    # -- the bucket
    def _layout(self, comp) -> None:
        """Offsets of the gradients, the update-op variables and the loss in the flat bucket."""
        sizes = [int(np.prod(v.shape, dtype=np.int64)) for _, v in self.pairs]
        bn_vars = []
        for var, _ in comp.lowered.assigns:
            if var not in bn_vars:
                bn_vars.append(var)
        for v in bn_vars:
            if not v.dtype.is_floating or v.dtype.np != np.float32:
                raise DistributedError(f"update op variable {v.op.name} has dtype {v.dtype.name}; only float32 "
                                       "update ops (batch-norm statistics) can be averaged across ranks")
        self.bn_vars = bn_vars
        bn_sizes = [int(np.prod(v.shape, dtype=np.int64)) for v in bn_vars]
        total = sum(sizes) + sum(bn_sizes) + 1
        self._bucket = np.zeros(total, np.float32)
        off = 0
        self.grad_views = []
        for (_, v), n in zip(self.pairs, sizes):
            self.grad_views.append(self._bucket[off:off + n].reshape(tuple(v.shape)))
            off += n
        self.n_grad = off
        self.bn_views = []
        for v, n in zip(bn_vars, bn_sizes):
            self.bn_views.append(self._bucket[off:off + n].reshape(tuple(v.shape)))
            off += n
        self.loss_view = self._bucket[off:off + 1].reshape(())

    @property
    def bucket(self) -> np.ndarray:
        """The flat float32 bucket (gradients, update-op values, loss) after the last all-reduce."""
        return self._bucket

    # -- the gradient graph, outputs bound into the bucket
    def _compile_grads(self, feeds: dict):
        key = tuple(sorted(id(t) for t in feeds))
        comp = self._compiled.get(key)
        if comp is None:
            tensors = [self.loss] + self._grad_tensors
            if len({id(t) for t in tensors}) != len(tensors):
                raise SlimirError("SplitStep: two variables share one gradient tensor; cannot bind both")
            comp = self.sess._compile(tensors, [], list(feeds))
            self._compiled[key] = comp
            if self._bucket is None:
                self._layout(comp)
        return comp

    def _run_grads(self, feeds: dict) -> None:
        import onnxruntime as ort

        sess = self.sess
        comp = self._compile_grads(feeds)
        low = comp.lowered
        binding = comp.sess.io_binding()
        for name, t in zip(comp.input_names, low.feeds + low.variables):
            arr = feeds[t] if t in feeds else sess.variable_value(t)
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(arr))
        targets = {0: self.loss_view}
        for i, view in enumerate(self.grad_views):
            targets[i + 1] = view
        written = {}
        for var, idx in low.assigns:
            written[idx] = var
        spares = {}
        for i, name in enumerate(comp.output_names):
            if i in targets:
                view = targets[i]
                binding.bind_output(name, "cpu", 0, np.float32, list(view.shape), view.ctypes.data)
            elif i in written:
                var = written[i]
                spare = np.empty(tuple(var.shape), var.dtype.np)
                spares[i] = spare
                binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(spare))
            else:
                binding.bind_output(name)
        try:
            comp.sess.run_with_iobinding(binding)
        except Exception as e:
            raise SlimirError(f"the gradient graph failed in ONNX Runtime: {str(e).strip().splitlines()[0]}") from None
        outs = binding.get_outputs()
        def value(k):
            return self.loss_view if k == 0 else (self.grad_views[k - 1] if k in targets else outs[k].numpy())

        for node, i in low.checks:  # check ops (check_numerics, check_labels, assert): their rule on their values
            err = get_op(node.type).extra["check"](node, [value(k) for k in range(i, i + len(node.outputs))])
            if err is not None:
                raise err
        for i, spare in spares.items():
            sess._state[written[i]] = spare
        for view, var in zip(self.bn_views, self.bn_vars):
            view[...] = sess.variable_value(var)

    # -- one step
    def _next_feeds(self, feed_dict, feed_fn) -> Optional[dict]:
        """This rank's batch (None at the end of its input)."""
        sess = self.sess
        try:
            feeds = sess._feeds(feed_fn() if feed_fn is not None else feed_dict)
            bindings = self.graph.get_collection("input_bindings")
            if bindings:
                sess._feed_bound([self.loss] + self._grad_tensors, feeds, bindings)
        except OutOfRangeError:
            return None
        return feeds

    def step(self, feed_dict: Optional[dict] = None, feed_fn=None) -> np.float32:
        """Gradient graph, all-reduce (mean), apply graph; returns the averaged loss. The batch is `feed_dict`,
        or `feed_fn()`, plus the input bindings'. When any rank's input ends, every rank raises
        OutOfRangeError at the same step (the ranks agree first, so none waits for ever)."""
        sess = self.sess
        feeds = self._next_feeds(feed_dict, feed_fn)
        if self.comm.size > 1:
            ended = np.array([feeds is None], np.float32)
            self.comm.allreduce_(ended)
            if ended[0] > 0:
                raise OutOfRangeError(f"the input of {int(ended[0])} of {self.comm.size} rank(s) ended: the "
                                      "data-parallel step stops on every rank")
        elif feeds is None:
            raise OutOfRangeError("the input ended")
        self.last_feeds = feeds  # this step's batch (summaries of the chief are computed on it)
        with sess._lock:
            self._run_grads(feeds)
            n = self.comm.size
            if n > 1:
                chief_bn = self.opt.update_ops == "chief" and self.bn_views
                if chief_bn:
                    bn = self._bucket[self.n_grad:-1].copy()
                    self.comm.broadcast_(bn, root=0)
                self.comm.allreduce_(self._bucket)
                self._bucket *= np.float32(1.0 / n)
                if chief_bn:  # rank 0's moving statistics, as model_deploy took UPDATE_OPS from the first clone
                    self._bucket[self.n_grad:-1] = bn
                for view, var in zip(self.bn_views, self.bn_vars):
                    sess.set_variable_value(var, view)
            loss = np.float32(self.loss_view)
            if self.check_numerics and not np.isfinite(loss):
                raise NumericsError("LossTensor is inf or nan : the averaged loss had NaN or Inf values "
                                    "(the variables were not updated by this step)")
        sess.run(self.apply_op, dict(zip(self._grad_tensors, self.grad_views)))
        return loss


def _state_variables(sess) -> list:
    """The session's variables (global and local), in name order: what replicas must agree on."""
    g = sess.graph
    seen, out = set(), []
    for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES):
        if v not in seen and sess.is_initialized(v):
            seen.add(v)
            out.append(v)
    return sorted(out, key=lambda v: v.op.name)


def broadcast_variables(sess, comm: Communicator, root: int = 0, variables=None) -> None:
    """Make every rank's global variables equal root's (Horovod's broadcast_global_variables)."""
    if comm.size == 1:
        return
    variables = _state_variables(sess) if variables is None else list(variables)
    names = comm.allgather_obj([v.op.name for v in variables])
    if any(n != names[0] for n in names):
        raise DistributedError("broadcast_variables: the ranks built different graphs (their variable names "
                               "differ); every rank must build the same model")
    for v in variables:
        arr = np.array(sess.variable_value(v), order="C")
        comm.broadcast_(arr, root=root)
        sess.set_variable_value(v, arr)


def check_replicas(sess, comm: Communicator, step: Optional[int] = None) -> str:
    """Allgather a hash of every rank's global variables; raise DistributedError when any differs."""
    h = parameter_hash(sess.variable_value(v) for v in _state_variables(sess))
    hashes = comm.allgather_obj(h)
    if any(x != hashes[0] for x in hashes):
        bad = [r for r, x in enumerate(hashes) if x != hashes[0]]
        raise DistributedError(f"the replicas' variables diverged{'' if step is None else f' at global step {step}'}: "
                               f"rank(s) {bad} differ from rank 0 (hashes {hashes})")
    return h
