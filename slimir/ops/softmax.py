"""softmax and log_softmax along an axis, with their VJPs (from the output y)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, apply_op, expect_float, normalize_axis, numel1, register
from .elementwise import exp, mul, sub
from .reduce import reduce_sum


def _softmax_shape(specs, axis):
    expect_float(specs[0])
    normalize_axis(axis, len(specs[0].shape))
    return [specs[0]]


def _softmax_ref(x, axis):
    x64 = x.astype(np.float64)
    e = np.exp(x64 - x64.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype)


def _log_softmax_ref(x, axis):
    x64 = x.astype(np.float64)
    m = x64.max(axis=axis, keepdims=True)
    return (x64 - m - np.log(np.exp(x64 - m).sum(axis=axis, keepdims=True))).astype(x.dtype)


def _softmax_lower(onnx_op):
    def low(b, node, x):
        r = len(node.inputs[0].shape)
        ax = normalize_axis(node.attrs["axis"], r)
        if b.opset >= 13:
            return b.op(onnx_op, [x], axis=ax)
        if ax == r - 1:
            return b.op(onnx_op, [x], axis=ax)
        raise ShapeError(f"{node.name}: softmax over a non-last axis needs opset >= 13")

    return low


def _softmax_vjp(node, grads):
    y, g = node.outputs[0], grads[0]
    ax = node.attrs["axis"]
    return [mul(sub(g, reduce_sum(mul(g, y), [ax], keepdims=True)), y)]


def _log_softmax_vjp(node, grads):
    y, g = node.outputs[0], grads[0]
    ax = node.attrs["axis"]
    return [sub(g, mul(exp(y), reduce_sum(g, [ax], keepdims=True)))]


register(OpDef("softmax", _softmax_shape, _softmax_lower("Softmax"), _softmax_ref, default_name="Softmax",
               flops=lambda node: 5 * (numel1(node.outputs[0].shape)), vjp=_softmax_vjp))
register(OpDef("log_softmax", _softmax_shape, _softmax_lower("LogSoftmax"), _log_softmax_ref,
               default_name="LogSoftmax", flops=lambda node: 5 * (numel1(node.outputs[0].shape)),
               vjp=_log_softmax_vjp))


def softmax(logits, axis: int = -1, name: Optional[str] = None, dim=None) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis` (TF's tf.nn.softmax)."""
    return apply_op("softmax", [logits], name=name, axis=int(dim if dim is not None else axis))


def log_softmax(logits, axis: int = -1, name: Optional[str] = None, dim=None) -> Tensor:
    """x - log(sum(exp(x))) along `axis` (TF's tf.nn.log_softmax)."""
    return apply_op("log_softmax", [logits], name=name, axis=int(dim if dim is not None else axis))


