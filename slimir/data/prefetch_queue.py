"""`prefetch_queue`: keep batches ready ahead of the step that uses them (TF-Slim's prefetch_queue).

    images, labels = slim.train.batch([image, label], batch_size=32, num_threads=4)
    batch_queue = slim.data.prefetch_queue.prefetch_queue([images, labels], capacity=2)
    images, labels = batch_queue.dequeue()

`tensors` are placeholders made by `slim.train.batch`/`shuffle_batch` (or by another prefetch
queue); `num_threads` daemon threads take batches from their pipeline into a queue of `capacity`
batches. Each `dequeue()` returns new placeholders of the same shapes and dtypes (a dict for a dict),
fed from that queue: two dequeues fetched in one `sess.run` get two different batches, as in TF.
"""

from __future__ import annotations

import threading
import weakref
from typing import Optional

from ..errors import InputPipelineError, InvalidArgumentError
from ..ir.graph import Tensor
from .batching import Pipeline, _Run, _Stopped, pipeline_error


class PrefetchPipeline(Pipeline):
    """Batches of an upstream binding, fetched ahead by `num_threads` threads."""

    def __init__(self, upstream, positions: list, capacity: int, num_threads: int, name: str):
        super().__init__(name)
        self.upstream = upstream  # the InputBinding whose pipeline makes the batches
        self.positions = positions  # which of its tensors, in the order given
        self.capacity = capacity
        self.num_threads = num_threads
        self.depth = getattr(upstream._pipeline, "depth", 0) + 1

    def _new_run(self, session):
        run = _Run(self.name, self.capacity)
        sref = (lambda: None) if session is None else weakref.ref(session)
        run.threads = [threading.Thread(target=self._fetch, args=(run, sref, session is None),
                                        name=f"slimir-{self.name}-{i}", daemon=True)
                       for i in range(self.num_threads)]
        run.remaining = self.num_threads
        run.count_lock = threading.Lock()
        return run

    def _fetch(self, run: _Run, sref, no_session: bool) -> None:
        up = self.upstream._pipeline
        last = None
        try:
            while not run.stop_event.is_set():
                session = sref()
                if session is None and not no_session:
                    return  # the session is gone
                try:
                    b = up.next_batch(session)
                except _Stopped:
                    return
                except StopIteration:
                    last = ("end", None)
                    return
                except InputPipelineError as e:
                    last = ("error", e)
                    return
                except Exception as e:  # noqa: BLE001
                    last = ("error", pipeline_error(self.name, "prefetching a batch", e))
                    return
                del session
                if not run.put(("batch", tuple(b[i] for i in self.positions))):
                    return
        finally:
            with run.count_lock:
                run.remaining -= 1
                final = run.remaining == 0
            if last is not None and (final or last[0] == "error"):
                run.put(last)
            elif final and not run.stop_event.is_set():
                run.put(("end", None))


class _Dequeue:
    """The source of one dequeue()'s binding: batches from the shared prefetch pipeline."""

    _slimir_pipeline = True

    def __init__(self, pipeline: PrefetchPipeline):
        self._p = pipeline
        self.depth = pipeline.depth

    def next_batch(self, session=None):
        return self._p.next_batch(session)

    def start(self, session=None) -> None:
        self._p.start(session)

    def stop(self, session=None, timeout: float = 10.0) -> bool:
        return self._p.stop(session, timeout)

    def live_threads(self) -> list:
        return self._p.live_threads()


class PrefetchQueue:
    """What prefetch_queue returns: `dequeue()` gives placeholders fed with prefetched batches."""

    def __init__(self, pipeline: PrefetchPipeline, specs: list, names: Optional[list], graph):
        self._pipeline = pipeline
        self._specs = specs  # (dtype, shape) per tensor
        self._names = names
        self._graph = graph
        self.capacity = pipeline.capacity
        self.name = pipeline.name

    def dequeue(self, name: Optional[str] = None):
        """New placeholders bound to this queue: a list (or a dict when built from a dict)."""
        from ..inputs import bind
        from ..ops.array_ops import placeholder

        with self._graph.as_default(), self._graph.name_scope(name or f"{self.name}/fifo_queue_Dequeue"):
            phs = [placeholder(dt, list(shape), name="component") for dt, shape in self._specs]
        bind(phs, _Dequeue(self._pipeline), graph=self._graph)
        return dict(zip(self._names, phs)) if self._names is not None else phs

    def size(self) -> int:
        """Batches ready now, summed over running sessions (an approximation, for logging)."""
        with self._pipeline._lock:
            return sum(r.out.qsize() for r in self._pipeline._runs.values())

    def close(self) -> None:
        """Stop every session's prefetch threads."""
        self._pipeline.stop_all()


def prefetch_queue(tensors, capacity: int = 8, num_threads: int = 1, dynamic_pad: bool = False, shared_name=None,
                   name: Optional[str] = None) -> PrefetchQueue:
    """A queue of `capacity` batches of `tensors` (placeholders of slim.train.batch), filled by
    `num_threads` threads (TF-Slim's prefetch_queue). `dynamic_pad`/`shared_name` are accepted for
    compatibility: batches keep the shapes their pipeline gives them."""
    if isinstance(tensors, dict):
        names = sorted(tensors)
        flat = [tensors[n] for n in names]
    else:
        names = None
        flat = list(tensors)
    if not flat:
        raise InvalidArgumentError("prefetch_queue: no tensors given")
    if int(capacity) < 1 or int(num_threads) < 1:
        raise InvalidArgumentError(f"prefetch_queue: capacity and num_threads must be >= 1, got {capacity}, "
                                   f"{num_threads}")
    graph = flat[0].graph if isinstance(flat[0], Tensor) else None
    binding = None
    for t in flat:
        if not isinstance(t, Tensor):
            raise InvalidArgumentError(f"prefetch_queue: {t!r} is not a graph tensor; give it the tensors that "
                                       "slim.train.batch returned")
        found = [b for b in t.graph.get_collection("input_bindings") if t in b.tensors]
        if not found or found[0]._pipeline is None:
            raise InvalidArgumentError(f"prefetch_queue: {t.name} is not fed by a slim.data pipeline (make it with "
                                       "slim.train.batch or shuffle_batch)")
        if binding is None:
            binding = found[0]
        elif found[0] is not binding:
            raise InvalidArgumentError("prefetch_queue: the tensors come from different batch calls; prefetch the "
                                       "tensors of one batch together")
    positions = [binding.tensors.index(t) for t in flat]
    scope = name or "prefetch_queue"
    pipe = PrefetchPipeline(binding, positions, int(capacity), int(num_threads), scope)
    specs = [(t.dtype, list(t.shape)) for t in flat]
    return PrefetchQueue(pipe, specs, names, graph)
