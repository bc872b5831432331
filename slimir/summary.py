"""`slim.summary`: scalar/histogram summaries, merged into TensorBoard records, and the event-file writer.

    loss_summary = slim.summary.scalar('losses/total_loss', total_loss)   # a tensor, like TF's
    merged = slim.summary.merge_all()                                      # fetch it: serialized Summary
    writer = slim.summary.FileWriter(logdir); writer.add_summary(sess.run(merged), step)
"""

from __future__ import annotations

import os
import time
from typing import Optional

import numpy as np

from .errors import InvalidArgumentError
from .ir.graph import GraphKeys, Tensor, get_default_graph
from .ir.registry import apply_op, convert_to_tensor

_PASS_THROUGH = ("print", "identity", "check_numerics")


def _summary(kind: str, name: str, tensor, collections, family) -> Tensor:
    tensor = convert_to_tensor(tensor)
    if kind == "scalar" and tensor.shape.num_elements() not in (None, 1):
        raise InvalidArgumentError(f"summary.scalar {name!r}: {tensor.name} has shape {tensor.shape}, not a scalar")
    g = get_default_graph()
    scope = g.get_name_scope()
    tag = f"{family}/{name}" if family else name
    tag = f"{scope}/{tag}" if scope and not name.startswith(scope) else tag
    out = apply_op("summary", [tensor], name=name.replace(":", "_"), tag=tag, kind=kind)
    for c in collections if collections is not None else [GraphKeys.SUMMARIES]:
        g.add_to_collection(c, out)
    return out


def scalar(name: str, tensor, collections=None, family: Optional[str] = None) -> Tensor:
    """Report a scalar under `name` (TensorBoard's Scalars)."""
    return _summary("scalar", name, tensor, collections, family)


def histogram(name: str, values, collections=None, family: Optional[str] = None) -> Tensor:
    """Report the distribution of `values` under `name` (TensorBoard's Histograms)."""
    return _summary("histogram", name, values, collections, family)


class MergedSummary:
    """The result of `merge`: fetched with `sess.run`, it gives a serialized `Summary` record (bytes)."""

    def __init__(self, tensors: list):
        self.tensors = list(tensors)
        self.entries = [_find_summary(t) for t in self.tensors]

    def _fetch_tensors(self) -> list:
        return list(self.tensors)

    def _fetch_result(self, values) -> bytes:
        return to_summary(self.entries, values).SerializeToString()


def _find_summary(t: Tensor):
    node = t.op
    while node.type != "summary":
        if node.type not in _PASS_THROUGH:
            raise InvalidArgumentError(f"summary.merge: {t.name} is not a summary "
                                       "(made by slim.summary.scalar/histogram)")
        node = node.inputs[0].op
    return node.attrs["tag"], node.attrs["kind"]


def to_summary(entries, values):
    """A tensorboardX `Summary` proto of (tag, kind) entries and their values."""
    from tensorboardX import summary as tbs
    from tensorboardX.proto.summary_pb2 import Summary

    out = Summary()
    for (tag, kind), v in zip(entries, values):
        one = tbs.scalar(tag, float(np.asarray(v).reshape(-1)[0])) if kind == "scalar" else \
            tbs.histogram(tag, np.asarray(v, np.float64).reshape(-1), bins="auto")
        out.value.extend(one.value)
    return out


def merge(inputs, collections=None, name: Optional[str] = None) -> Optional[MergedSummary]:
    """Merge summaries (tensors from scalar/histogram, possibly wrapped by slim.Print)."""
    inputs = [t for t in inputs if t is not None]
    return MergedSummary(inputs) if inputs else None


def merge_all(key: str = GraphKeys.SUMMARIES, scope: Optional[str] = None, name: Optional[str] = None):
    """Merge every summary of the collection `key` (None when there is none)."""
    return merge(get_default_graph().get_collection(key, scope))


class FileWriter:
    """TensorBoard event files in `logdir`; accepts what `sess.run(merged)` gives. The one event writer of slimir
    (training summaries and evaluation results alike).

    Records are written synchronously (tensorboardX's EventsWriter, no writer thread): when `add_summary`
    returns, the event is in the file, so a loop watching the directory sees each evaluation as soon as it is
    done. `max_queue` and `flush_secs` are accepted for TF's signature.
    """

    _count = 0

    def __init__(self, logdir: str, graph=None, max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = ""):
        from tensorboardX.event_file_writer import EventsWriter

        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        # event files are named by the second: the pid and a counter make each writer's file unique, so two
        # writers started in the same second (a quick resume) never truncate each other's events
        FileWriter._count += 1
        suffix = f".{os.getpid()}.{FileWriter._count}{filename_suffix}"
        self._w = EventsWriter(os.path.join(logdir, "events"), suffix)
        self.path = self._w._file_name
        self._closed = False

    def _add(self, summary, global_step: Optional[int]) -> None:
        from tensorboardX.proto import event_pb2

        ev = event_pb2.Event(wall_time=time.time(), step=int(global_step or 0))
        ev.summary.CopyFrom(summary)
        self._w.write_event(ev)
        self._w.flush()

    def add_summary(self, summary, global_step: Optional[int] = None) -> None:
        from tensorboardX.proto.summary_pb2 import Summary

        if isinstance(summary, (bytes, bytearray)):
            s = Summary()
            s.ParseFromString(bytes(summary))
            summary = s
        self._add(summary, global_step)

    def add_scalar(self, tag: str, value: float, global_step: Optional[int] = None) -> None:
        from tensorboardX import summary as tbs

        self._add(tbs.scalar(tag, float(value)), global_step)

    def flush(self) -> None:
        if not self._closed:
            self._w.flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._w.close()

    def get_logdir(self) -> str:
        return self.logdir


