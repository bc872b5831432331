"""Reductions (reduce_sum/mean/max/min/prod, argmax/argmin) and the reductions VJPs emit (sum_to, the inverse of
broadcasting; num_elements). Sums and means lower through `lowering_utils.sum_reduce` (float32 error of the
pairwise class)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, convert_to_tensor, normalize_axis, numel1, register
from ..shape import Shape, broadcast, fmt
from .array import expand_dims
from .elementwise import _c, _mask, add, div, equal, mul, where
from .lowering_utils import i64, reduce, sum_reduce


def _axes(rank, axis):
    if axis is None:
        return None
    return tuple(sorted({normalize_axis(a, rank) for a in axis}))


def _reduce_shape(specs, axis, keepdims):
    s = specs[0].shape
    axes = _axes(len(s), axis)
    if axes is None:
        axes = tuple(range(len(s)))
    out = tuple((1 if keepdims else None) if i in axes else d for i, d in enumerate(s))
    if not keepdims:
        out = tuple(d for i, d in enumerate(s) if i not in axes)
    return [Spec(out, specs[0].dtype)]


def _expand_reduced(g, x, axes, keepdims):
    """`g` (reduced over `axes`) broadcast back to x's shape; also the normalised axes."""
    r = len(x.shape)
    axes = tuple(range(r)) if axes is None else tuple(sorted(normalize_axis(a, r) for a in axes))
    if not keepdims:
        for a in axes:
            g = expand_dims(g, a)
    return apply_op("broadcast_like", [g, x]), axes


def _sum_vjp(node, grads):
    return [_expand_reduced(grads[0], node.inputs[0], node.attrs["axis"], node.attrs["keepdims"])[0]]


def _mean_vjp(node, grads):
    x = node.inputs[0]
    gb, axes = _expand_reduced(grads[0], x, node.attrs["axis"], node.attrs["keepdims"])
    n = Shape([x.shape[a] for a in axes]).num_elements()
    count = _c(float(n), x) if n is not None else apply_op("num_elements", [x], axes=axes, dtype=x.dtype)
    return [div(gb, count)]


def _extremum_vjp(node, grads):
    """The gradient goes to the extreme values, shared equally between ties."""
    x, y = node.inputs[0], node.outputs[0]
    gb, axes = _expand_reduced(grads[0], x, node.attrs["axis"], node.attrs["keepdims"])
    yb, _ = _expand_reduced(y, x, node.attrs["axis"], node.attrs["keepdims"])
    m = _mask(equal(x, yb), x)
    cnt, _ = _expand_reduced(reduce_sum(m, list(axes), keepdims=True), x, list(axes), True)
    return [div(mul(gb, m), cnt)]


def _prod_vjp(node, grads):
    """The product of the other elements, exact when some are zero (as TF)."""
    x = node.inputs[0]
    gb, axes = _expand_reduced(grads[0], x, node.attrs["axis"], node.attrs["keepdims"])
    zero = _c(0.0, x)
    is0 = equal(x, zero)
    nz = where(is0, add(mul(x, zero), _c(1.0, x)), x)
    pnz, _ = _expand_reduced(reduce_prod(nz, list(axes), keepdims=True), x, list(axes), True)
    zc, _ = _expand_reduced(reduce_sum(_mask(is0, x), list(axes), keepdims=True), x, list(axes), True)
    others = where(is0, where(equal(zc, _c(1.0, x)), pnz, mul(pnz, zero)),
                   where(equal(zc, zero), div(pnz, nz), mul(pnz, zero)))
    return [mul(gb, others)]


# op -> (TF node name, ONNX op, numpy reference, VJP)
_REDUCE = {
    "reduce_sum": ("Sum", "ReduceSum", np.sum, _sum_vjp),
    "reduce_mean": ("Mean", "ReduceMean", np.mean, _mean_vjp),
    "reduce_max": ("Max", "ReduceMax", np.max, _extremum_vjp),
    "reduce_min": ("Min", "ReduceMin", np.min, _extremum_vjp),
    "reduce_prod": ("Prod", "ReduceProd", np.prod, _prod_vjp),
}


def _register_reduce(name, default, onnx_op, ref, vjp):
    def low(b, node, x, _o=onnx_op):
        axes = _axes(len(node.inputs[0].shape), node.attrs["axis"])
        if axes == ():
            return b.op("Identity", [x])
        if _o in ("ReduceSum", "ReduceMean"):
            t = node.inputs[0]
            return sum_reduce(b, x, t.shape, t.dtype, axes, node.attrs["keepdims"], mean=_o == "ReduceMean")
        return reduce(b, _o, x, axes, node.attrs["keepdims"])

    def reference(x, axis, keepdims, _r=ref):
        ax = None if axis is None else tuple(axis)
        acc = x.astype(np.float64) if x.dtype.kind == "f" else x
        return np.asarray(_r(acc, axis=ax, keepdims=keepdims)).astype(x.dtype)

    register(OpDef(name, _reduce_shape, low, reference, default_name=default, vjp=vjp, kind="reduce",
                   flops=lambda node: numel1(node.inputs[0].shape)))


for _n, (_d, _o, _r, _v) in _REDUCE.items():
    _register_reduce(_n, _d, _o, _r, _v)


def _reducer(op_name):
    def f(input_tensor, axis=None, keepdims: bool = False, name: Optional[str] = None,
          reduction_indices=None, keep_dims=None):
        if reduction_indices is not None:
            axis = reduction_indices
        if keep_dims is not None:
            keepdims = keep_dims
        if isinstance(axis, int):
            axis = (axis,)
        x = convert_to_tensor(input_tensor)
        return apply_op(op_name, [x], name=name, axis=None if axis is None else tuple(int(a) for a in axis),
                        keepdims=bool(keepdims))

    f.__name__ = op_name
    f.__doc__ = f"TF's tf.{op_name}(input_tensor, axis=None, keepdims=False)."
    return f


reduce_sum = _reducer("reduce_sum")
reduce_mean = _reducer("reduce_mean")
reduce_max = _reducer("reduce_max")
reduce_min = _reducer("reduce_min")
reduce_prod = _reducer("reduce_prod")


# ------------------------------------------------------------------------------------------
# argmax / argmin


def _arg_shape(specs, axis, output_type):
    s = specs[0].shape
    ax = normalize_axis(axis, len(s))
    return [Spec(tuple(d for i, d in enumerate(s) if i != ax), output_type)]


def _register_arg(name, default, onnx_op, ref):
    def low(b, node, x, _o=onnx_op):
        ax = normalize_axis(node.attrs["axis"], len(node.inputs[0].shape))
        y = b.op(_o, [x], axis=ax, keepdims=0)
        if node.attrs["output_type"] is not _dt.int64:
            y = b.op("Cast", [y], to=node.attrs["output_type"].onnx)
        return y

    register(OpDef(name, _arg_shape, low,
                   lambda x, axis, output_type, _r=ref: _r(x, axis=axis).astype(output_type.np),
                   default_name=default, differentiable=False))


_register_arg("argmax", "ArgMax", "ArgMax", np.argmax)
_register_arg("argmin", "ArgMin", "ArgMin", np.argmin)


def argmax(input, axis: Optional[int] = None, name: Optional[str] = None, dimension=None,
           output_type=_dt.int64) -> Tensor:
    """The index of the largest value along `axis` (TF's tf.argmax)."""
    axis = 0 if axis is None and dimension is None else (axis if axis is not None else dimension)
    return apply_op("argmax", [input], name=name, axis=int(axis), output_type=_dt.as_dtype(output_type))


def argmin(input, axis: Optional[int] = None, name: Optional[str] = None, dimension=None,
           output_type=_dt.int64) -> Tensor:
    """The index of the smallest value along `axis` (TF's tf.argmin)."""
    axis = 0 if axis is None and dimension is None else (axis if axis is not None else dimension)
    return apply_op("argmin", [input], name=name, axis=int(axis), output_type=_dt.as_dtype(output_type))


# ------------------------------------------------------------------------------------------
# sum_to (un-broadcasting) and num_elements, which VJPs emit


def _sum_to_axes(g_shape, target):
    """Axes of `g_shape` to sum so that it reduces to `target` (numpy broadcasting in reverse)."""
    lead = len(g_shape) - len(target)
    axes = list(range(lead))
    for i, t in enumerate(target):
        gd = g_shape[lead + i]
        if t == 1 and gd != 1:
            axes.append(lead + i)
    return axes


def _sum_to_shape(specs, shape):
    g = specs[0]
    if len(shape) > len(g.shape) or broadcast(shape, g.shape) is None:
        raise ShapeError(f"sum_to: {fmt(g.shape)} cannot be reduced to {fmt(shape)}")
    return [Spec(tuple(shape), g.dtype)]


def _sum_to_lower(b, node, g):
    shape = node.attrs["shape"]
    axes = _sum_to_axes(node.inputs[0].shape, shape)
    y = sum_reduce(b, g, node.inputs[0].shape, node.inputs[0].dtype, axes, True) if axes else g
    lead = len(node.inputs[0].shape) - len(shape)
    if lead:
        y = b.op("Squeeze", [y, b.const(i64(list(range(lead))))])
    if y is g:
        y = b.op("Identity", [g])
    return y


def _sum_to_ref(g, shape):
    axes = tuple(_sum_to_axes(g.shape, shape))
    out = g.astype(np.float64).sum(axis=axes, keepdims=True) if axes else g
    lead = g.ndim - len(shape)
    return np.asarray(out).reshape(np.asarray(out).shape[lead:]).astype(g.dtype)


register(OpDef("sum_to", _sum_to_shape, _sum_to_lower, _sum_to_ref, default_name="SumTo",
               vjp=lambda node, grads: [apply_op("broadcast_like", [grads[0], node.inputs[0]])]))


def _numel_shape(specs, axes, dtype):
    return [Spec((), dtype)]


def _numel_lower(b, node, x):
    s = b.op("Shape", [x])
    axes = node.attrs["axes"]
    if axes is not None:
        s = b.op("Gather", [s, b.const(i64(list(axes)))])
    n = reduce(b, "ReduceProd", s, None, False)
    return b.op("Cast", [n], to=node.attrs["dtype"].onnx)


register(OpDef("num_elements", _numel_shape, _numel_lower,
               lambda x, axes, dtype: np.array(np.prod([x.shape[a] for a in axes]) if axes is not None else x.size,
                                               dtype.np),
               default_name="NumElements", differentiable=False))
