"""Input bindings: placeholders fed automatically from a Python iterator of numpy batches.

    images = slim.placeholder(slim.float32, [None, 28, 28, 1], name='images')
    labels = slim.placeholder(slim.int64, [None], name='labels')
    slim.inputs.bind([images, labels], batches)   # an iterable of (images, labels) numpy batches

Every `sess.run` that needs a bound placeholder (and was not fed it) takes the next batch, so
`learning.train` runs without a feed_dict, as TF-Slim's queue-fed graphs do. When the iterator is
exhausted, `sess.run` raises `OutOfRangeError`, which ends `learning.train` cleanly.
"""

from __future__ import annotations

from typing import Iterable, Optional

from .errors import GraphError, InvalidArgumentError, OutOfRangeError
from .ir.graph import Graph, Tensor


class InputBinding:
    """Placeholders and the iterator that feeds them, one batch per run."""

    def __init__(self, tensors: list, source: Iterable):
        self.tensors = list(tensors)
        self.source = source
        # a slim.data pipeline (threads per session: next_batch/start/stop), or any iterable
        self._pipeline = source if getattr(source, "_slimir_pipeline", False) else None
        self._it = None if self._pipeline is not None else iter(source)

    def next_feed(self, session=None) -> dict:
        try:
            batch = self._pipeline.next_batch(session) if self._pipeline is not None else next(self._it)
        except StopIteration:
            names = ", ".join(t.name for t in self.tensors)
            raise OutOfRangeError(f"the input bound to {names} is exhausted") from None
        if len(self.tensors) == 1 and not isinstance(batch, (tuple, list)):
            batch = (batch,)
        if len(batch) != len(self.tensors):
            raise InvalidArgumentError(f"the input bound to {len(self.tensors)} tensors gave a batch of "
                                       f"{len(batch)} items")
        return dict(zip(self.tensors, batch))


def bind(tensors, source: Iterable, graph: Optional[Graph] = None) -> InputBinding:
    """Feed `tensors` (a tensor or a list) from `source`, one item per run."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if not tensors:
        raise InvalidArgumentError("bind needs at least one tensor")
    g = graph or tensors[0].graph
    for t in tensors:
        if not isinstance(t, Tensor) or t.graph is not g:
            raise GraphError(f"bind: {getattr(t, 'name', t)!r} is not a tensor of the same graph")
    bindings = g.get_collection_ref("input_bindings")
    for b in bindings:
        if any(t in b.tensors for t in tensors):
            raise InvalidArgumentError(f"{tensors[0].name} is already bound to an input")
    binding = InputBinding(tensors, source)
    bindings.append(binding)
    return binding


def unbind(binding: InputBinding, graph: Graph) -> None:
    ref = graph.get_collection_ref("input_bindings")
    if binding in ref:
        ref.remove(binding)


def _pipelines(graph: Graph) -> list:
    """The distinct slim.data pipelines feeding the graph's bindings, shallowest first."""
    seen: dict = {}
    for b in graph.get_collection("input_bindings"):
        p = b._pipeline
        if p is not None:
            seen.setdefault(id(p), p)
    for p in graph.get_collection("input_pipelines"):  # pipelines without placeholders (sess.run(host_tensor))
        seen.setdefault(id(p), p)
    return sorted(seen.values(), key=lambda p: getattr(p, "depth", 0))


def start_pipelines(graph: Graph, session=None) -> list:
    """Start the background threads of every slim.data pipeline of `graph` for `session`."""
    pipes = _pipelines(graph)
    for p in pipes:
        p.start(session)
    return pipes


def stop_pipelines(graph: Graph, session=None, timeout: float = 10.0) -> bool:
    """Stop (and join) `session`'s pipeline threads, deepest first; True when all ended in `timeout`.
    A later run that needs the inputs starts them again from the beginning."""
    results = [p.stop(session, timeout) for p in reversed(_pipelines(graph))]  # stop all, then report
    return all(results)
