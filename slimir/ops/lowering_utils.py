"""Small ONNX emission helpers shared by op lowerings (layout changes, reductions across opsets, accurate sums).

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


#: Largest number of float32 values one ONNX Runtime ReduceSum adds up in `sum_reduce`; beyond it, partial
#: sums go on in float64. ORT's CPU ReduceSum accumulates a reduced run sequentially, so its float32 error
#: grows with the run's length (2.3% low on a 10^8-value sum of squares); 256-value runs keep every partial
#: within ~1e-6 and the float64 stage adds nothing measurable. (Measured in benchmarks/reductions.py.)
SUM_BLOCK = 256
#: Below this many values per output a plain float32 ReduceSum is already of the pairwise error class.
_MIN_BLOCKED = 64


def sum_reduce(b, x: str, shape, dtype, axes, keepdims: bool, mean: bool = False) -> str:
    """Sum (or mean) of `x` over `axes` (None: all) with float32 error of the pairwise class, for every
    lowering that adds many values (ReduceSum/ReduceMean ops, l2_loss, moments, batch norm, bias and
    filter gradients, metric accumulators).

    `shape` is x's static shape (None for unknown dims), `dtype` its slimir DType. Floating-point sums over
    more than a few dozen values are split in two stages: the innermost reduced run is cut into blocks of at
    most SUM_BLOCK contiguous values that ORT sums in the input's precision (fast: ORT's reduction over a
    middle axis of [.., blocks, block, ..] is 10x its reduction over N,H,W), and the partial sums are cast to
    float64 and finished there. When no block size fits the static sizes, the whole sum runs in float64.
    """
    r = len(shape)
    red = list(range(r)) if axes is None else sorted({int(a) % r for a in axes}) if r else []
    if not red:
        return b.op("Identity", [x])
    kd = bool(keepdims)
    if not dtype.is_floating or dtype.np == np.float64:
        return reduce(b, "ReduceMean" if mean else "ReduceSum", x, red, kd)
    known = [shape[a] for a in red]
    if None not in known and int(np.prod(known)) <= _MIN_BLOCKED:
        return reduce(b, "ReduceMean" if mean else "ReduceSum", x, red, kd)
    f64 = 11  # TensorProto.DOUBLE
    # the innermost run of consecutive reduced axes, split into [rest, block] when its known sizes allow
    end = red[-1]
    start = end
    while start - 1 in red:
        start -= 1
    run = [shape[a] for a in range(start, end + 1)]
    known_run = int(np.prod([d for d in run if d is not None]))
    block = max((d for d in range(1, min(SUM_BLOCK, known_run) + 1) if known_run % d == 0), default=1)
    after = [shape[a] for a in range(end + 1, r)]
    if block >= 8 and None not in after:
        lead = [0] * start  # Reshape's 0 copies the dim at that index (batch included)
        rest = -1 if None in run else known_run // block
        part = b.op("Reshape", [x, b.const(i64(lead + [rest, block] + list(after)))])
        part = reduce(b, "ReduceSum", part, [start + 1], False)
        remaining = [a for a in red if a < start] + [start]
        divisor = block if mean else None
    else:
        part, remaining, divisor = x, red, None
    wide = b.op("Cast", [part], to=f64)
    total = reduce(b, "ReduceMean" if mean else "ReduceSum", wide, remaining, False)
    if divisor is not None:
        total = b.op("Mul", [total, b.const(np.array(1.0 / divisor, np.float64))])
    out = b.op("Cast", [total], to=dtype.onnx)
    if kd:
        out = b.op("Unsqueeze", [out, b.const(i64(red))])
    return out


def i64(values) -> np.ndarray:
    return np.array(values, np.int64)


def onnx_seed(seed, salt: int = 0) -> dict:
    """The `seed` attribute of an ONNX random op: {} for None, else a value float32 holds exactly.

    ONNX stores seeds as float32, so seeds above 2**24 that differ by less than their spacing would
    collapse into one stream; folding into [0, 2**24) keeps nearby seeds (and seed + salt) distinct.
    """
    return {} if seed is None else {"seed": float((int(seed) + salt) % 2**24)}
