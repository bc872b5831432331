"""`slim.queues`: start and stop the input pipelines of a session (TF-Slim's queues module).

    with slim.queues.QueueRunners(sess):
        images_value = sess.run(images)

slimir's pipelines (`slim.train.batch`, `prefetch_queue`) start by themselves on the first run that
needs them, so `QueueRunners` is optional: it starts them up front and, on exit, stops them and
joins their threads, so that no pipeline thread outlives the block. A later run that needs the
inputs starts them again, from the beginning of the data.

`start_queue_runners(sess, coord)` and `Coordinator` keep TF1's other spelling working.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Optional

from .inputs import start_pipelines, stop_pipelines

__all__ = ["NestedQueueRunnerError", "QueueRunners", "Coordinator", "start_queue_runners"]

_queue_runner_lock = threading.Lock()


class NestedQueueRunnerError(Exception):
    """QueueRunners contexts cannot be nested (TF-Slim raises the same)."""


@contextlib.contextmanager
def QueueRunners(session, stop_timeout: float = 30.0):  # TF-Slim's name
    """Start `session`'s input pipelines for the block; stop them and join their threads after it."""
    if not _queue_runner_lock.acquire(False):
        raise NestedQueueRunnerError("QueueRunners cannot be nested")
    try:
        start_pipelines(session.graph, session)
        try:
            yield
        finally:
            stop_pipelines(session.graph, session, timeout=stop_timeout)
    finally:
        _queue_runner_lock.release()


class Coordinator:
    """TF1's tf.train.Coordinator, for `start_queue_runners`: `request_stop()` stops the pipelines
    started with it; `join()` waits for their threads."""

    def __init__(self, clean_stop_exception_types=None):
        self._stop = threading.Event()
        self._started: list = []  # (graph, session)
        self._lock = threading.Lock()

    def _register(self, graph, session) -> None:
        with self._lock:
            self._started.append((graph, session))

    def request_stop(self, ex=None) -> None:
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def clear_stop(self) -> None:
        self._stop.clear()

    def wait_for_stop(self, timeout: Optional[float] = None) -> bool:
        return self._stop.wait(timeout)

    def join(self, threads=None, stop_grace_period_secs: float = 120, ignore_live_threads: bool = False) -> None:
        """Stop the pipelines started with this coordinator and join their threads."""
        self._stop.set()
        with self._lock:
            started, self._started = self._started, []
        results = [stop_pipelines(g, s, timeout=stop_grace_period_secs) for g, s in started]
        ok = all(results)
        if not ok and not ignore_live_threads:
            raise RuntimeError(f"Coordinator stopped with threads still running after {stop_grace_period_secs} s")

    @contextlib.contextmanager
    def stop_on_exception(self):
        try:
            yield
        except Exception:
            self.request_stop()
            raise


def start_queue_runners(sess=None, coord: Optional[Coordinator] = None, daemon: bool = True, start: bool = True,
                        collection=None) -> list:
    """Start the input pipelines of `sess` (default: the default session); returns their threads."""
    from .ir.graph import get_default_session

    sess = sess or get_default_session()
    if sess is None:
        raise ValueError("start_queue_runners: no session given and no default session")
    pipes = start_pipelines(sess.graph, sess)
    if coord is not None:
        coord._register(sess.graph, sess)
    return [t for p in pipes for t in p.live_threads()]
