"""`slimir.passes.gradients`: the module path `slim.gradients` had. Autodiff is not a pass (it runs while the
graph is built); it lives in slimir.ir.autodiff, which this name re-exports."""

from slimir.ir.autodiff import gradients

__all__ = ["gradients"]
