"""Small ONNX emission helpers shared by op lowerings (layout changes, reductions across opsets).

`b` is the lowering builder of slimir.runtime.lowering: `b.op(type, inputs, outputs=1, domain='', **attrs)`,
`b.const(array)`, `b.opset`.
"""

from __future__ import annotations

import numpy as np

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]
HWIO_TO_OIHW = [3, 2, 0, 1]


def to_nchw(b, x: str, data_format: str) -> str:
    return b.op("Transpose", [x], perm=NHWC_TO_NCHW) if data_format == "NHWC" else x


def from_nchw(b, y: str, data_format: str) -> str:
    return b.op("Transpose", [y], perm=NCHW_TO_NHWC) if data_format == "NHWC" else y


def weight_layout(b, w: str, perm, reshape=None) -> str:
    """TF weights in ONNX's layout: transposed (after an optional reshape) at export time when `w` is a
    constant, else by Reshape/Transpose nodes."""
    value = b.constant_value(w)
    if value is not None:
        v = value.reshape(reshape) if reshape is not None else value
        return b.derived_const(w, np.ascontiguousarray(np.transpose(v, perm)))
    if reshape is not None:
        w = b.op("Reshape", [w, b.const(i64(list(reshape)))])
    return b.op("Transpose", [w], perm=list(perm))


def reduce(b, op_type: str, x: str, axes, keepdims: bool) -> str:
    """ReduceX over `axes` (None = all), with axes as input or attribute depending on the opset."""
    kd = 1 if keepdims else 0
    if axes is None:
        return b.op(op_type, [x], keepdims=kd)
    axes = [int(a) for a in axes]
    if op_type == "ReduceSum" and b.opset >= 13 or b.opset >= 18:
        return b.op(op_type, [x, b.const(np.array(axes, np.int64))], keepdims=kd)
    return b.op(op_type, [x], axes=axes, keepdims=kd)


def i64(values) -> np.ndarray:
    return np.array(values, np.int64)


def onnx_seed(seed, salt: int = 0) -> dict:
    """The `seed` attribute of an ONNX random op: {} for None, else a value float32 holds exactly.

    ONNX stores seeds as float32, so seeds above 2**24 that differ by less than their spacing would
    collapse into one stream; folding into [0, 2**24) keeps nearby seeds (and seed + salt) distinct.
    """
    return {} if seed is None else {"seed": float((int(seed) + salt) % 2**24)}
