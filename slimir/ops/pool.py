"""Pooling: max_pool and avg_pool (TF's SAME/VALID rules; averages exclude padded cells) with their gradients.

The max-pool gradient scatters dY at MaxPool's argmax indices (first index on ties, as TF): from the forward's
own argmax (max_pool_argmax + max_pool_grad_argmax, one pooling pass after the lowering's ONNX-level CSE)
when the SAME pads are static, by recomputing the windows (max_pool_grad) when they depend on the run-time
size. Windows that do not overlap use MaxUnpool on CPU and its ScatterElements form on CUDA (`_unpool`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from onnx import numpy_helper

from .. import dtypes as _dt
from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, data_format_layout, expect_rank, numel1, register
from ..shape import fmt
from .geometry import (
    check_data_format,
    check_padding,
    convt_attrs,
    from_nhwc,
    from_nhwc_np,
    nhwc,
    np_pad_nhwc,
    onnx_pads,
    out_len,
    pad_attrs,
    pad_hw,
    ref_pads,
    same_pad_at_run_time,
    same_pads_at_run_time,
    to_nhwc_np,
    windows,
)
from .lowering_utils import from_nchw, i64, to_nchw

# ------------------------------------------------------------------------------------------
# Pooling


def _pool_shape(specs, ksize, strides, padding, data_format, what):
    x = specs[0]
    expect_rank(x, 4, "input")
    check_data_format(data_format)
    if any(k <= 0 for k in ksize) or any(s <= 0 for s in strides):
        raise InvalidArgumentError(f"kernel_size {list(ksize)} and stride {list(strides)} must be positive")
    n, h, w, c = nhwc(x.shape, data_format)
    oh = out_len(h, ksize[0], strides[0], 1, padding, 0, what)
    ow = out_len(w, ksize[1], strides[1], 1, padding, 1, what)
    return [Spec(from_nhwc(n, oh, ow, c, data_format), x.dtype)]


def _pool_lower(onnx_op):
    def low(b, node, x):
        a = node.attrs
        df = a["data_format"]
        in_hw = nhwc(node.inputs[0].shape, df)[1:3]
        pads = onnx_pads(in_hw, a["ksize"], a["strides"], (1, 1), a["padding"])
        attrs = dict(kernel_shape=list(a["ksize"]), strides=list(a["strides"]))
        x = to_nchw(b, x, df)
        if pads == "runtime":  # pad explicitly; an average then divides by the count of real cells
            dt = node.inputs[0].dtype.np
            fill = -np.inf if onnx_op == "MaxPool" else 0.0
            y = b.op(onnx_op, [same_pad_at_run_time(b, x, a["ksize"], a["strides"], (1, 1), fill, dt)], **attrs)
            if onnx_op == "AveragePool":
                hw = b.op("Slice", [b.op("Shape", [x]), b.const(i64([2])), b.const(i64([4]))])
                ones = b.op("ConstantOfShape", [b.op("Concat", [b.const(i64([1, 1])), hw], axis=0)],
                            value=numpy_helper.from_array(np.ones(1, dt)))
                cnt = b.op(onnx_op, [same_pad_at_run_time(b, ones, a["ksize"], a["strides"], (1, 1), 0.0, dt)],
                           **attrs)
                y = b.op("Div", [y, cnt])
        else:
            extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
            y = b.op(onnx_op, [x], **attrs, **pad_attrs(pads), **extra)
        return from_nchw(b, y, df)

    return low


def _pool_ref(kind):
    def ref(x, ksize, strides, padding, data_format):
        xn = to_nhwc_np(x, data_format).astype(np.float64)
        pads = ref_pads(xn, ksize, strides, (1, 1), padding)
        kh, kw = ksize
        fill = -np.inf if kind == "max" else 0.0
        xp = np_pad_nhwc(xn, pads, fill)
        ones = np_pad_nhwc(np.ones_like(xn[..., :1]), pads, 0.0)
        oh = (xp.shape[1] - kh) // strides[0] + 1
        ow = (xp.shape[2] - kw) // strides[1] + 1
        wins = [win for _, _, win in windows(xp, kh, kw, *strides, 1, 1, oh, ow)]
        if kind == "max":
            out = np.max(np.stack(wins), axis=0)
        else:
            cnt = sum(win for _, _, win in windows(ones, kh, kw, *strides, 1, 1, oh, ow))
            out = sum(wins) / cnt
        return from_nhwc_np(out, data_format).astype(x.dtype)

    return ref


def _pool_flops(node):
    return numel1(node.outputs[0].shape) * node.attrs["ksize"][0] * node.attrs["ksize"][1]


def _max_pool_vjp(node, grads):
    """dX from the forward pool's argmax (max_pool_argmax, one pooling pass shared with the forward) where the
    SAME pads are static; max_pool_grad recomputes the windows when they depend on the run-time size."""
    x, a = node.inputs[0], node.attrs
    if onnx_pads(nhwc(x.shape, a["data_format"])[1:3], a["ksize"], a["strides"], (1, 1), a["padding"]) == "runtime":
        return [apply_op("max_pool_grad", [x, grads[0]], **a)]
    argmax = apply_op("max_pool_argmax", [x], **a)
    return [apply_op("max_pool_grad_argmax", [x, grads[0], argmax], **a)]


def _avg_pool_vjp(node, grads):
    return [apply_op("avg_pool_grad", [grads[0]], input_shape=tuple(node.inputs[0].shape), **node.attrs)]


register(OpDef("max_pool", lambda specs, **a: _pool_shape(specs, what="max_pool", **a), _pool_lower("MaxPool"),
               _pool_ref("max"), default_name="MaxPool", flops=_pool_flops, vjp=_max_pool_vjp,
               layout=data_format_layout()))
register(OpDef("avg_pool", lambda specs, **a: _pool_shape(specs, what="avg_pool", **a), _pool_lower("AveragePool"),
               _pool_ref("avg"), default_name="AvgPool", flops=_pool_flops, vjp=_avg_pool_vjp,
               layout=data_format_layout()))


def _pool_args(ksize, strides, data_format):
    df = check_data_format(data_format)
    ksize, strides = list(ksize), list(strides)
    if len(ksize) == 4:
        ksize = ksize[1:3] if df == "NHWC" else ksize[2:4]
    if len(strides) == 4:
        strides = strides[1:3] if df == "NHWC" else strides[2:4]
    return tuple(int(k) for k in ksize), tuple(int(s) for s in strides), df


def max_pool(value, ksize, strides, padding, data_format: str = "NHWC", name: Optional[str] = None) -> Tensor:
    """TF's tf.nn.max_pool (ksize/strides as 2 or 4 values)."""
    k, s, df = _pool_args(ksize, strides, data_format)
    return apply_op("max_pool", [value], name=name, ksize=k, strides=s, padding=check_padding(padding),
                    data_format=df)


def avg_pool(value, ksize, strides, padding, data_format: str = "NHWC", name: Optional[str] = None) -> Tensor:
    """TF's tf.nn.avg_pool: SAME padding excludes the padded cells from the average."""
    k, s, df = _pool_args(ksize, strides, data_format)
    return apply_op("avg_pool", [value], name=name, ksize=k, strides=s, padding=check_padding(padding),
                    data_format=df)


# ------------------------------------------------------------------------------------------
# Pooling gradients


def _pool_grad_shape(specs, **_):
    return [specs[0]]


def _no_overlap(attrs, pads) -> bool:
    """Pooling windows that neither overlap nor pad: each input cell gets at most one gradient value."""
    return tuple(attrs["ksize"]) == tuple(attrs["strides"]) and pads == [0, 0, 0, 0]


def _unpool(b, dy: str, idx: str, nchw_shape: str, attrs, dtype) -> str:
    """dY (NCHW) placed at MaxPool's flat indices of a zero tensor of `nchw_shape`, for windows that do not
    overlap (so the indices are unique). MaxUnpool does exactly this; ONNX Runtime's CUDA provider has no
    MaxUnpool kernel, so for CUDA the same values come from ScatterElements into zeros (no CPU fallback)."""
    if b.device != "cuda":
        return b.op("MaxUnpool", [dy, idx, nchw_shape], kernel_shape=list(attrs["ksize"]),
                    strides=list(attrs["strides"]))
    flat = b.const(i64([-1]))
    zeros = b.op("ConstantOfShape", [b.op("ReduceProd", [nchw_shape], keepdims=1)],
                 value=numpy_helper.from_array(np.zeros(1, dtype)))
    g = b.op("ScatterElements", [zeros, b.op("Reshape", [idx, flat]), b.op("Reshape", [dy, flat])], axis=0)
    return b.op("Reshape", [g, nchw_shape])


def _max_pool_grad_lower(b, node, x, dy):
    """Scatter-add dY at MaxPool's argmax indices (first index on ties, as TF)."""
    a = node.attrs
    df = a["data_format"]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    pads = onnx_pads(in_hw, a["ksize"], a["strides"], (1, 1), a["padding"])
    pad_attrs = {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}
    xc = to_nchw(b, x, df)
    if pads == "runtime":  # pad explicitly (indices then address the padded input), crop the gradient after
        head, tail, hw = same_pads_at_run_time(b, xc, a["ksize"], a["strides"], (1, 1))
        xc = pad_hw(b, xc, head, tail, -np.inf, node.inputs[0].dtype.np)
        pad_attrs = {"pads": [0, 0, 0, 0]}
    _, idx = b.op("MaxPool", [xc], outputs=2, kernel_shape=list(a["ksize"]), strides=list(a["strides"]), **pad_attrs)
    if _no_overlap(a, pads):
        return from_nchw(b, _unpool(b, to_nchw(b, dy, df), idx, b.op("Shape", [xc]), a, node.inputs[0].dtype.np), df)
    flat = b.const(i64([-1]))
    zeros = b.op("ConstantOfShape", [b.op("Shape", [b.op("Reshape", [xc, flat])])],
                 value=numpy_helper.from_array(np.zeros(1, node.inputs[0].dtype.np)))
    upd = b.op("Reshape", [to_nchw(b, dy, df), flat])
    g = b.op("ScatterElements", [zeros, b.op("Reshape", [idx, flat]), upd], axis=0, reduction="add")
    g = b.op("Reshape", [g, b.op("Shape", [xc])])
    if pads == "runtime":
        g = b.op("Slice", [g, head, b.op("Add", [head, hw]), b.const(i64([2, 3]))])
    return from_nchw(b, g, df)


def max_pool_grad_reference(x, dy, ksize, strides, padding, data_format):
    xn = to_nhwc_np(x, data_format)
    d = to_nhwc_np(dy, data_format)
    t, l, bo, r = onnx_pads(xn.shape[1:3], ksize, strides, (1, 1), padding)
    xp = np.pad(xn, ((0, 0), (t, bo), (l, r), (0, 0)), constant_values=-np.inf)
    gp = np.zeros(xp.shape, np.float64)
    n, oh, ow, c = d.shape
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * strides[0]: i * strides[0] + ksize[0], j * strides[1]: j * strides[1] + ksize[1], :]
            flat = win.reshape(n, -1, c)
            k = np.argmax(flat, axis=1)  # first maximum, row-major within the window
            ki, kj = np.unravel_index(k, (ksize[0], ksize[1]))
            for bi in range(n):
                for ch in range(c):
                    gp[bi, i * strides[0] + ki[bi, ch], j * strides[1] + kj[bi, ch], ch] += d[bi, i, j, ch]
    g = gp[:, t: t + xn.shape[1], l: l + xn.shape[2], :]
    return from_nhwc_np(g, data_format).astype(x.dtype)


register(OpDef("max_pool_grad", _pool_grad_shape, _max_pool_grad_lower, max_pool_grad_reference,
               default_name="MaxPoolGrad", differentiable=False, layout=data_format_layout((0, 1), (0,))))


# The max-pool gradient from the forward's argmax: max_pool_argmax(x) gives, for each pooled cell, the flat
# index (into x's NCHW layout, unpadded) of its window's first maximum, as ONNX MaxPool's Indices output;
# max_pool_grad_argmax(x, dy, argmax) scatters dy there. The lowering's ONNX-level CSE merges the argmax
# MaxPool with the forward's own MaxPool (one pooling pass, not two), and the argmax is the one branch
# decision of the pool, shared between the forward and the backward pass.


def _argmax_shape(specs, ksize, strides, padding, data_format):
    y = _pool_shape(specs, ksize, strides, padding, data_format, what="max_pool")[0]
    return [Spec(y.shape, _dt.int64)]


def _argmax_pads(node):
    a = node.attrs
    in_hw = nhwc(node.inputs[0].shape, a["data_format"])[1:3]
    return onnx_pads(in_hw, a["ksize"], a["strides"], (1, 1), a["padding"])


def _max_pool_argmax_lower(b, node, x):
    a = node.attrs
    pads = _argmax_pads(node)
    if pads == "runtime":
        raise ShapeError(f"{node.name}: max_pool_argmax needs static SAME pads (known spatial dims)")
    pad_attrs = {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}
    _, idx = b.op("MaxPool", [to_nchw(b, x, a["data_format"])], outputs=2, kernel_shape=list(a["ksize"]),
                  strides=list(a["strides"]), **pad_attrs)
    return from_nchw(b, idx, a["data_format"])


def max_pool_argmax_reference(x, ksize, strides, padding, data_format):
    xc = x if data_format == "NCHW" else np.transpose(x, (0, 3, 1, 2))
    n, c, h, w = xc.shape
    t, l, bo, r = onnx_pads((h, w), ksize, strides, (1, 1), padding)
    xp = np.pad(xc, ((0, 0), (0, 0), (t, bo), (l, r)), constant_values=-np.inf)
    oh = (xp.shape[2] - ksize[0]) // strides[0] + 1
    ow = (xp.shape[3] - ksize[1]) // strides[1] + 1
    out = np.zeros((n, c, oh, ow), np.int64)
    base = (np.arange(n)[:, None] * c + np.arange(c)[None, :]) * (h * w)
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * strides[0]: i * strides[0] + ksize[0], j * strides[1]: j * strides[1] + ksize[1]]
            k = np.argmax(win.reshape(n, c, -1), axis=2)  # first maximum, row-major within the window
            ki, kj = np.unravel_index(k, (ksize[0], ksize[1]))
            out[:, :, i, j] = base + (i * strides[0] + ki - t) * w + (j * strides[1] + kj - l)
    return out if data_format == "NCHW" else np.transpose(out, (0, 2, 3, 1))


register(OpDef("max_pool_argmax", _argmax_shape, _max_pool_argmax_lower, max_pool_argmax_reference,
               default_name="MaxPoolWithArgmax", differentiable=False, layout=data_format_layout()))


def _max_pool_grad_argmax_lower(b, node, x, dy, idx):
    """Scatter-add dY at the argmax (MaxUnpool when windows do not overlap: each cell gets at most one)."""
    a = node.attrs
    df = a["data_format"]
    shape = b.op("Shape", [x])
    nchw_shape = shape if df == "NCHW" else b.op("Gather", [shape, b.const(i64([0, 3, 1, 2]))])
    if _no_overlap(a, _argmax_pads(node)):
        g = _unpool(b, to_nchw(b, dy, df), to_nchw(b, idx, df), nchw_shape, a, node.inputs[0].dtype.np)
        return from_nchw(b, g, df)
    flat = b.const(i64([-1]))
    zeros = b.op("ConstantOfShape", [b.op("Shape", [b.op("Reshape", [x, flat])])],
                 value=numpy_helper.from_array(np.zeros(1, node.inputs[0].dtype.np)))
    g = b.op("ScatterElements", [zeros, b.op("Reshape", [idx, flat]), b.op("Reshape", [dy, flat])], axis=0,
             reduction="add")
    return from_nchw(b, b.op("Reshape", [g, nchw_shape]), df)


def max_pool_grad_argmax_reference(x, dy, argmax, ksize, strides, padding, data_format):
    xc_shape = x.shape if data_format == "NCHW" else (x.shape[0], x.shape[3], x.shape[1], x.shape[2])
    g = np.zeros(int(np.prod(xc_shape)), np.float64)
    np.add.at(g, argmax.reshape(-1), dy.reshape(-1).astype(np.float64))
    g = g.reshape(xc_shape)
    return (g if data_format == "NCHW" else np.transpose(g, (0, 2, 3, 1))).astype(dy.dtype)


register(OpDef("max_pool_grad_argmax", lambda specs, **a: [specs[0]], _max_pool_grad_argmax_lower,
               max_pool_grad_argmax_reference, default_name="MaxPoolGradWithArgmax", differentiable=False,
               layout=data_format_layout((0, 1, 2), (0,))))


def _avg_pool_grad_shape(specs, ksize, strides, padding, data_format, input_shape):
    return [Spec(tuple(input_shape), specs[0].dtype)]


def _avg_counts(in_hw, ksize, strides, padding):
    ones = np.ones((1,) + tuple(in_hw) + (1,))
    pads = onnx_pads(in_hw, ksize, strides, (1, 1), padding)
    p = np_pad_nhwc(ones, pads, 0.0)
    oh = (p.shape[1] - ksize[0]) // strides[0] + 1
    ow = (p.shape[2] - ksize[1]) // strides[1] + 1
    return sum(win for _, _, win in windows(p, ksize[0], ksize[1], *strides, 1, 1, oh, ow))[0, :, :, 0]


def _avg_pool_grad_lower(b, node, dy):
    """dX = ConvTranspose(dY / counts, ones) per channel (counts exclude padding, as TF)."""
    a = node.attrs
    df = a["data_format"]
    n, h, w, c = nhwc(a["input_shape"], df)
    if None in (h, w, c):
        raise ShapeError(f"{node.name}: the average-pool gradient needs known spatial dims and channels, "
                         f"got {fmt(a['input_shape'])}")
    dt = node.inputs[0].dtype.np
    counts = _avg_counts((h, w), a["ksize"], a["strides"], a["padding"])
    scaled = b.op("Div", [to_nchw(b, dy, df), b.const(counts.astype(dt)[None, None])])
    ones = b.const(np.ones((c, 1) + tuple(a["ksize"]), dt))
    pads = onnx_pads((h, w), a["ksize"], a["strides"], (1, 1), a["padding"])
    y = b.op("ConvTranspose", [scaled, ones], group=c,
             **convt_attrs((h, w), counts.shape, a["ksize"], a["strides"], (1, 1), pads))
    return from_nchw(b, y, df)


def avg_pool_grad_reference(dy, ksize, strides, padding, data_format, input_shape):
    d = to_nhwc_np(dy, data_format).astype(np.float64)
    n, h, w, c = nhwc(input_shape, data_format)
    h, w = int(h), int(w)
    counts = _avg_counts((h, w), ksize, strides, padding)
    t, l, bo, r = onnx_pads((h, w), ksize, strides, (1, 1), padding)
    gp = np.zeros((d.shape[0], h + t + bo, w + l + r, c))
    oh, ow = d.shape[1:3]
    for i in range(oh):
        for j in range(ow):
            gp[:, i * strides[0]: i * strides[0] + ksize[0], j * strides[1]: j * strides[1] + ksize[1], :] += \
                (d[:, i, j, :] / counts[i, j])[:, None, None, :]
    return from_nhwc_np(gp[:, t: t + h, l: l + w, :], data_format).astype(dy.dtype)


register(OpDef("avg_pool_grad", _avg_pool_grad_shape, _avg_pool_grad_lower, avg_pool_grad_reference,
               default_name="AvgPoolGrad", differentiable=False, layout=data_format_layout()))
