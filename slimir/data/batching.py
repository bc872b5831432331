"""`slim.train.batch` / `shuffle_batch`: host tensors -> graph placeholders fed by background threads.

    image, label = provider.get(['image', 'label'])
    images, labels = slim.train.batch([image, label], batch_size=32, num_threads=4, capacity=5 * 32)

`images` and `labels` are placeholders of the default graph, bound (`slimir.inputs.bind`) to a
pipeline: `num_threads` daemon worker threads read, decode and map the examples, one assembler
thread puts them back in reading order (so the batches do not depend on the thread count), stacks
them into batches and keeps up to `capacity // batch_size` batches ready in a bounded queue. Every
`sess.run` that needs the placeholders takes the next batch; the pipeline starts on the first such
run (or in `slim.queues.QueueRunners`), runs once per session, and stops when the session closes.

Maps run in Python threads: they overlap where the work releases the GIL (numpy on whole arrays,
Pillow's decoders), which is where preprocessing spends its time; workers take chunks of
consecutive examples so that hand-offs cost little (about 30 us per example).

At the end of `num_epochs` the final partial batch is dropped (kept, with a smaller batch dimension,
when `allow_smaller_final_batch`) and the next run raises `OutOfRangeError`. An exception in a
reader, decoder or map surfaces in the `sess.run` that would have received that example, as an
`InputPipelineError` naming the record (the original exception chained).

(A little over 600 lines: the pipeline, its threads and its end-of-epoch and error hand-offs are one state
machine and read best in one file.)
"""

from __future__ import annotations

import abc
import atexit
import logging
import queue
import threading
import time
import weakref
from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InputPipelineError, InvalidArgumentError, ShapeError, SlimirError
from ..ir.graph import get_default_graph
from .host import HostDType, HostTensor, _NodeFailure, dtype_of, evaluate, pipeline_error

log = logging.getLogger("slimir")

_POLL = 0.05  # seconds between checks of the stop flag while a thread waits


class _Stopped(StopIteration):
    """The pipeline was stopped while a consumer waited for it (the consumer sees the input end)."""


# ------------------------------------------------------------------------------------------
# Per-session runs: what every pipeline (batch, prefetch queue) shares


class Pipeline(abc.ABC):
    """Something that feeds a binding's placeholders, with one run (threads, queue) per session.

    The protocol `slimir.inputs` uses: `next_batch(session)`, `start(session)`, `stop(session)`,
    `live_threads()`, and `depth` (a prefetch queue over a batch is one deeper: started after it,
    stopped before it).
    """

    depth = 0
    _slimir_pipeline = True  # what slimir.inputs.InputBinding recognises

    def __init__(self, name: str):
        self.name = name
        _ALL_PIPELINES.add(self)
        self._runs: dict = {}  # id(session) or None -> run
        self._watched: set = set()  # sessions with a finalizer that stops their run
        self._lock = threading.RLock()  # re-entrant: a finalizer may run (GC) while this thread holds it

    @abc.abstractmethod
    def _new_run(self, session):
        """Start this pipeline's threads for `session` (one run per session)."""

    def _run_for(self, session, create: bool = True):
        key = None if session is None else id(session)
        with self._lock:
            run = self._runs.get(key)
            if run is None and create:
                run = self._new_run(session)
                self._runs[key] = run
                if session is not None and key not in self._watched:  # a session dropped without close()
                    self._watched.add(key)  # still stops its threads
                    weakref.finalize(session, _stop_quietly, weakref.ref(self), key)
                run.start()
            return run

    def start(self, session=None) -> None:
        """Start this session's run (if it is not running already)."""
        self._run_for(session)

    def next_batch(self, session=None) -> tuple:
        """The next batch for `session` (StopIteration at the end of the input)."""
        return self._run_for(session).get()

    def stop(self, session=None, timeout: float = 10.0) -> bool:
        """Stop this session's run and join its threads; True when they all ended within `timeout`."""
        key = None if session is None else id(session)
        with self._lock:
            run = self._runs.pop(key, None)
        return True if run is None else run.stop(timeout)

    def stop_all(self, timeout: float = 10.0) -> bool:
        with self._lock:
            runs = list(self._runs.values())
            self._runs.clear()
        results = [r.stop(timeout) for r in runs]  # stop every run, then report
        return all(results)

    def live_threads(self) -> list:
        with self._lock:
            runs = list(self._runs.values())
        return [t for r in runs for t in r.threads if t.is_alive()]


_ALL_PIPELINES: "weakref.WeakSet[Pipeline]" = weakref.WeakSet()


@atexit.register
def _stop_at_exit() -> None:
    """Stop every pipeline's threads before the interpreter tears down (they are daemons; this is tidiness)."""
    for p in list(_ALL_PIPELINES):
        p.stop_all(timeout=1.0)


def _stop_quietly(pipeline_ref, key) -> None:
    p = pipeline_ref()
    if p is not None:
        with p._lock:
            run = p._runs.pop(key, None)
            p._watched.discard(key)
        if run is not None:
            run.stop(0.0)


class _Run:
    """Threads feeding one bounded queue of items ('batch', arrays) | ('end', None) | ('error', exc)."""

    def __init__(self, name: str, queue_size: int):
        self.name = name
        self.out: queue.Queue = queue.Queue(maxsize=max(1, queue_size))
        self.stop_event = threading.Event()
        self.threads: list = []
        self.terminal = None

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def put(self, item) -> bool:
        """Put `item`, waiting while the queue is full; False when stopped meanwhile."""
        while not self.stop_event.is_set():
            try:
                self.out.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def get(self):
        """The next batch; StopIteration at the end, the pipeline's error after a failure."""
        while self.terminal is None:
            try:
                kind, payload = self.out.get(timeout=_POLL)
            except queue.Empty:
                if self.stop_event.is_set():
                    raise _Stopped(self.name) from None
                if not any(t.is_alive() for t in self.threads) and self.out.empty():
                    self.terminal = ("error", InputPipelineError(
                        f"input pipeline {self.name}: its threads ended without a result"))
                continue
            if kind == "batch":
                return payload
            self.terminal = (kind, payload)
        kind, payload = self.terminal
        if kind == "end":
            raise StopIteration
        err = InputPipelineError(str(payload))  # a fresh exception per raise, same message and cause
        err.__cause__ = payload.__cause__
        raise err

    def stop(self, timeout: float) -> bool:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        ok = True
        for t in self.threads:
            if t is threading.current_thread():
                continue
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                ok = False
        if not ok and timeout > 0:
            log.warning("input pipeline %s: some threads did not stop within %.1f s (a map or reader is blocked);"
                        " they are daemon threads and end with the process", self.name, timeout)
        return ok


# ------------------------------------------------------------------------------------------
# The batch pipeline


class _Spec:
    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype


class BatchPipeline(Pipeline):
    """Examples of host tensors -> (optionally shuffled) batches of numpy arrays."""

    def __init__(self, tensors: list, specs: list, batch_size: int, num_threads: int, capacity: int,
                 enqueue_many: bool, dynamic_pad: bool, allow_smaller_final_batch: bool, shuffle: bool,
                 min_after_dequeue: int, seed: Optional[int], source_seed: Optional[int], name: str):
        super().__init__(name)
        self.tensors = tensors
        self.source = tensors[0].source
        self.specs = specs
        self.batch_size = batch_size
        self.num_threads = num_threads
        self.capacity = capacity
        self.enqueue_many = enqueue_many
        self.dynamic_pad = dynamic_pad
        self.allow_smaller_final_batch = allow_smaller_final_batch
        self.shuffle = shuffle
        self.min_after_dequeue = min_after_dequeue
        self.seed = seed
        self.source_seed = source_seed

    def _new_run(self, session):
        run = _Run(self.name, self.capacity // self.batch_size)
        src_seed = self.source_seed if self.source_seed is not None else int(np.random.SeedSequence().entropy
                                                                              & 0xFFFFFFFF)
        shuf_seed = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy & 0xFFFFFFFF)
        state = _RunState(self, run, src_seed, shuf_seed)
        run.threads = [threading.Thread(target=state.assemble, name=f"slimir-{self.name}-assembler", daemon=True)]
        run.threads += [threading.Thread(target=state.work, name=f"slimir-{self.name}-worker-{i}", daemon=True)
                        for i in range(self.num_threads)]
        return run

    # -- one example's values -> arrays of the declared types
    def check_example(self, values: list, index: int) -> list:
        out = []
        for v, spec in zip(values, self.specs):
            arr = np.asarray(v)
            if arr.dtype != spec.dtype.np:
                if not np.can_cast(arr.dtype, spec.dtype.np, "same_kind"):
                    raise InvalidArgumentError(
                        f"{spec.name} has dtype {arr.dtype} for {self.source.describe(index)}, but the batch "
                        f"declares {spec.dtype.name} (cast it in a map)")
                arr = arr.astype(spec.dtype.np)
            if arr.ndim != len(spec.shape) or not all(d is None or d == a for d, a in zip(spec.shape, arr.shape)):
                raise ShapeError(
                    f"{spec.name} has shape {list(arr.shape)} for {self.source.describe(index)}, but the batch "
                    f"expects {_fmt(spec.shape)} (resize it in a map, or batch with dynamic_pad=True)")
            out.append(arr)
        return out

    def stack(self, examples: list) -> tuple:
        out = []
        for j in range(len(self.specs)):
            parts = [e[j] for e in examples]
            if self.dynamic_pad:
                shape = np.max([p.shape for p in parts], axis=0) if parts[0].ndim else ()
                arr = np.zeros((len(parts), *shape), dtype=self.specs[j].dtype.np)
                for i, p in enumerate(parts):
                    arr[(i, *(slice(0, d) for d in p.shape))] = p
                out.append(arr)
            else:
                out.append(np.stack(parts))
        return tuple(out)


def _fmt(shape) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


class _RunState:
    """The assembler and workers of one run of a BatchPipeline."""

    def __init__(self, pipe: BatchPipeline, run: _Run, src_seed: int, shuf_seed: int):
        self.pipe = pipe
        self.run = run
        self.src_seed = src_seed
        self.shuf_rng = np.random.default_rng([shuf_seed & 0xFFFFFFFF, 0xBA7C4])
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.results: dict = {}
        self.cond = threading.Condition()

    def work(self) -> None:
        """Evaluate chunks of consecutive examples (fewer thread hand-offs than one at a time)."""
        pipe, stop = self.pipe, self.run.stop_event
        while not stop.is_set():
            try:
                item = self.tasks.get(timeout=_POLL)
            except queue.Empty:
                continue
            if item is None:
                return
            seq, chunk = item
            out = []
            for epoch, index, root in chunk:
                try:
                    values = evaluate(pipe.tensors, epoch, index, self.src_seed, root)
                    out.append(("ok", self._examples(values, index)))
                    continue
                except _NodeFailure as f:
                    err = pipeline_error(pipe.name, f"{f.tensor.name} on {pipe.source.describe(index)}", f.exc)
                except SlimirError as e:  # shapes/dtypes that do not fit the batch
                    err = pipeline_error(pipe.name, f"batching {pipe.source.describe(index)}", e)
                except Exception as e:  # noqa: BLE001 - every failure goes to the main thread
                    err = pipeline_error(pipe.name, f"reading {pipe.source.describe(index)}", e)
                out.append(("err", err))
                break
            with self.cond:
                self.results[seq] = out
                self.cond.notify_all()

    def assemble(self) -> None:
        pipe, run, stop = self.pipe, self.run, self.run.stop_event
        chunk_size = max(1, min(8, pipe.batch_size // pipe.num_threads))
        window = 2 * pipe.num_threads + max(1, pipe.batch_size // chunk_size)  # chunks in flight
        pending: list = []  # examples waiting for a batch
        shuffle_buf: list = []
        tasks = None
        try:
            tasks = pipe.source.tasks(self.src_seed, stop)
            submitted = collected = 0
            exhausted = False
            read_error = None
            while not stop.is_set():
                while not exhausted and submitted - collected < window:
                    chunk = []
                    while len(chunk) < chunk_size:
                        try:
                            chunk.append(next(tasks))
                        except StopIteration:
                            exhausted = True
                            break
                        except Exception as e:  # noqa: BLE001 - a reader failed (DataLossError names the record):
                            read_error = e  # the examples read before it still make their batches
                            exhausted = True
                            break
                    if chunk:
                        self.tasks.put((submitted, chunk))
                        submitted += 1
                if collected == submitted:
                    break
                with self.cond:
                    while collected not in self.results and not stop.is_set():
                        self.cond.wait(_POLL)
                    if stop.is_set():
                        return
                    out = self.results.pop(collected)
                collected += 1
                for kind, payload in out:
                    if kind == "err":
                        run.put(("error", payload))
                        return
                    for ex in payload:
                        if pipe.shuffle:
                            shuffle_buf.append(ex)
                            if len(shuffle_buf) > pipe.min_after_dequeue:
                                pending.append(self._take(shuffle_buf))
                        else:
                            pending.append(ex)
                        if len(pending) == pipe.batch_size:
                            if not run.put(("batch", pipe.stack(pending))):
                                return
                            pending = []
            if stop.is_set():
                return
            if read_error is not None:
                run.put(("error", pipeline_error(pipe.name, "reading the data sources", read_error)))
                return
            while shuffle_buf:  # the input ended: drain what the shuffle kept back
                pending.append(self._take(shuffle_buf))
                if len(pending) == pipe.batch_size:
                    if not run.put(("batch", pipe.stack(pending))):
                        return
                    pending = []
            if pending and pipe.allow_smaller_final_batch and not run.put(("batch", pipe.stack(pending))):
                return
            run.put(("end", None))
        except BaseException as e:  # noqa: BLE001 - never leave the consumer waiting
            run.put(("error", pipeline_error(pipe.name, "assembling a batch", e)))
        finally:
            if tasks is not None:
                tasks.close()  # closes the reader's open file
            for _ in range(pipe.num_threads):
                self.tasks.put(None)

    def _take(self, buf: list):
        j = int(self.shuf_rng.integers(len(buf)))
        buf[j], buf[-1] = buf[-1], buf[j]
        return buf.pop()

    def _examples(self, values: list, index: int) -> list:
        pipe = self.pipe
        if not pipe.enqueue_many:
            return [pipe.check_example(values, index)]
        arrays = [np.asarray(v) for v in values]
        ns = {a.shape[0] if a.ndim else None for a in arrays}
        if len(ns) != 1 or None in ns:
            raise ShapeError(f"enqueue_many: the items of {pipe.source.describe(index)} must share a first "
                             f"dimension, got shapes {[list(a.shape) for a in arrays]}")
        return [pipe.check_example([a[i] for a in arrays], index) for i in range(ns.pop())]


# ------------------------------------------------------------------------------------------
# Graph side: batch / shuffle_batch


def _flatten(tensors):
    if isinstance(tensors, HostTensor):
        return [tensors], lambda xs: xs[0]
    if isinstance(tensors, dict):
        keys = list(tensors)
        return [tensors[k] for k in keys], lambda xs: dict(zip(keys, xs))
    if isinstance(tensors, (list, tuple)):
        return list(tensors), (lambda xs: list(xs)) if isinstance(tensors, list) else (lambda xs: tuple(xs))
    raise InvalidArgumentError(f"batch: tensors must be a host tensor, or a list/tuple/dict of them, got "
                               f"{type(tensors).__name__}")


def _derived_seed(graph, seed: Optional[int], key: str) -> Optional[int]:
    """An explicit seed, else one derived from the graph-level seed (slim.set_random_seed), else None."""
    if seed is not None:
        return int(seed) & 0xFFFFFFFF
    if graph.seed is None:
        return None
    import zlib

    return (int(graph.seed) * 1000003 + zlib.crc32(key.encode())) & 0xFFFFFFFF


def _probe(tensors: list, name: str) -> list:
    """The values of `tensors` for the first example the pipeline would read (to learn shapes/dtypes)."""
    src = tensors[0].source
    epoch, index, root = src.first_task()
    try:
        return evaluate(tensors, epoch, index, 0, root)
    except _NodeFailure as f:
        raise pipeline_error(name, f"{f.tensor.name} on {src.describe(index)}", f.exc) from f.exc


def _specs(flat: list, shapes, enqueue_many: bool, dynamic_pad: bool, name: str) -> list:
    if shapes is not None:
        shapes = list(shapes)
        if len(shapes) != len(flat):
            raise InvalidArgumentError(f"{name}: shapes has {len(shapes)} entries for {len(flat)} tensors")
    declared = []
    for i, t in enumerate(flat):
        shape = None if t.shape is None else list(t.shape)
        if enqueue_many and shape is not None:
            shape = shape[1:] if shape else None
        if shapes is not None and shapes[i] is not None:
            shape = [None if d is None else int(d) for d in shapes[i]]
        declared.append([shape, t.dtype])
    unknown = any(s is None or (not dynamic_pad and None in s) or dt is None for s, dt in declared)
    if unknown:
        values = _probe(flat, name)
        for d, v, t in zip(declared, values, flat):
            if isinstance(v, (list, tuple)) and not enqueue_many and not isinstance(v, np.ndarray):
                v = np.asarray(v)
            arr = np.asarray(v)
            if enqueue_many:
                if arr.ndim == 0:
                    raise ShapeError(f"{name}: enqueue_many needs a leading batch dimension, but {t.name} is a "
                                     "scalar")
                arr = arr[0]
            if d[1] is None:
                d[1] = dtype_of(arr)
            if d[0] is None:
                d[0] = [None] * arr.ndim if dynamic_pad else list(arr.shape)
            elif not dynamic_pad:
                if len(d[0]) != arr.ndim:
                    raise ShapeError(f"{name}: {t.name} is declared with shape {_fmt(d[0])} but its first example "
                                     f"has shape {list(arr.shape)}")
                d[0] = [a if s is None else s for s, a in zip(d[0], arr.shape)]
    specs = []
    for (shape, dt), t in zip(declared, flat):
        if isinstance(dt, HostDType):
            raise DTypeError(f"{name}: {t.name} holds {dt.name} values; only numeric items can be batched into "
                             "graph tensors (decode the record first)")
        specs.append(_Spec(t.name, shape, _dt.as_dtype(dt)))
    return specs


def _build(tensors, batch_size, num_threads, capacity, enqueue_many, shapes, dynamic_pad, allow_smaller_final_batch,
           shuffle, min_after_dequeue, seed, name, default_name):
    from ..inputs import bind
    from ..ops.array_ops import placeholder

    flat, rebuild = _flatten(tensors)
    if not flat:
        raise InvalidArgumentError(f"{default_name}: no tensors to batch")
    for t in flat:
        if not isinstance(t, HostTensor):
            what = getattr(t, "name", None) or type(t).__name__
            raise InvalidArgumentError(
                f"{default_name}: {what} is not a host tensor; batch the items of a data provider (slim.data) "
                "or feed graph placeholders yourself (slim.inputs.bind)")
    if len({id(t.source) for t in flat}) > 1:
        raise InvalidArgumentError(f"{default_name}: the tensors come from different data providers; batch the "
                                   "items of one provider together")
    if int(batch_size) != batch_size or batch_size < 1:
        raise InvalidArgumentError(f"{default_name}: batch_size must be a positive integer, got {batch_size!r}")
    if int(num_threads) != num_threads or num_threads < 1:
        raise InvalidArgumentError(f"{default_name}: num_threads must be a positive integer, got {num_threads!r}")
    if capacity < 1:
        raise InvalidArgumentError(f"{default_name}: capacity must be positive, got {capacity}")
    if shuffle and not 0 <= min_after_dequeue < capacity:
        raise InvalidArgumentError(f"{default_name}: min_after_dequeue must be in [0, capacity={capacity}), got "
                                   f"{min_after_dequeue}")
    graph = get_default_graph()
    scope = name or default_name
    specs = _specs(flat, shapes, enqueue_many, dynamic_pad, scope)
    src = flat[0].source
    source_seed = _derived_seed(graph, getattr(src, "seed", None), f"{src.name}/source")
    shuffle_seed = _derived_seed(graph, seed, f"{scope}/shuffle")
    pipe = BatchPipeline(flat, specs, int(batch_size), int(num_threads), int(capacity), bool(enqueue_many),
                         bool(dynamic_pad), bool(allow_smaller_final_batch), shuffle, int(min_after_dequeue),
                         shuffle_seed, source_seed, scope)
    bdim = None if allow_smaller_final_batch else int(batch_size)
    with graph.name_scope(scope):
        phs = [placeholder(s.dtype, [bdim] + list(s.shape), name="component") for s in specs]
    bind(phs, pipe, graph=graph)
    return rebuild(phs)


def batch(tensors, batch_size: int, num_threads: int = 1, capacity: int = 32, enqueue_many: bool = False,
          shapes=None, dynamic_pad: bool = False, allow_smaller_final_batch: bool = False, shared_name=None,
          name: Optional[str] = None):
    """Batches of host tensors as graph placeholders fed by a prefetching pipeline (TF's tf.train.batch).

    `tensors`: host tensors of one data provider (a list, tuple, dict or one tensor; the result has
    the same structure). Shapes/dtypes left unknown are taken from the first example (all but the
    batch dimension; with `dynamic_pad` every dimension stays unknown and batches are zero-padded
    to their largest example). `capacity` counts examples: about `capacity // batch_size` batches
    are prepared ahead. `shared_name` is accepted for TF compatibility and ignored.
    """
    return _build(tensors, batch_size, num_threads, capacity, enqueue_many, shapes, dynamic_pad,
                  allow_smaller_final_batch, False, 0, None, name, "batch")


def shuffle_batch(tensors, batch_size: int, capacity: int, min_after_dequeue: int, num_threads: int = 1,
                  seed: Optional[int] = None, enqueue_many: bool = False, shapes=None,
                  allow_smaller_final_batch: bool = False, shared_name=None, name: Optional[str] = None):
    """Like `batch`, with examples drawn at random from a buffer that keeps `min_after_dequeue` of them
    (TF's tf.train.shuffle_batch). With a `seed` (or a graph seed) the batches are reproducible."""
    return _build(tensors, batch_size, num_threads, capacity, enqueue_many, shapes, False,
                  allow_smaller_final_batch, True, min_after_dequeue, seed, name, "shuffle_batch")


# ------------------------------------------------------------------------------------------
# sess.run(host_tensors): one example at a time (TF-Slim's walkthrough reads a provider's items so)


class ExampleStream(Pipeline):
    """The examples of one source, read ahead by one thread; the session computes the items it fetches."""

    def __init__(self, source, seed: Optional[int], name: str):
        super().__init__(name)
        self.source = source
        self.seed = seed

    def _new_run(self, session):
        run = _Run(self.name, 8)
        seed = self.seed if self.seed is not None else int(np.random.SeedSequence().entropy & 0xFFFFFFFF)
        run.seed = seed

        def produce():
            tasks = None
            try:
                tasks = self.source.tasks(seed, run.stop_event)
                for t in tasks:
                    if not run.put(("batch", t)):
                        return
                if not run.stop_event.is_set():
                    run.put(("end", None))
            except Exception as e:  # noqa: BLE001 - a reader failed
                run.put(("error", pipeline_error(self.name, "reading the data sources", e)))
            finally:
                if tasks is not None:
                    tasks.close()

        run.threads = [threading.Thread(target=produce, name=f"slimir-{self.name}-reader", daemon=True)]
        return run

    def next_example(self, tensors: list, session) -> list:
        run = self._run_for(session)
        epoch, index, root = run.get()
        try:
            return evaluate(tensors, epoch, index, run.seed, root)
        except _NodeFailure as f:
            raise pipeline_error(self.name, f"{f.tensor.name} on {self.source.describe(index)}", f.exc) from f.exc


def fetch_examples(tensors: list, session) -> list:
    """Values of host tensors for `session.run`: the next example of each source, shared by the tensors of that
    source fetched together (so `sess.run([image, label])` gives a matching pair). OutOfRangeError at the end."""
    from ..errors import OutOfRangeError

    graph = session.graph
    streams = graph.get_collection_ref("input_pipelines")
    out: list = [None] * len(tensors)
    by_source: dict = {}
    for i, t in enumerate(tensors):
        by_source.setdefault(id(t.source), []).append(i)
    for idxs in by_source.values():
        src = tensors[idxs[0]].source
        stream = next((p for p in streams if isinstance(p, ExampleStream) and p.source is src), None)
        if stream is None:
            name = f"{getattr(src, 'name', 'host')}/examples"
            stream = ExampleStream(src, _derived_seed(graph, getattr(src, "seed", None), f"{src.name}/source"),
                                   name)
            streams.append(stream)
        try:
            values = stream.next_example([tensors[i] for i in idxs], session)
        except StopIteration:
            raise OutOfRangeError(f"the input of {', '.join(tensors[i].name for i in idxs)} is exhausted") from None
        for i, v in zip(idxs, values):
            out[i] = v
    return out


__all__ = ["BatchPipeline", "ExampleStream", "Pipeline", "batch", "fetch_examples", "shuffle_batch"]
