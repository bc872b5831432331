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


def run(graph, names, outputs: Optional[list] = None) -> list:
    """Run the passes `names` in order on `graph`; returns their reports."""
    reports = []
    for n in names:
        if n not in PASSES:
            raise InvalidArgumentError(f"unknown pass {n!r}; known passes: {', '.join(sorted(PASSES))}")
        reports.append(PASSES[n].fn(graph, outputs))
    return reports


from . import validate  # noqa: E402,F401  (registers passes)

INFERENCE_PIPELINE = ["validate_shapes"]


def optimize_for_inference(graph, outputs) -> list:
    """The pipeline `export_onnx(optimize=True)` runs."""
    return run(graph, INFERENCE_PIPELINE, outputs)
