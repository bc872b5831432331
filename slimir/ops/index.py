"""Sorting, gathering, scanning and scattering ops: top_k, gather (with its gradient gather_grad), boolean_mask,
cumsum, unsorted_segment_sum.

Their outputs can have data-dependent sizes (boolean_mask; top_k with a run-time k), which the metrics that
sort or collect their inputs need (streaming_dynamic_auc, auc_with_confidence_intervals, average precision).
Besides gather they carry no VJP: slimir differentiates no graph through them (gradients treat them as
constants).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import numpy_helper

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, convert_to_tensor, expect_rank, normalize_axis, numel1, register
from ..shape import fmt
from .array import reshape
from .lowering_utils import i64

_SORTABLE = (_dt.float16, _dt.float32, _dt.float64, _dt.int32, _dt.int64)


# ------------------------------------------------------------------------------------------
# top_k: the k largest entries of the last axis, in descending order (ties: the lower index first)


def _top_k_shape(specs, k):
    x = specs[0]
    if not x.shape:
        raise ShapeError(f"top_k needs an input of rank >= 1, got {fmt(x.shape)}")
    if x.dtype not in _SORTABLE:
        raise DTypeError(f"top_k sorts float or int32/int64 values, got {x.dtype.name}")
    n = x.shape[-1]
    if k is not None:
        if k < 0:
            raise InvalidArgumentError(f"top_k: k must be >= 0, got {k}")
        if n is not None and k > n:
            raise InvalidArgumentError(f"input must have at least k={k} columns, had {n}")
    elif len(specs) != 2 or specs[1].shape != () or not specs[1].dtype.is_integer:
        raise ShapeError("top_k: a run-time k must be an integer scalar tensor")
    out = tuple(x.shape[:-1]) + (k,)
    return [Spec(out, x.dtype), Spec(out, _dt.int32)]


def _top_k_lower(b, node, x, k=None):
    if node.attrs["k"] is not None:
        kk = b.const(i64([node.attrs["k"]]))
    else:
        kk = b.op("Reshape", [b.op("Cast", [k], to=_dt.int64.onnx), b.const(i64([1]))])
    values, indices = b.op("TopK", [x, kk], outputs=2, axis=-1, largest=1, sorted=1)
    return values, b.op("Cast", [indices], to=_dt.int32.onnx)


def _top_k_ref(x, k_in=None, *, k):
    k = int(k_in) if k is None else k
    idx = np.argsort(-x if x.dtype.kind == "f" else -x.astype(np.int64), axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, axis=-1), idx.astype(np.int32)


register(OpDef("top_k", _top_k_shape, _top_k_lower, _top_k_ref, default_name="TopKV2", differentiable=False))


def top_k(input, k=1, sorted: bool = True, name: Optional[str] = None):
    """(values, indices) of the `k` largest entries along the last axis of `input`, largest first; equal
    values keep their order (the lower index first), as TF's tf.nn.top_k. `k` is an int or an integer
    scalar tensor (then the last output dimension is unknown until run time). The output is always sorted."""
    if isinstance(k, Tensor):
        return apply_op("top_k", [input, k], name=name, k=None)
    return apply_op("top_k", [input], name=name, k=int(k))


# ------------------------------------------------------------------------------------------
# gather (TF's tf.gather) and its gradient, a scatter-add into zeros shaped like the params


def _gather_shape(specs, axis):
    p, i = specs
    if not i.dtype.is_integer:
        raise DTypeError(f"gather: indices must be integers, got {i.dtype.name}")
    ax = normalize_axis(axis, len(p.shape))
    return [Spec(tuple(p.shape[:ax]) + tuple(i.shape) + tuple(p.shape[ax + 1:]), p.dtype)]


def _gather_lower(b, node, p, i):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    return b.op("Gather", [p, i], axis=ax)


def _gather_ref(p, i, axis):
    return np.take(p, i, axis=axis)


def _gather_vjp(node, grads):
    p, i = node.inputs
    return [apply_op("gather_grad", [grads[0], i, p], axis=node.attrs["axis"]), None]


register(OpDef("gather", _gather_shape, _gather_lower, _gather_ref, default_name="GatherV2", vjp=_gather_vjp,
               flops=lambda node: 0))


def _gather_grad_shape(specs, axis):
    return [Spec(tuple(specs[2].shape), specs[0].dtype)]


def _gather_grad_lower(b, node, g, i, p):
    """ScatterND(add) of g into zeros shaped like params, the gathered axis moved to the front."""
    if b.opset < 16:
        raise InvalidArgumentError(f"{node.name}: the gradient of gather needs ONNX opset >= 16 (ScatterND add)")
    r = len(node.inputs[2].shape)
    ax = normalize_axis(node.attrs["axis"], r)
    ri = len(node.inputs[1].shape)
    perm = [ax] + [d for d in range(r) if d != ax]
    pt = b.op("Transpose", [p], perm=perm) if ax else p
    zeros = b.op("ConstantOfShape", [b.op("Shape", [pt])],
                 value=numpy_helper.from_array(np.zeros(1, node.outputs[0].dtype.np)))
    # g is pre + idx + post; bring idx to the front: [idx..., pre..., post...]
    gperm = list(range(ax, ax + ri)) + list(range(ax)) + list(range(ax + ri, r - 1 + ri))
    gt = b.op("Transpose", [g], perm=gperm) if gperm != list(range(len(gperm))) else g
    idx = b.op("Unsqueeze", [b.op("Cast", [i], to=_dt.int64.onnx), b.const(i64([ri]))])
    out = b.op("ScatterND", [zeros, idx, gt], reduction="add")
    if not ax:
        return out
    inv = [0] * r
    for k, d in enumerate(perm):
        inv[d] = k
    return b.op("Transpose", [out], perm=inv)


def _gather_grad_ref(g, i, p, axis):
    ax = normalize_axis(axis, p.ndim)
    out = np.zeros(p.shape, g.dtype)
    moved = np.moveaxis(out, ax, 0)
    ri = np.ndim(i)
    gm = np.moveaxis(g, list(range(ax, ax + ri)), list(range(ri)))
    np.add.at(moved, np.asarray(i), gm)
    return out


register(OpDef("gather_grad", _gather_grad_shape, _gather_grad_lower, _gather_grad_ref, default_name="GatherGrad",
               differentiable=False, flops=lambda node: numel1(node.inputs[0].shape)))


def gather(params, indices, validate_indices=None, name: Optional[str] = None, axis=None, batch_dims: int = 0):
    """TF's tf.gather(params, indices, axis): slices of `params` along `axis` at `indices`."""
    if batch_dims:
        raise InvalidArgumentError("gather: batch_dims != 0 is not available in slimir")
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices)
    return apply_op("gather", [params, indices], name=name, axis=0 if axis is None else int(axis))


# ------------------------------------------------------------------------------------------
# boolean_mask: the rows of a tensor where a 1-D bool mask is true (the result's length is data-dependent)


def _mask_shape(specs):
    x, m = specs
    expect_rank(m, 1, "mask")
    if m.dtype is not _dt.bool_:
        raise DTypeError(f"boolean_mask: the mask must be bool, got {m.dtype.name}")
    if not x.shape:
        raise ShapeError("boolean_mask: the tensor must have rank >= 1")
    if x.shape[0] is not None and m.shape[0] is not None and x.shape[0] != m.shape[0]:
        raise ShapeError(f"boolean_mask: mask of shape {fmt(m.shape)} does not fit a tensor of shape "
                         f"{fmt(x.shape)}")
    return [Spec((None,) + tuple(x.shape[1:]), x.dtype)]


register(OpDef("boolean_mask", _mask_shape, lambda b, node, x, m: b.op("Compress", [x, m], axis=0),
               lambda x, m: x[m], default_name="boolean_mask", differentiable=False))


def boolean_mask(tensor, mask, name: Optional[str] = None) -> Tensor:
    """The entries of `tensor` where the bool `mask` (the shape of tensor's leading dimensions) is true,
    flattened over those dimensions (TF's tf.boolean_mask with axis=0)."""
    tensor, mask = convert_to_tensor(tensor), convert_to_tensor(mask)
    k = len(mask.shape)
    if k > 1:
        rest = list(tensor.shape[k:])
        if any(d is None for d in rest):
            raise ShapeError(f"boolean_mask: dimensions after the mask's must be static, got {fmt(tensor.shape)}")
        tensor = reshape(tensor, [-1] + rest)
        mask = reshape(mask, [-1])
    return apply_op("boolean_mask", [tensor, mask], name=name)


# ------------------------------------------------------------------------------------------
# cumsum


def _cumsum_shape(specs, axis, exclusive, reverse):
    x = specs[0]
    normalize_axis(axis, len(x.shape))
    if x.dtype not in (_dt.float32, _dt.float64, _dt.int32, _dt.int64):
        raise DTypeError(f"cumsum adds float32/float64/int32/int64 values, got {x.dtype.name}")
    return [Spec(tuple(x.shape), x.dtype)]


def _cumsum_lower(b, node, x):
    ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
    return b.op("CumSum", [x, b.const(np.array(ax, np.int64))], exclusive=int(node.attrs["exclusive"]),
                reverse=int(node.attrs["reverse"]))


def _cumsum_ref(x, axis, exclusive, reverse):
    y = np.flip(x, axis) if reverse else x
    c = np.cumsum(y, axis=axis, dtype=x.dtype)
    if exclusive:
        c = c - y
    return np.ascontiguousarray(np.flip(c, axis) if reverse else c)


register(OpDef("cumsum", _cumsum_shape, _cumsum_lower, _cumsum_ref, default_name="Cumsum", differentiable=False))


def cumsum(x, axis: int = 0, exclusive: bool = False, reverse: bool = False, name: Optional[str] = None) -> Tensor:
    """The running sum of `x` along `axis` (TF's tf.cumsum): `exclusive` leaves each entry out of its own
    sum, `reverse` sums from the end."""
    return apply_op("cumsum", [x], name=name, axis=int(axis), exclusive=bool(exclusive), reverse=bool(reverse))


# ------------------------------------------------------------------------------------------
# unsorted_segment_sum: data summed into num_segments rows by id (ids outside [0, num_segments) are dropped)


def _segsum_shape(specs, num_segments):
    d, ids = specs
    if not ids.dtype.is_integer:
        raise DTypeError(f"unsorted_segment_sum: segment_ids must be integers, got {ids.dtype.name}")
    r = len(ids.shape)
    if len(d.shape) < r or any(a is not None and c is not None and a != c for a, c in zip(d.shape, ids.shape)):
        raise ShapeError(f"unsorted_segment_sum: segment_ids of shape {fmt(ids.shape)} must be a prefix of the "
                         f"data's shape {fmt(d.shape)}")
    if any(x is None for x in d.shape[r:]):
        raise ShapeError(f"unsorted_segment_sum: the data's dimensions after the ids' must be static, got "
                         f"{fmt(d.shape)}")
    if d.dtype not in (_dt.float32, _dt.float64, _dt.int32, _dt.int64):
        raise DTypeError(f"unsorted_segment_sum adds float32/float64/int32/int64 values, got {d.dtype.name}")
    return [Spec((num_segments,) + tuple(d.shape[r:]), d.dtype)]


def _segsum_lower(b, node, data, ids):
    n = node.attrs["num_segments"]
    d_t, ids_t = node.inputs
    rest = [int(x) for x in d_t.shape[len(ids_t.shape):]]
    flat_ids = b.op("Reshape", [b.op("Cast", [ids], to=_dt.int64.onnx), b.const(i64([-1]))])
    rows = b.op("Reshape", [data, b.const(i64([-1] + rest))])
    ok = b.op("And", [b.op("GreaterOrEqual", [flat_ids, b.const(np.array(0, np.int64))]),
                      b.op("Less", [flat_ids, b.const(np.array(n, np.int64))])])
    safe_ids = b.op("Where", [ok, flat_ids, b.const(np.array(0, np.int64))])
    ok_rows = b.op("Reshape", [ok, b.const(i64([-1] + [1] * len(rest)))])
    zero = b.const(np.zeros((), d_t.dtype.np))
    rows = b.op("Where", [ok_rows, rows, zero])  # dropped ids add nothing (at row 0)
    if b.opset >= 16:
        out = b.const(np.zeros([n] + rest, d_t.dtype.np))
        idx = b.op("Unsqueeze", [safe_ids, b.const(i64([1]))])
        return b.op("ScatterND", [out, idx, rows], reduction="add")
    # opset < 16 has no scatter reduction: a one-hot [n, N] matrix times the rows
    hot = b.op("Equal", [b.op("Unsqueeze", [safe_ids, b.const(i64([0]))]),
                         b.const(np.arange(n, dtype=np.int64).reshape(n, 1))])
    calc = d_t.dtype if d_t.dtype in (_dt.float32, _dt.float64) else _dt.float64
    hot = b.op("Cast", [hot], to=calc.onnx)
    flat = b.op("Reshape", [rows, b.const(i64([0, -1]))])
    if calc is not d_t.dtype:
        flat = b.op("Cast", [flat], to=calc.onnx)
    y = b.op("MatMul", [hot, flat])
    if calc is not d_t.dtype:
        y = b.op("Cast", [y], to=d_t.dtype.onnx)
    return b.op("Reshape", [y, b.const(i64([n] + rest))])


def _segsum_ref(data, ids, num_segments):
    r = ids.ndim
    rows = data.reshape((-1,) + data.shape[r:])
    flat = ids.reshape(-1).astype(np.int64)
    out = np.zeros((num_segments,) + data.shape[r:], data.dtype)
    ok = (flat >= 0) & (flat < num_segments)
    np.add.at(out, flat[ok], rows[ok])
    return out


register(OpDef("unsorted_segment_sum", _segsum_shape, _segsum_lower, _segsum_ref,
               default_name="UnsortedSegmentSum", differentiable=False))


def unsorted_segment_sum(data, segment_ids, num_segments: int, name: Optional[str] = None) -> Tensor:
    """out[i] = sum of data[j] over the j with segment_ids[j] == i (TF's tf.math.unsorted_segment_sum):
    `segment_ids` has the shape of data's leading dimensions; ids outside [0, num_segments) are dropped."""
    n = int(num_segments)
    if n < 0:
        raise InvalidArgumentError(f"num_segments must be >= 0, got {num_segments}")
    return apply_op("unsorted_segment_sum", [data, segment_ids], name=name, num_segments=n)
