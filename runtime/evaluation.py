"""`slim.evaluation`: evaluate a checkpoint once, or every new checkpoint as training writes them.

    names_to_values, names_to_updates = slim.metrics.aggregate_metric_map({...})
    slim.evaluation.evaluate_once('', checkpoint_path, logdir, num_evals=100,
                                  eval_op=list(names_to_updates.values()), final_op=names_to_values)
    slim.evaluation.evaluation_loop('', checkpoint_dir, logdir, num_evals=100, eval_op=...,
                                    eval_interval_secs=60, max_number_of_evaluations=None, timeout=None)

One evaluation: the checkpoint is restored (read only: the file is never written), the other global
variables are initialised, the local variables (metric accumulators) are reset, `initial_op` runs,
`eval_op` runs `num_evals` times (its inputs from `feed_fn()` / `eval_op_feed_dict` or from input
bindings, `slim.inputs.bind`; the end of the input ends the evaluation early), then `final_op` runs and
its value is returned, and `summary_op` (default: every summary, `slim.summary.merge_all()`) is written to
TensorBoard event files in `logdir` at the checkpoint's global step.

`evaluation_loop` waits for each new checkpoint in `checkpoint_dir` (`checkpoints_iterator`). It only
reads checkpoints the `checkpoint` state file names, and slimir's saver writes a checkpoint completely
(temp file, fsync, rename) before naming it there, so a half-written file is never read; a checkpoint
that `max_to_keep` deletes between being listed and being read is skipped. The loop stops after
`max_number_of_evaluations`, or when no new checkpoint came for `timeout` seconds (and `timeout_fn`, if
given, returns True), and returns the last value of `final_op`.

Hooks: objects with any of `begin()`, `after_create_session(session, coord)`, `before_run(run_context)`
(returning None or `SessionRunArgs(fetches, feed_dict)`), `after_run(run_context, run_values)` and
`end(session)`, called around each evaluation as TF's SessionRunHooks are; `run_context.request_stop()`
ends the eval loop early.
"""

from __future__ import annotations

import logging
import re
import time
from collections import namedtuple
from typing import Callable, Iterator, Optional

import numpy as np

from slimir.errors import CheckpointError, InvalidArgumentError, OutOfRangeError, ScopeError
from slimir.ir.graph import GraphKeys, Node, Tensor, Variable, get_default_graph
from slimir.summary import FileWriter

from .checkpoint.assign import _split_missing, open_reader, resolve_model_path, restore_all_or_nothing
from .checkpoint.saver import _var_dict, checkpoint_exists, latest_checkpoint
from .session import Session

log = logging.getLogger("slimir")

__all__ = ["SessionRunArgs", "SessionRunContext", "SessionRunHook", "SessionRunValues", "StopAfterNEvalsHook",
           "checkpoints_iterator", "evaluate_once", "evaluation_loop", "get_or_create_eval_step",
           "wait_for_new_checkpoint"]

_USE_DEFAULT = object()
EVAL_STEP = "eval_step"


# ------------------------------------------------------------------------------------------ hooks

SessionRunArgs = namedtuple("SessionRunArgs", ["fetches", "feed_dict"])
SessionRunArgs.__new__.__defaults__ = (None,)
SessionRunValues = namedtuple("SessionRunValues", ["results", "options", "run_metadata"])
SessionRunValues.__new__.__defaults__ = (None, None)


class SessionRunContext:
    """What a hook sees around one run: the args, the session, and a way to stop the evaluation."""

    def __init__(self, original_args: SessionRunArgs, session):
        self.original_args = original_args
        self.session = session
        self._stop = False

    def request_stop(self) -> None:
        self._stop = True

    @property
    def stop_requested(self) -> bool:
        return self._stop


class SessionRunHook:
    """Base class of evaluation hooks (every method optional)."""

    def begin(self):
        pass

    def after_create_session(self, session, coord):
        pass

    def before_run(self, run_context):
        return None

    def after_run(self, run_context, run_values):
        pass

    def end(self, session):
        pass


class StopAfterNEvalsHook(SessionRunHook):
    """Requests a stop after `num_evals` runs of the eval op."""

    def __init__(self, num_evals: int, log_progress: bool = True):
        self._num_evals = num_evals
        self._log_progress = log_progress
        self._done = 0

    def begin(self):
        self._done = 0

    def after_run(self, run_context, run_values):
        self._done += 1
        if self._log_progress and self._num_evals:
            log.info("Evaluation [%d/%d]", self._done, self._num_evals)
        if self._num_evals is not None and self._done >= self._num_evals:
            run_context.request_stop()

    @property
    def evals_completed(self) -> int:
        return self._done


def get_or_create_eval_step(graph=None) -> Variable:
    """The int64 local variable counting eval-op runs (TF's eval step); evaluation increments it."""
    from slimir import dtypes
    from slimir.initializers import Zeros
    from slimir.variables import get_variable

    g = graph or get_default_graph()
    existing = g.get_collection(EVAL_STEP)
    if len(existing) == 1:
        return existing[0]
    if len(existing) > 1:
        raise ScopeError("Multiple tensors added to the eval_step collection")
    with g.as_default(), g.name_scope(None):
        from slimir.ir.graph import VariableScope

        saved = g._var_scope
        g._var_scope = VariableScope("", reuse=None)
        try:
            return get_variable("eval_step", shape=[], dtype=dtypes.int64, initializer=Zeros(), trainable=False,
                                collections=[GraphKeys.LOCAL_VARIABLES, EVAL_STEP])
        finally:
            g._var_scope = saved


def _call(hook, name, *args):
    fn = getattr(hook, name, None)
    return fn(*args) if fn is not None else None


# ------------------------------------------------------------------------------------------ checkpoints


def wait_for_new_checkpoint(checkpoint_dir: str, last_checkpoint: Optional[str] = None,
                            seconds_to_sleep: float = 1, timeout: Optional[float] = None) -> Optional[str]:
    """The newest checkpoint in `checkpoint_dir` once it differs from `last_checkpoint`; None after `timeout`."""
    log.info("Waiting for new checkpoint at %s", checkpoint_dir)
    stop_time = time.time() + timeout if timeout is not None else None
    while True:
        try:
            path = latest_checkpoint(checkpoint_dir)
        except CheckpointError as e:  # an unreadable state file: treat as no checkpoint yet
            log.warning("%s", e)
            path = None
        if path is None or path == last_checkpoint:
            if stop_time is not None and time.time() + seconds_to_sleep > stop_time:
                return None
            time.sleep(seconds_to_sleep)
        else:
            log.info("Found new checkpoint at %s", path)
            return path


def checkpoints_iterator(checkpoint_dir: str, min_interval_secs: float = 0, timeout: Optional[float] = None,
                         timeout_fn: Optional[Callable[[], bool]] = None) -> Iterator[str]:
    """Yields each new checkpoint of `checkpoint_dir` as it appears, at most one per `min_interval_secs`.

    When no new checkpoint comes for `timeout` seconds, the iterator ends, unless `timeout_fn` is given and
    returns False (then it waits again)."""
    path = None
    while True:
        new = wait_for_new_checkpoint(checkpoint_dir, path, timeout=timeout,
                                      seconds_to_sleep=_poll_interval(min_interval_secs, timeout))
        if new is None:
            if not timeout_fn:
                log.info("Timed-out waiting for a checkpoint.")
                return
            if timeout_fn():
                return
            continue
        start = time.time()
        path = new
        yield path
        wait = start + min_interval_secs - time.time()
        if wait > 0:
            time.sleep(wait)


def _poll_interval(min_interval_secs, timeout) -> float:
    """TF polls every second; short intervals/timeouts (tests, small jobs) poll faster."""
    s = 1.0
    for x in (min_interval_secs, timeout):
        if x:
            s = min(s, max(0.05, x / 4))
    return s


# ------------------------------------------------------------------------------------------ one evaluation


def _check_master(master, fn: str):
    """None (this process alone) or the communicator whose ranks share the evaluation."""
    from .distributed import Communicator, resolve_master

    if master in ("", None, "local") or isinstance(master, Communicator) or master == "mpi":
        return resolve_master(master)
    raise InvalidArgumentError(f"{fn}: master={master!r}: pass '' or 'local' (this process), or a "
                               "slim.distributed communicator ('mpi') to split the evaluations over its ranks")


def _normalize_fetch(f):
    """dict views (names_to_updates.values()) and other iterables become lists; fetchable things stay."""
    if f is None or isinstance(f, (Tensor, Node, str, list, tuple, dict)) or hasattr(f, "_fetch_tensors"):
        return f
    if hasattr(f, "__iter__"):
        return list(f)
    return f


def _graph_of(*fetches):
    def walk(f):
        if isinstance(f, (Tensor, Node)):
            return f.graph
        if isinstance(f, dict):
            f = list(f.values())
        if isinstance(f, (list, tuple)):
            for x in f:
                g = walk(x)
                if g is not None:
                    return g
        if hasattr(f, "_fetch_tensors"):
            return walk(f._fetch_tensors())
        return None

    for f in fetches:
        g = walk(f)
        if g is not None:
            return g
    return get_default_graph()


def _step_from_path(path: str) -> Optional[int]:
    m = re.search(r"-(\d+)(\.safetensors|\.index)?$", path)
    return int(m.group(1)) if m else None


class _Evaluator:
    """What one evaluation_loop (or evaluate_once) keeps between checkpoints: the graph, one Session (so
    the compiled ORT models are reused), the summary writer."""

    def __init__(self, fn: str, master, logdir, num_evals, initial_op, initial_op_feed_dict, init_fn, eval_op,
                 eval_op_feed_dict, final_op, final_op_feed_dict, summary_op, summary_op_feed_dict,
                 variables_to_restore, session_config, hooks, feed_fn):
        self.comm = _check_master(master, fn)
        if num_evals is not None and num_evals < 0:
            raise InvalidArgumentError(f"{fn}: num_evals must be >= 0, got {num_evals}")
        self.fn = fn
        eval_op = _normalize_fetch(eval_op)
        final_op = _normalize_fetch(final_op)
        initial_op = _normalize_fetch(initial_op)
        self.graph = g = _graph_of(eval_op, final_op, initial_op,
                                   summary_op if summary_op is not _USE_DEFAULT else None)
        with g.as_default():
            if summary_op is _USE_DEFAULT:
                from slimir import summary

                summary_op = summary.merge_all()
            self.restore_map = _var_dict(variables_to_restore)
        self.logdir = logdir
        if self.comm is not None and self.comm.size > 1 and num_evals is not None:
            # num_evals global batches, strided over the ranks (rank r runs batches r, r + size, ...)
            num_evals = len(range(self.comm.rank, num_evals, self.comm.size))
        self.num_evals = num_evals
        self.initial_op, self.initial_op_feed_dict = initial_op, initial_op_feed_dict
        self.init_fn = init_fn
        self.eval_op, self.eval_op_feed_dict = eval_op, eval_op_feed_dict
        self.final_op, self.final_op_feed_dict = final_op, final_op_feed_dict
        self.summary_op, self.summary_op_feed_dict = summary_op, summary_op_feed_dict
        self.hooks = list(hooks or [])
        self.feed_fn = feed_fn
        config = session_config if isinstance(session_config, dict) else {}
        self.session_kwargs = config
        self.sess: Optional[Session] = None
        self.writer = None
        self.eval_step = None
        steps = g.get_collection(EVAL_STEP)
        if len(steps) == 1:
            self.eval_step = steps[0]

    # -- pieces
    def _session(self) -> Session:
        if self.sess is None:
            self.sess = Session(graph=self.graph, **self.session_kwargs)
        return self.sess

    def _restore(self, sess, path: str):
        """Restore the checkpoint (read only), initialise every other global variable; returns (reader,
        restored variables)."""
        reader = open_reader(path)
        grouped = {name: [v] for name, v in self.restore_map.items()}
        present = _split_missing(reader, grouped, False, path)
        restore_all_or_nothing(sess, reader, present, reshape=False, where=path)
        restored = {v for vs in present.values() for v in vs}
        rest = [v for v in self.graph.get_collection(GraphKeys.GLOBAL_VARIABLES) if v not in restored]
        rest += [v for vs in grouped.values() for v in vs if v not in restored and v not in rest]
        if rest:
            sess.initialize(rest)
        return reader, restored

    def _global_step(self, sess, reader, restored, path: str) -> int:
        gs = None
        try:
            from slimir.variables import get_global_step

            gs = get_global_step(self.graph)
        except ScopeError:
            pass
        if isinstance(gs, Variable) and gs in restored:
            return int(np.asarray(sess.variable_value(gs)))
        meta = reader.metadata() if hasattr(reader, "metadata") else {}
        if meta.get("global_step", "").lstrip("-").isdigit():
            return int(meta["global_step"])
        step = _step_from_path(path)
        if step is not None:
            return step
        if reader.has_tensor("global_step"):
            try:
                return int(np.asarray(reader.get_tensor("global_step")))
            except (TypeError, ValueError):
                pass
        log.info("%s: no global step (no global_step variable, no '-<step>' suffix): summaries at step 0", path)
        return 0

    def _feed(self, base: Optional[dict]) -> Optional[dict]:
        if self.feed_fn is None:
            return base
        extra = self.feed_fn()
        if not base:
            return extra
        out = dict(base)
        out.update(extra or {})
        return out

    def _run_evals(self, sess) -> int:
        if self.eval_op is None:
            return 0
        done = 0
        stop = False
        while not stop and (self.num_evals is None or done < self.num_evals):
            feed = self._feed(self.eval_op_feed_dict)
            args = SessionRunArgs(self.eval_op, feed)
            ctx = SessionRunContext(args, sess)
            extra = [_call(h, "before_run", ctx) for h in self.hooks]
            fetches = {"eval": self.eval_op}
            feed_all = dict(feed or {})
            for i, a in enumerate(extra):
                if a is not None:
                    fetches[i] = a.fetches if isinstance(a, SessionRunArgs) else a
                    if isinstance(a, SessionRunArgs) and a.feed_dict:
                        feed_all.update(a.feed_dict)
            try:
                out = sess.run(fetches, feed_all or None)
            except OutOfRangeError:
                log.info("%s: the input ended after %d of %s evaluations", self.fn, done, self.num_evals)
                break
            done += 1
            if self.eval_step is not None:
                sess.set_variable_value(self.eval_step, np.int64(sess.variable_value(self.eval_step)) + 1)
            for i, h in enumerate(self.hooks):
                _call(h, "after_run", ctx, SessionRunValues(out.get(i)))
            stop = ctx.stop_requested
        return done

    def _write_summary(self, sess, step: int) -> None:
        if self.summary_op is None or not self.logdir or (self.comm is not None and not self.comm.is_chief):
            return
        value = sess.run(self.summary_op, self.summary_op_feed_dict)
        if self.writer is None:
            self.writer = FileWriter(self.logdir)
        self.writer.add_summary(value, step)
        self.writer.flush()

    # -- one checkpoint
    def evaluate(self, checkpoint_path: str):
        path = resolve_model_path(checkpoint_path)
        if self.comm is not None and self.comm.size > 1:  # every rank evaluates the chief's choice
            path = self.comm.allgather_obj(path)[0]
        start = time.time()
        log.info("Starting evaluation of %s", path)
        for h in self.hooks:
            _call(h, "begin")
        sess = self._session()
        # each checkpoint reads its input from the start
        if self.graph.get_collection("input_bindings") or self.graph.get_collection("input_pipelines"):
            from slimir.inputs import stop_pipelines

            stop_pipelines(self.graph, sess)
        with self.graph.as_default(), sess.as_default():
            reader, restored = self._restore(sess, path)
            step = self._global_step(sess, reader, restored, path)
            del reader
            sess.initialize(self.graph.get_collection(GraphKeys.LOCAL_VARIABLES))
            if self.init_fn is not None:
                self.init_fn(sess)
            for h in self.hooks:
                _call(h, "after_create_session", sess, None)
            if self.initial_op is not None:
                sess.run(self.initial_op, self.initial_op_feed_dict)
            done = self._run_evals(sess)
            if self.comm is not None and self.comm.size > 1:  # every rank ends with the whole data's metrics
                from .distributed import merge_metric_variables

                merge_metric_variables(sess, self.graph, self.comm)
            final = None
            if self.final_op is not None:
                final = sess.run(self.final_op, self.final_op_feed_dict)
            self._write_summary(sess, step)
            for h in self.hooks:
                _call(h, "end", sess)
        log.info("Finished evaluation of %s (global step %d, %d eval runs, %.2f s)", path, step, done,
                 time.time() - start)
        self.last_step = step
        return final

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.sess is not None:
            self.sess.close()
            self.sess = None


def evaluate_once(master, checkpoint_path, logdir, num_evals: int = 1, initial_op=None, initial_op_feed_dict=None,
                  eval_op=None, eval_op_feed_dict=None, final_op=None, final_op_feed_dict=None,
                  summary_op=_USE_DEFAULT, summary_op_feed_dict=None, variables_to_restore=None,
                  session_config=None, hooks=None, feed_fn: Optional[Callable[[], dict]] = None):
    """Evaluate the checkpoint at `checkpoint_path` (a prefix, or a directory: its latest) once; returns the
    value of `final_op` (None without one). `session_config`: None or a dict of Session keyword arguments
    (e.g. {'device': 'cuda'})."""
    ev = _Evaluator("evaluate_once", master, logdir, num_evals, initial_op, initial_op_feed_dict, None, eval_op,
                    eval_op_feed_dict, final_op, final_op_feed_dict, summary_op, summary_op_feed_dict,
                    variables_to_restore, session_config, hooks, feed_fn)
    try:
        return ev.evaluate(checkpoint_path)
    finally:
        ev.close()


def _agreed_checkpoints(comm, checkpoint_dir, eval_interval_secs, timeout, timeout_fn):
    """checkpoints_iterator; with several ranks only the chief watches the directory and every rank receives
    its choice (None when the chief's iteration ends), so all evaluate the same checkpoints and stop together."""
    if comm is None or comm.size == 1:
        yield from checkpoints_iterator(checkpoint_dir, eval_interval_secs, timeout, timeout_fn)
        return
    it = iter(checkpoints_iterator(checkpoint_dir, eval_interval_secs, timeout, timeout_fn)) if comm.is_chief else None
    while True:
        path = comm.allgather_obj(next(it, None) if it is not None else None)[0]
        if path is None:
            return
        yield path


def evaluation_loop(master, checkpoint_dir, logdir, num_evals: int = 1, initial_op=None, initial_op_feed_dict=None,
                    init_fn=None, eval_op=None, eval_op_feed_dict=None, final_op=None, final_op_feed_dict=None,
                    summary_op=_USE_DEFAULT, summary_op_feed_dict=None, variables_to_restore=None,
                    eval_interval_secs: float = 60, max_number_of_evaluations: Optional[int] = None,
                    session_config=None, timeout: Optional[float] = None,
                    timeout_fn: Optional[Callable[[], bool]] = None, hooks=None,
                    feed_fn: Optional[Callable[[], dict]] = None):
    """Evaluate each new checkpoint of `checkpoint_dir` as it appears (at most one per
    `eval_interval_secs`); returns the last value of `final_op`. `init_fn(sess)`, if given, runs after each
    restore."""
    if max_number_of_evaluations is not None and max_number_of_evaluations <= 0:
        raise InvalidArgumentError(f"evaluation_loop: max_number_of_evaluations must be positive, got "
                                   f"{max_number_of_evaluations}")
    ev = _Evaluator("evaluation_loop", master, logdir, num_evals, initial_op, initial_op_feed_dict, init_fn, eval_op,
                    eval_op_feed_dict, final_op, final_op_feed_dict, summary_op, summary_op_feed_dict,
                    variables_to_restore, session_config, hooks, feed_fn)
    final = None
    done = 0
    try:
        for path in _agreed_checkpoints(ev.comm, checkpoint_dir, eval_interval_secs, timeout, timeout_fn):
            try:
                final = ev.evaluate(path)
            except (CheckpointError, FileNotFoundError):
                if not checkpoint_exists(path):  # deleted by max_to_keep while we looked: the next one will do
                    log.warning("evaluation_loop: %s was deleted before it could be read; skipped", path)
                    continue
                raise
            done += 1
            if max_number_of_evaluations is not None and done >= max_number_of_evaluations:
                log.info("Reached max_number_of_evaluations=%d. Exit", max_number_of_evaluations)
                break
    finally:
        ev.close()
    return final
