"""Pass registry and pipeline runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from slimir.errors import InvalidArgumentError


@dataclass
class PassReport:
    """What one pass did: node counts before/after and a line per rewrite (or per op it left alone)."""

    name: str
    nodes_before: int
    nodes_after: int
    changes: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def __str__(self) -> str:
        head = f"{self.name}: {self.nodes_before} -> {self.nodes_after} nodes"
        lines = [head] + [f"  {c}" for c in self.changes] + [f"  (left alone) {s}" for s in self.skipped]
        return "\n".join(lines)


@dataclass
class Pass:
    name: str
    fn: Callable
    doc: str = ""


PASSES: dict = {}


def register_pass(name: str, doc: str = ""):
    """Decorator registering `fn(graph, outputs) -> PassReport` under `name`."""

    def deco(fn):
        PASSES[name] = Pass(name, fn, doc or (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return deco


@dataclass
class PassResult:
    """The rewritten graph, its outputs (and inputs) in the same order as asked, and the reports."""

    graph: object
    outputs: list
    feeds: list
    reports: list

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.reports)


def run(graph, names, outputs: Optional[list] = None, feeds=(), inplace: bool = False) -> PassResult:
    """Run the passes `names` in order.

    By default the part of `graph` that `outputs` need (default: every tensor nobody reads) is copied
    first, so the user's graph is left as it was; `inplace=True` rewrites `graph` itself.
    """
    for n in names:
        if n not in PASSES:
            raise InvalidArgumentError(f"unknown pass {n!r}; known passes: {', '.join(sorted(PASSES))}")
    if outputs is None:
        outputs = [t for node in graph.nodes for t in node.outputs if not graph.consumers_of(t)]
    if inplace:
        g, outs, fds = graph, outputs, list(feeds)
    else:
        from .clone import clone

        cl = clone(graph, list(outputs), list(feeds))
        g, outs, fds = cl.graph, cl.outputs, cl.feeds
    reports = [PASSES[n].fn(g, outs) for n in names]
    return PassResult(g, outs, fds, reports)


from . import constant_folding, cse, dce, fold_batch_norm, fuse_conv_bias_act, identity, layout, lrn, validate  # noqa: E402,F401

INFERENCE_PIPELINE = ["validate_shapes", "remove_identity", "fold_batch_norm", "lrn_to_conv", "layout_nchw",
                      "fuse_conv_bias_act",
                      "fuse_gemm", "constant_folding", "cse", "dead_code_elimination"]


#: What a Session runs on each fetch set before lowering (training graphs included: every rewrite here
#: keeps the values the backward graph reads).
SESSION_PIPELINE = ["lrn_to_conv", "layout_nchw", "fuse_conv_bias_act", "fuse_gemm", "constant_folding", "cse",
                    "dead_code_elimination"]


def optimize_for_inference(graph, outputs: list) -> list:
    """Run the pipeline `export_onnx(optimize=True)` runs, in place; `outputs` is updated in place."""
    return run(graph, INFERENCE_PIPELINE, outputs, inplace=True).reports
