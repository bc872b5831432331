"""Graph -> graph passes over the slimir IR (installed as `slimir.passes`).

A pass is a named function `(graph, outputs) -> PassReport`; `run(graph, names)` runs a pipeline.
"""

from __future__ import annotations

from .clone import Cloned, clone
from .pipeline import (
                       INFERENCE_PIPELINE,
                       PASSES,
                       SESSION_PIPELINE,
                       Pass,
                       PassReport,
                       PassResult,
                       optimize_for_inference,
                       register_pass,
                       run,
)

__all__ = ["INFERENCE_PIPELINE", "PASSES", "SESSION_PIPELINE", "Cloned", "Pass", "PassReport", "PassResult", "clone",
           "optimize_for_inference", "register_pass", "run"]
