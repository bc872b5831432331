"""Lowering to ONNX and execution on ONNX Runtime (installed as `slimir.runtime`)."""

from .export import build_model, export_onnx, save_atomic
from .lowering import DEFAULT_OPSET, lower
from .session import InteractiveSession, Session, resolve_providers

__all__ = ["DEFAULT_OPSET", "InteractiveSession", "Session", "build_model", "export_onnx", "lower",
           "resolve_providers", "save_atomic"]
