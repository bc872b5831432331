"""The training loop of `slim.learning.train` (TF-Slim's learning.train); the graph side (create_train_op) is
slimir.learning.

    train_op = slim.learning.create_train_op(total_loss, optimizer)
    slim.learning.train(train_op, logdir, number_of_steps=1000, save_summaries_secs=300, save_interval_secs=600)

`train` initialises the variables (or resumes from the newest checkpoint in logdir, global step
included; `init_fn` runs only when there is none), then runs the train op step after step with its
inputs from `feed_fn` or from input bindings (slim.inputs.bind), logs the loss, writes TensorBoard
summaries and checkpoints, and stops at `number_of_steps`, at the end of the input, or with a clear
error at a NaN/Inf loss — always leaving the last good checkpoint in logdir.

This is slimir's one training loop. How a step runs is a `StepBackend`: `SessionStep` runs the train op on
slimir's Session (TF-Slim's `train_step_fn`; the gradient/all-reduce/apply split when data-parallel), and
`slimir.runtime.ort_training.OrtTrainingStep` runs it through onnxruntime-training (`backend='ort-training'`).
"""

from __future__ import annotations

import abc
import logging
import os
import sys
import time
from typing import Callable, Optional

import numpy as np

from slimir.errors import CheckpointWriteError, InvalidArgumentError, NumericsError, OutOfRangeError
from slimir.ir.graph import Tensor
from slimir.variables import get_global_step, global_variables_initializer, local_variables_initializer

from .checkpoint.lock import hold_train_dir
from .checkpoint.resume import restore_for_resume
from .checkpoint.saver import Saver, latest_checkpoint
from .session import Session

log = logging.getLogger("slimir")

_USE_DEFAULT = object()


class StepBackend(abc.ABC):
    """How the loop runs one training step; the loop does the rest (initialise or restore, log, summaries,
    checkpoints, stop)."""

    #: the backend keeps the Session's variables current, so the summary op can run on them
    summaries = True

    def start(self, sess, train_op, step0: int, logdir: Optional[str]) -> None:
        """Called once, after the session was initialised or restored, before the first step."""

    @abc.abstractmethod
    def step(self, sess, train_op, global_step, kwargs: dict) -> tuple:
        """One step: (total_loss, should_stop); sets kwargs['last_step'] (the global step after it)."""

    def sync(self, sess) -> None:
        """Bring the trained values into `sess` (before a checkpoint is written from it)."""

    def finish(self, sess, logdir: Optional[str], steps_run: bool) -> None:
        """Called once at the end, also after an error."""


class SessionStep(StepBackend):
    """The train op run by slimir's Session with `train_step_fn` (TF-Slim's train_step by default)."""

    def __init__(self, train_step_fn: Callable = None):
        self.train_step_fn = train_step_fn or train_step

    def step(self, sess, train_op, global_step, kwargs: dict) -> tuple:
        return self.train_step_fn(sess, train_op, global_step, kwargs)


def train_step(sess: Session, train_op, global_step, train_step_kwargs: dict):
    """One step: run the train op (and the summaries when due); returns (total_loss, should_stop)."""
    split = train_step_kwargs.get("split_step")
    feed_fn = train_step_kwargs.get("feed_fn")
    feed = feed_fn() if feed_fn and split is None else None
    fetches = [train_op]
    summary_op = train_step_kwargs.get("summary_op_now")
    if summary_op is not None:
        fetches.append(summary_op)
    start = time.time()
    if split is not None:  # data parallel: gradient graph, all-reduce, apply graph
        out = [split.step(feed_fn=feed_fn)]
        if summary_op is not None:
            out.append(sess.run(summary_op, split.last_feeds))
    else:
        out = sess.run(fetches, feed)
    elapsed = time.time() - start
    total_loss = out[0]
    np_step = int(sess.run(global_step))  # the step after this update
    train_step_kwargs["last_step"] = np_step
    train_step_kwargs["last_elapsed"] = elapsed
    comm, check_every = train_step_kwargs.get("comm"), train_step_kwargs.get("replica_check_every_n_steps")
    if comm is not None and check_every and np_step % check_every == 0:
        from .split_step import check_replicas

        check_replicas(sess, comm, np_step)
    if summary_op is not None:
        train_step_kwargs["summary_value"] = out[1]
    every = train_step_kwargs.get("log_every_n_steps") or 0
    if every and np_step % every == 0 and not train_step_kwargs.get("progress"):
        log.info("global step %d: loss = %.4f (%.3f sec/step)", np_step, float(total_loss), elapsed)
    n = train_step_kwargs.get("number_of_steps")
    return total_loss, bool(n is not None and np_step >= n)


def train(train_op, logdir: Optional[str], train_step_fn: Callable = train_step, train_step_kwargs=_USE_DEFAULT,
          log_every_n_steps: int = 1, graph=None, master="", is_chief: Optional[bool] = None, global_step=None,
          number_of_steps: Optional[int] = None, init_op=_USE_DEFAULT, init_feed_dict=None, local_init_op=_USE_DEFAULT,
          init_fn: Optional[Callable] = None, ready_op=_USE_DEFAULT, summary_op=_USE_DEFAULT,
          save_summaries_secs: float = 600, summary_writer=_USE_DEFAULT, startup_delay_steps: int = 0,
          saver: Optional[Saver] = None, save_interval_secs: float = 600, sync_optimizer=None, session_config=None,
          session_wrapper=None, trace_every_n_steps=None, ignore_live_threads: bool = False,
          feed_fn: Optional[Callable] = None, device: Optional[str] = None, progress: Optional[bool] = None,
          session: Optional[Session] = None, backend="slimir", optimizer=None):
    """Run `train_op` until `number_of_steps` (TF-Slim's learning.train); returns the last loss.

    backend='ort-training' trains the train op's loss through ONNX Runtime's training API instead
    (slimir.runtime.ort_training.OrtTrainingStep; needs the ort-training profile and `optimizer=`, the slim.train
    optimiser the train op was built with: ORT builds its own backward and update); a StepBackend instance is
    used as it is.

    Data parallel (synchronous, all-reduce): `master=slim.distributed.init()` (or 'mpi') under
    `slimir launch -n N` / mpiexec, with `sync_optimizer=` the SyncReplicasOptimizer the train op was built
    with. `is_chief` (default: rank 0) restores/initialises and broadcasts the variables, and is the only
    rank that writes checkpoints and summaries to logdir; every `replica_check_every_n_steps` global steps
    (train_step_kwargs, default 100) the ranks compare a hash of their variables and stop with an error
    if they differ."""
    if not isinstance(train_op, Tensor):
        raise InvalidArgumentError(f"learning.train: train_op must be the tensor create_train_op returned, "
                                   f"got {train_op!r}")
    stepper = _step_backend(backend, train_step_fn, optimizer, number_of_steps, master, sync_optimizer, device)
    comm, is_chief = _distributed_setup(master, is_chief, sync_optimizer, startup_delay_steps)
    if logdir is None:
        if summary_op not in (_USE_DEFAULT, None):
            raise InvalidArgumentError("learning.train: cannot provide summary_op because logdir=None")
        if saver is not None:
            raise InvalidArgumentError("learning.train: cannot provide saver because logdir=None")
    g = graph or train_op.graph
    if global_step is None:
        global_step = get_global_step(g)
    if global_step is None:
        raise InvalidArgumentError("learning.train: the graph has no global step (create_train_op creates one)")
    if number_of_steps is not None and number_of_steps <= 0:
        raise InvalidArgumentError(f"learning.train: number_of_steps must be positive, got {number_of_steps}")
    with g.as_default():
        if not stepper.summaries or (summary_op is _USE_DEFAULT and logdir is None):
            summary_op = None
        elif summary_op is _USE_DEFAULT:
            from slimir import summary

            summary_op = summary.merge_all()
        if saver is None and logdir:
            saver = Saver(max_to_keep=5)
        if init_op is _USE_DEFAULT:
            init_op = global_variables_initializer()
        if local_init_op is _USE_DEFAULT:
            local_init_op = local_variables_initializer()
    if not is_chief:  # only the chief writes to logdir
        saver, summary_op = None, None
    if logdir and is_chief:
        os.makedirs(logdir, exist_ok=True)
    if session is not None:
        sess = session
    elif comm is not None:  # one thread pool per rank, no spinning between the two graphs of a step
        from .split_step import threads_per_rank

        sess = Session(graph=g, device=device, allow_spinning=False, intra_op_num_threads=threads_per_rank())
    else:  # (another backend runs the steps on its own device: the Session only holds the state)
        sess = Session(graph=g, device=device if isinstance(stepper, SessionStep) else None)
    kwargs = {} if train_step_kwargs is _USE_DEFAULT else dict(train_step_kwargs)
    if comm is not None:
        from .split_step import SplitStep

        kwargs.setdefault("replica_check_every_n_steps", 100)
        kwargs.update(comm=comm, split_step=SplitStep(sess, sync_optimizer, comm))
    if progress is None:
        progress = sys.stderr.isatty()
    kwargs.update(number_of_steps=number_of_steps, log_every_n_steps=log_every_n_steps, feed_fn=feed_fn,
                  progress=progress)
    ckpt_prefix = os.path.join(logdir, "model.ckpt") if logdir else None
    # one run per logdir: the chief holds its lock until the end (checkpoint/lock.py)
    with g.as_default(), hold_train_dir(logdir if is_chief else None):
        if comm is None or is_chief:
            _prepare(sess, init_op, init_feed_dict, local_init_op, init_fn, saver, logdir)
        else:  # a worker initialises (for the shapes), then takes the chief's values
            _prepare(sess, init_op, init_feed_dict, local_init_op, None, None, None)
        if comm is not None:
            from .split_step import broadcast_variables, check_replicas

            broadcast_variables(sess, comm)
            check_replicas(sess, comm)
        if not sess.is_initialized(global_step):
            sess.initialize([global_step])
        step0 = int(sess.run(global_step))
        if number_of_steps is not None and step0 >= number_of_steps:
            log.info("global step %d already reached number_of_steps=%d", step0, number_of_steps)
            return None
        stepper.start(sess, train_op, step0, logdir)
        writer = _summary_writer(logdir, is_chief, summary_op, summary_writer)
        bar = _progress_bar(progress, step0, number_of_steps)
        last_save = time.time()
        last_summary = float("-inf")  # the first step writes summaries, then every save_summaries_secs
        total_loss = None
        stopped_by = None
        failed = False
        in_flight = None  # the exception leaving the loop, if any
        try:
            while True:
                now = time.time()
                due = summary_op is not None and writer is not None and now - last_summary >= save_summaries_secs
                kwargs["summary_op_now"] = summary_op if due else None
                try:
                    total_loss, should_stop = stepper.step(sess, train_op, global_step, kwargs)
                except OutOfRangeError:
                    stopped_by = "end of input"
                    break
                except NumericsError as e:
                    failed = True
                    step = kwargs.get("last_step", step0)
                    raise NumericsError(f"training stopped at global step {step}: {e}; the last good checkpoint "
                                        f"in {logdir} is {latest_checkpoint(logdir) if logdir else None}") from None
                step = kwargs.get("last_step", step0)
                if due:
                    writer.add_summary(kwargs.pop("summary_value"), step)
                    last_summary = now
                if bar is not None:
                    bar.update(1)
                    el = kwargs.get("last_elapsed") or 0
                    bar.set_postfix(loss=f"{float(total_loss):.4f}", steps_s=f"{1.0 / el:.1f}" if el else "-")
                if saver is not None and save_interval_secs and now - last_save >= save_interval_secs:
                    stepper.sync(sess)
                    _save_if_finite(sess, saver, ckpt_prefix, global_step)
                    last_save = time.time()
                if should_stop:
                    stopped_by = "number_of_steps"
                    break
        except BaseException as e:
            in_flight = e
            raise
        finally:
            if bar is not None:
                bar.close()
            try:
                if total_loss is not None:
                    stepper.sync(sess)
                if saver is not None and ckpt_prefix and total_loss is not None and is_chief and not failed:
                    _final_save(sess, saver, ckpt_prefix, global_step, in_flight)
            finally:
                try:
                    stepper.finish(sess, logdir, total_loss is not None)
                finally:
                    if writer is not None:
                        _close_writer(writer, total_loss, kwargs.get("last_step", 0), in_flight)
        log.info("training stopped (%s) at global step %s", stopped_by, kwargs.get("last_step"))
        return total_loss


def _distributed_setup(master, is_chief, sync_optimizer, startup_delay_steps):
    """(communicator or None, is_chief) from TF-Slim's master / is_chief / sync_optimizer arguments."""
    from slimir.train import SyncReplicasOptimizer

    from .distributed import resolve_master

    comm = resolve_master(master)
    if isinstance(sync_optimizer, (list, tuple)):
        if len(sync_optimizer) != 1:
            raise InvalidArgumentError("learning.train: one sync_optimizer per train op is supported, got "
                                       f"{len(sync_optimizer)}")
        sync_optimizer = sync_optimizer[0]
    if sync_optimizer is not None and not isinstance(sync_optimizer, SyncReplicasOptimizer):
        raise InvalidArgumentError(f"learning.train: sync_optimizer must be a slim.train.SyncReplicasOptimizer, got "
                                   f"{sync_optimizer!r}")
    if sync_optimizer is not None and startup_delay_steps:
        raise ValueError("startup_delay_steps must be zero when sync_optimizer is supplied.")
    if comm is None:
        if sync_optimizer is not None and sync_optimizer.total_num_replicas != 1:
            raise InvalidArgumentError(
                f"learning.train: sync_optimizer aggregates {sync_optimizer.total_num_replicas} replicas but no "
                "master was given: pass master=slim.distributed.init() and launch N processes (slimir launch -n N)")
        return None, (True if is_chief is None else bool(is_chief))
    if comm.size > 1 and sync_optimizer is None:
        raise InvalidArgumentError(
            f"learning.train: {comm.size} processes without sync_optimizer would be asynchronous (parameter-server) "
            "training, which slimir does not support; build the train op with slim.train.SyncReplicasOptimizer(opt, "
            f"{comm.size}, {comm.size}) and pass it as sync_optimizer=")
    if sync_optimizer is None:  # world of size 1: the fused step
        return None, (True if is_chief is None else bool(is_chief))
    chief = comm.is_chief if is_chief is None else bool(is_chief)
    flags = comm.allgather_obj(chief)
    if sum(flags) != 1:
        raise InvalidArgumentError(f"learning.train: exactly one process must be the chief, got is_chief={flags}")
    if not flags[0]:
        raise InvalidArgumentError("learning.train: the chief must be rank 0 (it is the root of the broadcasts)")
    return comm, chief


def _step_backend(backend, train_step_fn, optimizer, number_of_steps, master, sync_optimizer, device) -> StepBackend:
    """The StepBackend that `backend` names ('slimir', 'ort-training') or is."""
    if isinstance(backend, StepBackend):
        return backend
    if backend == "slimir":
        return SessionStep(train_step_fn)
    if backend != "ort-training":
        raise InvalidArgumentError(f"learning.train: unknown backend {backend!r}: use 'slimir' or 'ort-training'")
    if master not in ("", None) or sync_optimizer is not None:
        raise InvalidArgumentError("learning.train: backend='ort-training' trains in one process (no master=, "
                                   "sync_optimizer=)")
    if optimizer is None:
        raise InvalidArgumentError("learning.train: backend='ort-training' needs optimizer= (the slim.train optimizer "
                                   "the train op was built with)")
    if number_of_steps is None:
        raise InvalidArgumentError("learning.train: backend='ort-training' needs number_of_steps")
    from .ort_training import OrtTrainingStep

    return OrtTrainingStep(optimizer, device=device or "cpu")


def _summary_writer(logdir, is_chief, summary_op, summary_writer):
    """The FileWriter of logdir's summaries (the chief's only), or the one given, or None."""
    if not (logdir and is_chief):
        return None
    if summary_op is not None and summary_writer is _USE_DEFAULT:
        from slimir.summary import FileWriter

        return FileWriter(logdir)
    if summary_writer not in (_USE_DEFAULT, None):
        return summary_writer
    return None


def _final_save(sess, saver, prefix, global_step, in_flight) -> None:
    """The save at the end of train(). After a failed write (a full disk) there is none: it would fail the
    same way; while another error propagates, a failure here is logged instead of chained to it."""
    if isinstance(in_flight, CheckpointWriteError):
        return
    try:
        _save_if_finite(sess, saver, prefix, global_step)
    except CheckpointWriteError as e:
        if in_flight is None:
            raise
        log.error("%s", e)


def _close_writer(writer, total_loss, step, in_flight) -> None:
    """Log the last loss and close the summary writer; while an error propagates, its failure is logged."""
    try:
        if total_loss is not None:
            writer.add_scalar("losses/train_op_loss", float(np.asarray(total_loss)), step)
        writer.close()
    except OSError as e:
        if in_flight is None:
            raise
        log.error("could not close the summary writer: %s", e)


def _save_if_finite(sess, saver, prefix, global_step) -> None:
    """Save, unless a variable went NaN/Inf (a diverging run must not replace the last good checkpoint)."""
    for name, v in saver.variables.items():
        if v.dtype.is_floating and not np.all(np.isfinite(sess.variable_value(v))):
            log.warning("not saving a checkpoint: %s holds NaN or Inf values", name)
            return
    saver.save(sess, prefix, global_step=global_step)


def _prepare(sess, init_op, init_feed_dict, local_init_op, init_fn, saver, logdir) -> None:
    """Initialise, then restore the newest checkpoint in logdir, or else run init_fn (warm start)."""
    if init_op is not None:
        sess.run(init_op, init_feed_dict)
    if local_init_op is not None:
        sess.run(local_init_op)
    restored = None
    if logdir and saver is not None:
        point = restore_for_resume(logdir, lambda prefix: _restore(sess, saver, prefix))
        restored = point.checkpoint
        if restored is not None:
            saver.set_last_checkpoints(point.keep)
            saver.protect(point.protect)
    if restored is None and init_fn is not None:
        init_fn(sess)


def _restore(sess, saver, prefix: str) -> None:
    log.info("restoring %s", prefix)
    saver.restore(sess, prefix)


def _progress_bar(enabled: bool, start: int, total: Optional[int]):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, leave=True)


