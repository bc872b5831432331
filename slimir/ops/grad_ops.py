"""Backward ops that the VJPs of other ops emit: convolution gradients, pooling gradients, LRN gradient,
and the broadcasting helpers (sum_to, broadcast_like, num_elements).

Lowerings follow what measured fastest on ONNX Runtime's CPU kernels (shared/notes/training-step-on-ort.md):
dX by ConvTranspose (a flipped-filter Conv with its per-step weight reorder measured slower here), dW by
one Gemm per kernel tap over [C, N*H*W] views (one im2col Gemm when the input has few channels), the
max-pool gradient by MaxUnpool at MaxPool's indices (ScatterElements(add) when windows overlap).
"""

from __future__ import annotations

import numpy as np

from .. import dtypes as _dt
from ..errors import ShapeError
from ..shape import Shape, broadcast, fmt
from .lowering_utils import HWIO_TO_OIHW, from_nchw, i64, reduce, sum_reduce, to_nchw
from .nn_ops import (_from_nhwc_np, _np_pad_nhwc, _to_nhwc_np, _windows, nhwc, onnx_pads, pad_hw,
                     same_pads_at_run_time)
from .registry import OpDef, numel1, Spec, apply_op, register


#: max-pool gradient by MaxUnpool (windows that do not overlap) rather than ScatterElements(add)
UNPOOL_WHEN_NO_OVERLAP = True


def _in_shape(dy_shape, input_hw, channels, df):
    n = dy_shape[0]
    h, w = input_hw
    return (n, h, w, channels) if df == "NHWC" else (n, channels, h, w)


def _static_pads(input_hw, ks, strides, dils, padding, what):
    if None in input_hw:
        raise ShapeError(f"{what} needs known spatial dimensions, got {list(input_hw)}")
    return onnx_pads(input_hw, ks, strides, dils, padding)


def _out_hw(dy, df):
    return nhwc(dy.shape, df)[1:3]


def _convt_attrs(input_hw, out_hw, ks, strides, dils, pads):
    """ConvTranspose attributes that map an [OH, OW] gradient back onto the [H, W] input exactly."""
    t, l, bo, r = pads
    ops = []
    for i, (h, oh) in enumerate(zip(input_hw, out_hw)):
        full = strides[i] * (oh - 1) + (ks[i] - 1) * dils[i] + 1
        ops.append(h - (full - (t, l)[i] - (bo, r)[i]))
    attrs = dict(kernel_shape=list(ks), strides=list(strides), dilations=list(dils), pads=[t, l, bo, r])
    if any(ops):
        attrs["output_padding"] = ops
    return attrs


# ------------------------------------------------------------------------------------------
# conv2d: dX and dW


def _bpi_shape(specs, strides, dilations, padding, data_format, input_hw):
    dy, w = specs
    return [Spec(_in_shape(dy.shape, input_hw, w.shape[2], data_format), dy.dtype)]


def _bpi_lower(b, node, dy, w):
    a = node.attrs
    df = a["data_format"]
    kh, kw = node.inputs[1].shape[:2]
    pads = _static_pads(a["input_hw"], (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    out_hw = _out_hw(node.inputs[0], df)
    wt = b.op("Transpose", [w], perm=HWIO_TO_OIHW)
    y = b.op("ConvTranspose", [to_nchw(b, dy, df), wt],
             **_convt_attrs(a["input_hw"], out_hw, (kh, kw), a["strides"], a["dilations"], pads))
    return from_nchw(b, y, df)


def conv2d_backprop_input_reference(dy, w, strides, dilations, padding, data_format, input_hw):
    d = _to_nhwc_np(dy, data_format).astype(np.float64)
    kh, kw, ci, _ = w.shape
    n = d.shape[0]
    h, wd = input_hw
    pads = onnx_pads((h, wd), (kh, kw), strides, dilations, padding)
    t, l, bo, r = pads
    xp = np.zeros((n, h + t + bo, wd + l + r, ci))
    oh, ow = d.shape[1:3]
    for i in range(kh):
        for j in range(kw):
            sl = xp[:, i * dilations[0]: i * dilations[0] + (oh - 1) * strides[0] + 1: strides[0],
                    j * dilations[1]: j * dilations[1] + (ow - 1) * strides[1] + 1: strides[1], :]
            sl += d @ w[i, j].astype(np.float64).T
    return _from_nhwc_np(xp[:, t: t + h, l: l + wd, :], data_format).astype(dy.dtype)


def _conv_flops_like(node, k_elems):
    return 2 * numel1(node.inputs[0].shape) * k_elems


register(OpDef("conv2d_backprop_input", _bpi_shape, _bpi_lower, conv2d_backprop_input_reference,
               default_name="Conv2DBackpropInput", differentiable=False,
               flops=lambda node: _conv_flops_like(node, int(np.prod(node.inputs[1].shape[:3])))))


def _bpf_shape(specs, strides, dilations, padding, data_format, filter_shape):
    return [Spec(tuple(filter_shape), specs[0].dtype)]


def _bpf_lower(b, node, x, dy):
    """dW[i, j] = X_tap(i, j)[Ci, N*OH*OW] @ dY[Co, N*OH*OW]^T, one Gemm per tap (im2col for Ci < 8)."""
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, co = a["filter_shape"]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    oh, ow = _out_hw(node.inputs[1], df)
    t, l, bo, r = _static_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    to_cnhw = [3, 0, 1, 2] if df == "NHWC" else [1, 0, 2, 3]
    xc = b.op("Transpose", [x], perm=to_cnhw)
    if t or l or bo or r:
        xc = b.op("Pad", [xc, b.const(i64([0, 0, t, l, 0, 0, bo, r]))])
    dyc = b.op("Transpose", [dy], perm=to_cnhw)
    dy2 = b.op("Reshape", [dyc, b.const(i64([co, -1]))])
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    flat = b.const(i64([ci, -1]))
    taps = []
    for i in range(kh):
        for j in range(kw):
            starts = b.const(i64([i * dh, j * dw]))
            ends = b.const(i64([i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1]))
            s = b.op("Slice", [xc, starts, ends, b.const(i64([2, 3])), b.const(i64([sh, sw]))])
            taps.append(b.op("Reshape", [s, flat]))
    if ci < 8:
        col = b.op("Concat", taps, axis=0) if len(taps) > 1 else taps[0]
        g = b.op("Gemm", [col, dy2], transB=1)
    else:
        parts = [b.op("Gemm", [tp, dy2], transB=1) for tp in taps]
        g = b.op("Concat", parts, axis=0) if len(parts) > 1 else parts[0]
    return b.op("Reshape", [g, b.const(i64([kh, kw, ci, co]))])


def conv2d_backprop_filter_reference(x, dy, strides, dilations, padding, data_format, filter_shape):
    xn = _to_nhwc_np(x, data_format).astype(np.float64)
    d = _to_nhwc_np(dy, data_format).astype(np.float64)
    kh, kw, ci, co = filter_shape
    pads = onnx_pads(xn.shape[1:3], (kh, kw), strides, dilations, padding)
    xp = _np_pad_nhwc(xn, pads)
    oh, ow = d.shape[1:3]
    out = np.zeros((kh, kw, ci, co))
    for i, j, win in _windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out[i, j] = np.einsum("nhwc,nhwo->co", win, d)
    return out.astype(x.dtype)


register(OpDef("conv2d_backprop_filter", _bpf_shape, _bpf_lower, conv2d_backprop_filter_reference,
               default_name="Conv2DBackpropFilter", differentiable=False,
               flops=lambda node: 2 * int(np.prod(node.attrs["filter_shape"][:3])) * numel1(node.inputs[1].shape)))


# ------------------------------------------------------------------------------------------
# depthwise conv: dX and dW


def _dbpi_shape(specs, strides, dilations, padding, data_format, input_hw):
    dy, w = specs
    return [Spec(_in_shape(dy.shape, input_hw, w.shape[2], data_format), dy.dtype)]


def _dbpi_lower(b, node, dy, w):
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, dm = node.inputs[1].shape
    pads = _static_pads(a["input_hw"], (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    out_hw = _out_hw(node.inputs[0], df)
    w2 = b.op("Reshape", [w, b.const(i64([kh, kw, 1, ci * dm]))])
    wt = b.op("Transpose", [w2], perm=HWIO_TO_OIHW)
    y = b.op("ConvTranspose", [to_nchw(b, dy, df), wt], group=ci,
             **_convt_attrs(a["input_hw"], out_hw, (kh, kw), a["strides"], a["dilations"], pads))
    return from_nchw(b, y, df)


def depthwise_backprop_input_reference(dy, w, strides, dilations, padding, data_format, input_hw):
    kh, kw, ci, dm = w.shape
    full = np.zeros((kh, kw, ci, ci * dm), w.dtype)
    for c in range(ci):
        full[:, :, c, c * dm:(c + 1) * dm] = w[:, :, c, :]
    return conv2d_backprop_input_reference(dy, full, strides, dilations, padding, data_format, input_hw)


register(OpDef("depthwise_backprop_input", _dbpi_shape, _dbpi_lower, depthwise_backprop_input_reference,
               default_name="DepthwiseConv2dNativeBackpropInput", differentiable=False))


def _dbpf_lower(b, node, x, dy):
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, dm = a["filter_shape"]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    oh, ow = _out_hw(node.inputs[1], df)
    t, l, bo, r = _static_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    xc = to_nchw(b, x, df)
    nb = node.inputs[0].shape[0]
    if t or l or bo or r:
        xc = b.op("Pad", [xc, b.const(i64([0, 0, t, l, 0, 0, bo, r]))])
    x5 = b.const(i64([0, ci, 1, oh, ow]))
    d5 = b.op("Reshape", [to_nchw(b, dy, df), b.const(i64([0, ci, dm, oh, ow]))])
    (sh, sw), (dh, dw) = a["strides"], a["dilations"]
    taps = []
    for i in range(kh):
        for j in range(kw):
            s = b.op("Slice", [xc, b.const(i64([i * dh, j * dw])),
                               b.const(i64([i * dh + (oh - 1) * sh + 1, j * dw + (ow - 1) * sw + 1])),
                               b.const(i64([2, 3])), b.const(i64([sh, sw]))])
            prod = b.op("Mul", [b.op("Reshape", [s, x5]), d5])
            taps.append(sum_reduce(b, prod, (nb, ci, dm, oh, ow), node.inputs[1].dtype, [0, 3, 4], False))
    g = b.op("Concat", taps, axis=0) if len(taps) > 1 else taps[0]
    return b.op("Reshape", [g, b.const(i64([kh, kw, ci, dm]))])


def depthwise_backprop_filter_reference(x, dy, strides, dilations, padding, data_format, filter_shape):
    kh, kw, ci, dm = filter_shape
    full = conv2d_backprop_filter_reference(x, dy, strides, dilations, padding, data_format, (kh, kw, ci, ci * dm))
    out = np.zeros(filter_shape, x.dtype)
    for c in range(ci):
        out[:, :, c, :] = full[:, :, c, c * dm:(c + 1) * dm]
    return out


register(OpDef("depthwise_backprop_filter", _bpf_shape, _dbpf_lower, depthwise_backprop_filter_reference,
               default_name="DepthwiseConv2dNativeBackpropFilter", differentiable=False))


# ------------------------------------------------------------------------------------------
# Pooling gradients


def _pool_grad_shape(specs, **_):
    return [specs[0]]


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
    if UNPOOL_WHEN_NO_OVERLAP and tuple(a["ksize"]) == tuple(a["strides"]) and pads == [0, 0, 0, 0]:
        # windows do not overlap: every input cell gets at most one gradient, MaxUnpool places them
        g = b.op("MaxUnpool", [to_nchw(b, dy, df), idx, b.op("Shape", [xc])], kernel_shape=list(a["ksize"]),
                 strides=list(a["strides"]))
        return from_nchw(b, g, df)
    flat = b.const(i64([-1]))
    zeros = b.op("ConstantOfShape", [b.op("Shape", [b.op("Reshape", [xc, flat])])],
                 value=_tensor(np.zeros(1, node.inputs[0].dtype.np)))
    upd = b.op("Reshape", [to_nchw(b, dy, df), flat])
    g = b.op("ScatterElements", [zeros, b.op("Reshape", [idx, flat]), upd], axis=0, reduction="add")
    g = b.op("Reshape", [g, b.op("Shape", [xc])])
    if pads == "runtime":
        g = b.op("Slice", [g, head, b.op("Add", [head, hw]), b.const(i64([2, 3]))])
    return from_nchw(b, g, df)


def _tensor(arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(arr)


def max_pool_grad_reference(x, dy, ksize, strides, padding, data_format):
    xn = _to_nhwc_np(x, data_format)
    d = _to_nhwc_np(dy, data_format)
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
    return _from_nhwc_np(g, data_format).astype(x.dtype)


register(OpDef("max_pool_grad", _pool_grad_shape, _max_pool_grad_lower, max_pool_grad_reference,
               default_name="MaxPoolGrad", differentiable=False))


# The max-pool gradient from the forward's argmax: max_pool_argmax(x) gives, for each pooled cell, the flat
# index (into x's NCHW layout, unpadded) of its window's first maximum, as ONNX MaxPool's Indices output;
# max_pool_grad_argmax(x, dy, argmax) scatters dy there. The lowering's ONNX-level CSE merges the argmax
# MaxPool with the forward's own MaxPool (one pooling pass, not two), and the argmax is the one branch
# decision of the pool, shared between the forward and the backward pass.


def _argmax_shape(specs, ksize, strides, padding, data_format):
    from .nn_ops import _pool_shape

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
               default_name="MaxPoolWithArgmax", differentiable=False))


def _max_pool_grad_argmax_lower(b, node, x, dy, idx):
    """Scatter-add dY at the argmax (MaxUnpool when windows do not overlap: each cell gets at most one)."""
    a = node.attrs
    df = a["data_format"]
    nchw_shape = b.op("Shape", [x]) if df == "NCHW" else b.op("Gather", [b.op("Shape", [x]), b.const(i64([0, 3, 1, 2]))])
    if UNPOOL_WHEN_NO_OVERLAP and tuple(a["ksize"]) == tuple(a["strides"]) and _argmax_pads(node) == [0, 0, 0, 0]:
        g = b.op("MaxUnpool", [to_nchw(b, dy, df), to_nchw(b, idx, df), nchw_shape], kernel_shape=list(a["ksize"]),
                 strides=list(a["strides"]))
        return from_nchw(b, g, df)
    flat = b.const(i64([-1]))
    zeros = b.op("ConstantOfShape", [b.op("Shape", [b.op("Reshape", [x, flat])])],
                 value=_tensor(np.zeros(1, node.inputs[0].dtype.np)))
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
               max_pool_grad_argmax_reference, default_name="MaxPoolGradWithArgmax", differentiable=False))


def _avg_pool_grad_shape(specs, ksize, strides, padding, data_format, input_shape):
    return [Spec(tuple(input_shape), specs[0].dtype)]


def _avg_counts(in_hw, ksize, strides, padding):
    ones = np.ones((1,) + tuple(in_hw) + (1,))
    pads = onnx_pads(in_hw, ksize, strides, (1, 1), padding)
    p = _np_pad_nhwc(ones, pads, 0.0)
    oh = (p.shape[1] - ksize[0]) // strides[0] + 1
    ow = (p.shape[2] - ksize[1]) // strides[1] + 1
    return sum(win for _, _, win in _windows(p, ksize[0], ksize[1], *strides, 1, 1, oh, ow))[0, :, :, 0]


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
             **_convt_attrs((h, w), counts.shape, a["ksize"], a["strides"], (1, 1), pads))
    return from_nchw(b, y, df)


def avg_pool_grad_reference(dy, ksize, strides, padding, data_format, input_shape):
    d = _to_nhwc_np(dy, data_format).astype(np.float64)
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
    return _from_nhwc_np(gp[:, t: t + h, l: l + w, :], data_format).astype(dy.dtype)


register(OpDef("avg_pool_grad", _avg_pool_grad_shape, _avg_pool_grad_lower, avg_pool_grad_reference,
               default_name="AvgPoolGrad", differentiable=False))


# ------------------------------------------------------------------------------------------
# LRN gradient: with D = bias + alpha * S(x^2) and S the channel-window sum,
# dx = dy * D^-beta - 2 * alpha * beta * x * S(dy * y / D)


def _lrn_grad_shape(specs, **_):
    return [specs[0]]


def _band(c, r, dt):
    idx = np.arange(c)
    return (np.abs(idx[:, None] - idx[None, :]) <= r).astype(dt)


def _lrn_grad_lower(b, node, x, y, dy):
    a = node.attrs
    df = a.get("data_format", "NHWC")
    cax = 3 if df == "NHWC" else 1
    c = node.inputs[0].shape[cax]
    if c is None:
        raise ShapeError(f"{node.name}: the LRN gradient needs a known channel count")
    dt = node.inputs[0].dtype.np
    band = _band(c, a["depth_radius"], dt)

    def window_sum(z):
        if df == "NHWC":
            return b.op("MatMul", [z, b.const(band)])
        return b.op("Conv", [z, b.const(band[:, :, None, None])], kernel_shape=[1, 1])

    k = lambda v: b.const(np.array(v, dt))  # noqa: E731
    d = b.op("Add", [k(a["bias"]), b.op("Mul", [k(a["alpha"]), window_sum(b.op("Mul", [x, x]))])])
    first = b.op("Mul", [dy, b.op("Pow", [d, k(-a["beta"])])])
    inner = window_sum(b.op("Div", [b.op("Mul", [dy, y]), d]))
    second = b.op("Mul", [b.op("Mul", [k(2.0 * a["alpha"] * a["beta"]), x]), inner])
    return b.op("Sub", [first, second])


def lrn_grad_reference(x, y, dy, depth_radius, bias, alpha, beta, data_format="NHWC"):
    xn = np.moveaxis(x, 1, -1) if data_format == "NCHW" else x
    yn = np.moveaxis(y, 1, -1) if data_format == "NCHW" else y
    dn = np.moveaxis(dy, 1, -1) if data_format == "NCHW" else dy
    band = _band(xn.shape[-1], depth_radius, np.float64)
    x64, y64, d64 = (a.astype(np.float64) for a in (xn, yn, dn))
    dd = bias + alpha * (x64 ** 2) @ band
    g = d64 * dd ** (-beta) - 2 * alpha * beta * x64 * ((d64 * y64 / dd) @ band)
    g = np.moveaxis(g, -1, 1) if data_format == "NCHW" else g
    return g.astype(x.dtype)


register(OpDef("lrn_grad", _lrn_grad_shape, _lrn_grad_lower, lrn_grad_reference, default_name="LRNGrad",
               differentiable=False))


# ------------------------------------------------------------------------------------------
# Broadcasting helpers


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


def _bcast_like_shape(specs):
    g, like = specs
    out = broadcast(g.shape, like.shape)
    if out is None or len(out) != len(like.shape):
        raise ShapeError(f"broadcast_like: {fmt(g.shape)} does not broadcast to {fmt(like.shape)}")
    return [Spec(tuple(like.shape), g.dtype)]


register(OpDef("broadcast_like", _bcast_like_shape, lambda b, node, g, like: b.op("Expand", [g, b.op("Shape", [like])]),
               lambda g, like: np.broadcast_to(g, like.shape).copy(), default_name="BroadcastTo",
               vjp=lambda node, grads: [apply_op("sum_to", [grads[0]], shape=tuple(node.inputs[0].shape)), None]))


def _reshape_like_shape(specs):
    g, like = specs
    n1, n2 = Shape(g.shape).num_elements(), Shape(like.shape).num_elements()
    if n1 is not None and n2 is not None and n1 != n2:
        raise ShapeError(f"reshape_like: {fmt(g.shape)} has {n1} values, {fmt(like.shape)} needs {n2}")
    return [Spec(tuple(like.shape), g.dtype)]


register(OpDef("reshape_like", _reshape_like_shape,
               lambda b, node, g, like: b.op("Reshape", [g, b.op("Shape", [like])]),
               lambda g, like: g.reshape(like.shape), default_name="Reshape",
               vjp=lambda node, grads: [apply_op("reshape_like", [grads[0], node.inputs[0]]), None]))


def _tile_grad_shape(specs, multiples):
    return [Spec(tuple(specs[1].shape), specs[0].dtype)]


def _tile_grad_lower(b, node, g, x):
    """Reshape g to [m0, d0, m1, d1, ...] (d from x's run-time shape) and sum the m axes."""
    xs = b.op("Shape", [x])
    parts = []
    for i, m in enumerate(node.attrs["multiples"]):
        parts.append(b.const(i64([m])))
        parts.append(b.op("Slice", [xs, b.const(i64([i])), b.const(i64([i + 1]))]))
    g2 = b.op("Reshape", [g, b.op("Concat", parts, axis=0)])
    g2_shape = []
    for m, d in zip(node.attrs["multiples"], node.inputs[1].shape):
        g2_shape += [m, d]
    return sum_reduce(b, g2, g2_shape, node.inputs[0].dtype, list(range(0, 2 * len(node.attrs["multiples"]), 2)),
                      False)


def _tile_grad_ref(g, x, multiples):
    shp = []
    for m, d in zip(multiples, x.shape):
        shp += [m, d]
    return g.reshape(shp).sum(axis=tuple(range(0, 2 * len(multiples), 2))).astype(g.dtype)


register(OpDef("tile_grad", _tile_grad_shape, _tile_grad_lower, _tile_grad_ref, default_name="TileGrad",
               differentiable=False))


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



# ------------------------------------------------------------------------------------------
# mirror_pad_grad: the gradient of REFLECT / SYMMETRIC padding (each mirrored border folded back onto its source)


def mirror_source(d: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each position of an axis padded by (before, after), the input index it copies (REFLECT skips the edge,
    SYMMETRIC repeats it)."""
    p = np.arange(-before, d + after)
    edge = 0 if mode == "REFLECT" else 1
    p = np.where(p < 0, -p - edge, p)
    return np.where(p >= d, 2 * d - 2 + edge - p, p)


def _mirror_grad_shape(specs, paddings, mode):
    g, x = specs
    for ax, ((a, c), d) in enumerate(zip(paddings, x.shape)):
        if (a or c) and d is None:
            raise ShapeError(f"the gradient of {mode} padding needs a known size of axis {ax}, got {fmt(x.shape)}")
    return [Spec(tuple(x.shape), g.dtype)]


def _mirror_grad_lower(b, node, g, x):
    """Per padded axis: the centre slice, plus each border reversed and padded onto the input positions it copies."""
    mode = node.attrs["mode"]
    edge = 0 if mode == "REFLECT" else 1
    y = g
    for ax, ((a, c), d) in enumerate(zip(node.attrs["paddings"], node.inputs[1].shape)):
        if not (a or c):
            continue
        rank = len(node.inputs[1].shape)

        def sl(start, stop, step=1):
            return b.op("Slice", [y, b.const(i64([start])), b.const(i64([stop])), b.const(i64([ax])),
                                  b.const(i64([step]))])

        def place(part, lo, hi):
            pads = [0] * (2 * rank)
            pads[ax], pads[rank + ax] = lo, hi
            return b.op("Pad", [part, b.const(i64(pads))])

        out = sl(a, a + d)
        if a:  # g[a-1::-1] lands on x[1 - edge : a + 1 - edge]
            out = b.op("Add", [out, place(sl(a - 1, -(2**62), -1), 1 - edge, d - a - 1 + edge)])
        if c:  # g[a+d+c-1 : a+d-1 : -1] lands on x[d-1-c+edge : d-1+edge]
            out = b.op("Add", [out, place(sl(a + d + c - 1, a + d - 1, -1), d - 1 - c + edge, 1 - edge)])
        y = out
    return y if y is not g else b.op("Identity", [g])


def _mirror_grad_ref(g, x, paddings, mode):
    out = g
    for ax, ((a, c), d) in enumerate(zip(paddings, x.shape)):
        if not (a or c):
            continue
        src = mirror_source(d, a, c, mode)
        moved = np.moveaxis(out, ax, 0)
        acc = np.zeros((d,) + moved.shape[1:], g.dtype)
        np.add.at(acc, src, moved)
        out = np.moveaxis(acc, 0, ax)
    return np.ascontiguousarray(out)


register(OpDef("mirror_pad_grad", _mirror_grad_shape, _mirror_grad_lower, _mirror_grad_ref,
               default_name="MirrorPadGrad", differentiable=False, flops=lambda node: numel1(node.inputs[0].shape)))
