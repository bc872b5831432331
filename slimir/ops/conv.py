"""Convolutions: conv2d, depthwise_conv2d and conv2d_transpose (TF's weight layouts), their backward ops
(dX by ConvTranspose, dW by one Gemm per kernel tap over [C, N*H*W] views, one im2col Gemm when the input has
few channels: what measured fastest on ONNX Runtime's CPU kernels, shared/notes/training-step-on-ort.md), and
fused_conv2d, the conv + bias + activation the fusion pass makes."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..ir.registry import (
    OpDef,
    Spec,
    apply_op,
    data_format_layout,
    expect_float,
    expect_rank,
    get_op,
    numel1,
    register,
    same_dtype,
)
from ..shape import fmt
from .activation import check_activation, lower_activation, pre_activation_grad, reference_activation
from .geometry import (
    check_data_format,
    conv_input,
    convt_attrs,
    from_nhwc,
    from_nhwc_np,
    hw_of,
    in_shape,
    nhwc,
    np_pad_nhwc,
    onnx_pads,
    out_len,
    ref_pads,
    static_pads,
    to_nhwc_np,
    windows,
)
from .lowering_utils import HWIO_TO_OIHW, from_nchw, i64, sum_reduce, to_nchw, weight_layout


def _conv_vjp(input_grad_op: str, filter_grad_op: str):
    """The VJP of a convolution whose dX and dW are the given backward ops (below in this module)."""

    def vjp(node, grads):
        x, w = node.inputs
        a = node.attrs
        common = dict(strides=a["strides"], dilations=a["dilations"], padding=a["padding"],
                      data_format=a["data_format"])
        dx = apply_op(input_grad_op, [grads[0], w], input_hw=hw_of(x, a["data_format"]), **common)
        dw = apply_op(filter_grad_op, [x, grads[0]], filter_shape=tuple(w.shape), **common)
        return [dx, dw]

    return vjp


def _convt_vjp(node, grads):
    """y = conv2d_transpose(x, w) is the adjoint of conv2d(., w): dx = conv2d(g, w), dw from (g, x)."""
    x, w = node.inputs
    g = grads[0]
    a = node.attrs
    common = dict(strides=a["strides"], dilations=(1, 1), padding=a["padding"], data_format=a["data_format"])
    dx = apply_op("conv2d", [g, w], **common)
    dw = apply_op("conv2d_backprop_filter", [g, x], filter_shape=tuple(w.shape), **common)
    return [dx, dw]


# ------------------------------------------------------------------------------------------
# conv2d (weights HWIO, as TF) and depthwise_conv2d ([kh, kw, in, multiplier])


def _conv_common(specs, strides, dilations, padding, data_format, what):
    x, w = specs
    expect_rank(x, 4, "input")
    expect_rank(w, 4, "filter")
    expect_float(x)
    same_dtype(specs)
    check_data_format(data_format)
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations):
        raise InvalidArgumentError(f"strides {list(strides)} and dilations {list(dilations)} must be positive")
    if any(d <= 0 for d in w.shape if d is not None):
        raise InvalidArgumentError(f"filter shape {fmt(w.shape)} must be positive")
    if max(strides) > 1 and max(dilations) > 1:
        raise InvalidArgumentError(f"{what}: strides > 1 together with dilation > 1 is not supported (as TF)")
    return nhwc(x.shape, data_format)


def _conv2d_shape(specs, strides, dilations, padding, data_format):
    n, h, w_, c = _conv_common(specs, strides, dilations, padding, data_format, "conv2d")
    kh, kw, ci, co = specs[1].shape
    if c is not None and ci is not None and c != ci:
        raise ShapeError(f"input has {c} channels but the filter {fmt(specs[1].shape)} expects {ci}")
    oh = out_len(h, kh, strides[0], dilations[0], padding, 0, "conv2d")
    ow = out_len(w_, kw, strides[1], dilations[1], padding, 1, "conv2d")
    return [Spec(from_nhwc(n, oh, ow, co, data_format), specs[0].dtype)]


def _conv2d_lower(b, node, x, w, bias=None):
    a = node.attrs
    df = a["data_format"]
    kh, kw = node.inputs[1].shape[:2]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    pads = onnx_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"])
    wt = weight_layout(b, w, HWIO_TO_OIHW)
    xin, pad_attrs = conv_input(b, node, x, pads, (kh, kw))
    y = b.op("Conv", [xin, wt] + ([bias] if bias else []), kernel_shape=[kh, kw],
             strides=list(a["strides"]), dilations=list(a["dilations"]), **pad_attrs)
    return from_nchw(b, y, df)


def conv2d_reference(x, w, strides, dilations, padding, data_format):
    """numpy conv2d (TF semantics), float64 accumulation."""
    xn = to_nhwc_np(x, data_format).astype(np.float64)
    kh, kw, _, co = w.shape
    pads = ref_pads(xn, (kh, kw), strides, dilations, padding)
    xp = np_pad_nhwc(xn, pads)
    oh = (xp.shape[1] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[2] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    out = np.zeros((xn.shape[0], oh, ow, co))
    for i, j, win in windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out += win @ w[i, j].astype(np.float64)
    return from_nhwc_np(out, data_format).astype(x.dtype)


def _conv2d_flops(node):
    kh, kw, ci, _ = node.inputs[1].shape
    return 2 * kh * kw * ci * numel1(node.outputs[0].shape)


register(OpDef("conv2d", _conv2d_shape, _conv2d_lower, conv2d_reference, default_name="Conv2D",
               flops=_conv2d_flops, vjp=_conv_vjp("conv2d_backprop_input", "conv2d_backprop_filter"),
               layout=data_format_layout()))


def _depthwise_shape(specs, strides, dilations, padding, data_format):
    n, h, w_, c = _conv_common(specs, strides, dilations, padding, data_format, "depthwise_conv2d")
    kh, kw, ci, dm = specs[1].shape
    if c is not None and ci is not None and c != ci:
        raise ShapeError(f"input has {c} channels but the depthwise filter {fmt(specs[1].shape)} expects {ci}")
    oh = out_len(h, kh, strides[0], dilations[0], padding, 0, "depthwise_conv2d")
    ow = out_len(w_, kw, strides[1], dilations[1], padding, 1, "depthwise_conv2d")
    co = None if (c or ci) is None or dm is None else (c or ci) * dm
    return [Spec(from_nhwc(n, oh, ow, co, data_format), specs[0].dtype)]


def _depthwise_lower(b, node, x, w, bias=None):
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, dm = node.inputs[1].shape
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    pads = onnx_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"])
    wt = weight_layout(b, w, HWIO_TO_OIHW, reshape=(kh, kw, 1, ci * dm))
    xin, pad_attrs = conv_input(b, node, x, pads, (kh, kw))
    y = b.op("Conv", [xin, wt] + ([bias] if bias else []), kernel_shape=[kh, kw],
             strides=list(a["strides"]), dilations=list(a["dilations"]), group=ci, **pad_attrs)
    return from_nchw(b, y, df)


def depthwise_reference(x, w, strides, dilations, padding, data_format):
    xn = to_nhwc_np(x, data_format).astype(np.float64)
    kh, kw, ci, dm = w.shape
    pads = ref_pads(xn, (kh, kw), strides, dilations, padding)
    xp = np_pad_nhwc(xn, pads)
    oh = (xp.shape[1] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[2] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    out = np.zeros((xn.shape[0], oh, ow, ci, dm))
    for i, j, win in windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out += win[..., None] * w[i, j].astype(np.float64)
    out = out.reshape(xn.shape[0], oh, ow, ci * dm)
    return from_nhwc_np(out, data_format).astype(x.dtype)


def _depthwise_flops(node):
    kh, kw, _, _ = node.inputs[1].shape
    return 2 * kh * kw * numel1(node.outputs[0].shape)


register(OpDef("depthwise_conv2d", _depthwise_shape, _depthwise_lower, depthwise_reference,
               default_name="depthwise", flops=_depthwise_flops,
               vjp=_conv_vjp("depthwise_backprop_input", "depthwise_backprop_filter"), layout=data_format_layout()))


# ------------------------------------------------------------------------------------------
# conv2d_transpose (weights [kh, kw, out, in], as TF)


def _convt_geometry(in_len, k, s, out_len_, padding, axis):
    """(pad_before, pad_after, output_padding) so ONNX ConvTranspose yields TF's output length."""
    full = (in_len - 1) * s + k
    if padding == "VALID":
        pb = 0
    elif padding == "SAME":
        pb = max((in_len - 1) * s + k - out_len_, 0) // 2
    else:
        pb = padding[axis][0]
    pa = max(full - pb - out_len_, 0)
    op_ = out_len_ - (full - pb - pa)
    return pb, pa, op_


def _convt_static_geometry(in_len, k, s, out_len_, padding, axis):
    """_convt_geometry when the input or output length is unknown until run time.

    A known output fixes the input length (the forward conv's); with neither known, the output is
    transposed_out_len(input), whose pads and output padding do not depend on the input length.
    """
    if in_len is None and out_len_ is not None:
        in_len = out_len(out_len_, k, s, 1, padding, axis, "conv2d_transpose")
    if out_len_ is None:
        in_len = 1 if in_len is None else in_len
        out_len_ = transposed_out_len(in_len, k, s, padding if isinstance(padding, str) else padding[axis])
    return _convt_geometry(in_len, k, s, out_len_, padding, axis)


def transposed_out_len(size, k, s, padding):
    """TF-Slim/Keras output length of conv2d_transpose."""
    if size is None:
        return None
    if padding == "VALID":
        return size * s + max(k - s, 0)
    if padding == "SAME":
        return size * s
    (pb, pa) = padding
    return (size - 1) * s + k - pb - pa


def _convt_shape(specs, strides, padding, data_format, output_hw):
    x, w = specs
    expect_rank(x, 4, "input")
    expect_rank(w, 4, "filter")
    expect_float(x)
    same_dtype(specs)
    check_data_format(data_format)
    n, h, w_, c = nhwc(x.shape, data_format)
    kh, kw, co, ci = w.shape
    if c is not None and ci is not None and c != ci:
        raise ShapeError(f"input has {c} channels but the filter {fmt(w.shape)} expects {ci} "
                         "(filter is [kh, kw, out, in])")
    oh, ow = output_hw
    return [Spec(from_nhwc(n, oh, ow, co, data_format), x.dtype)]


def _convt_lower(b, node, x, w, bias=None):
    a = node.attrs
    df = a["data_format"]
    kh, kw, co, ci = node.inputs[1].shape
    n, h, w_, c = nhwc(node.inputs[0].shape, df)
    oh, ow = a["output_hw"]
    attrs = dict(kernel_shape=[kh, kw], strides=list(a["strides"]))
    t, bo, oph = _convt_static_geometry(h, kh, a["strides"][0], oh, a["padding"], 0)
    l, r, opw = _convt_static_geometry(w_, kw, a["strides"][1], ow, a["padding"], 1)
    attrs["pads"] = [t, l, bo, r]
    if oph or opw:
        attrs["output_padding"] = [oph, opw]
    wt = weight_layout(b, w, [3, 2, 0, 1])
    y = b.op("ConvTranspose", [to_nchw(b, x, df), wt] + ([bias] if bias else []), **attrs)
    return from_nchw(b, y, df)


def conv2d_transpose_reference(x, w, strides, padding, data_format, output_hw):
    xn = to_nhwc_np(x, data_format).astype(np.float64)
    n, h, w_, _ = xn.shape
    kh, kw, co, _ = w.shape
    sh, sw = strides
    fh, fw = (h - 1) * sh + kh, (w_ - 1) * sw + kw
    full = np.zeros((n, max(fh, 1), max(fw, 1), co))
    for i in range(kh):
        for j in range(kw):
            full[:, i: i + (h - 1) * sh + 1: sh, j: j + (w_ - 1) * sw + 1: sw, :] += xn @ w[i, j].astype(np.float64).T
    pad_hw = (padding, padding) if isinstance(padding, str) else padding
    oh, ow = (o if o is not None else transposed_out_len(n_, k, s, p)  # unknown when built: the layer's size
              for o, n_, k, s, p in zip(output_hw, (h, w_), (kh, kw), strides, pad_hw))
    t, _, _ = _convt_geometry(h, kh, sh, oh, padding, 0)
    l, _, _ = _convt_geometry(w_, kw, sw, ow, padding, 1)
    full = np.pad(full, ((0, 0), (0, max(0, t + oh - fh)), (0, max(0, l + ow - fw)), (0, 0)))
    out = full[:, t: t + oh, l: l + ow, :]
    return from_nhwc_np(out, data_format).astype(x.dtype)


def _convt_flops(node):
    kh, kw, co, ci = node.inputs[1].shape
    return 2 * kh * kw * co * numel1(node.inputs[0].shape)


def _convt_vjp(node, grads):
    """y = conv2d_transpose(x, w) is the adjoint of conv2d(., w): dx = conv2d(g, w), dw from (g, x)."""
    x, w = node.inputs
    g = grads[0]
    a = node.attrs
    common = dict(strides=a["strides"], dilations=(1, 1), padding=a["padding"], data_format=a["data_format"])
    dx = apply_op("conv2d", [g, w], **common)
    dw = apply_op("conv2d_backprop_filter", [g, x], filter_shape=tuple(w.shape), **common)
    return [dx, dw]


register(OpDef("conv2d_transpose", _convt_shape, _convt_lower, conv2d_transpose_reference,
               default_name="conv2d_transpose", flops=_convt_flops, vjp=_convt_vjp, layout=data_format_layout()))


# ------------------------------------------------------------------------------------------
# Backward ops the VJPs emit. conv2d: dX and dW


def _bpi_shape(specs, strides, dilations, padding, data_format, input_hw):
    dy, w = specs
    return [Spec(in_shape(dy.shape, input_hw, w.shape[2], data_format), dy.dtype)]


def _bpi_lower(b, node, dy, w):
    a = node.attrs
    df = a["data_format"]
    kh, kw = node.inputs[1].shape[:2]
    pads = static_pads(a["input_hw"], (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    out_hw = hw_of(node.inputs[0], df)
    wt = b.op("Transpose", [w], perm=HWIO_TO_OIHW)
    y = b.op("ConvTranspose", [to_nchw(b, dy, df), wt],
             **convt_attrs(a["input_hw"], out_hw, (kh, kw), a["strides"], a["dilations"], pads))
    return from_nchw(b, y, df)


def conv2d_backprop_input_reference(dy, w, strides, dilations, padding, data_format, input_hw):
    d = to_nhwc_np(dy, data_format).astype(np.float64)
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
    return from_nhwc_np(xp[:, t: t + h, l: l + wd, :], data_format).astype(dy.dtype)


def _conv_flops_like(node, k_elems):
    return 2 * numel1(node.inputs[0].shape) * k_elems


register(OpDef("conv2d_backprop_input", _bpi_shape, _bpi_lower, conv2d_backprop_input_reference,
               default_name="Conv2DBackpropInput", differentiable=False, layout=data_format_layout(),
               flops=lambda node: _conv_flops_like(node, int(np.prod(node.inputs[1].shape[:3])))))


def _bpf_shape(specs, strides, dilations, padding, data_format, filter_shape):
    return [Spec(tuple(filter_shape), specs[0].dtype)]


def _bpf_lower(b, node, x, dy):
    """dW[i, j] = X_tap(i, j)[Ci, N*OH*OW] @ dY[Co, N*OH*OW]^T, one Gemm per tap (im2col for Ci < 8)."""
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, co = a["filter_shape"]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    oh, ow = hw_of(node.inputs[1], df)
    t, l, bo, r = static_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
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
    xn = to_nhwc_np(x, data_format).astype(np.float64)
    d = to_nhwc_np(dy, data_format).astype(np.float64)
    kh, kw, ci, co = filter_shape
    pads = onnx_pads(xn.shape[1:3], (kh, kw), strides, dilations, padding)
    xp = np_pad_nhwc(xn, pads)
    oh, ow = d.shape[1:3]
    out = np.zeros((kh, kw, ci, co))
    for i, j, win in windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out[i, j] = np.einsum("nhwc,nhwo->co", win, d)
    return out.astype(x.dtype)


register(OpDef("conv2d_backprop_filter", _bpf_shape, _bpf_lower, conv2d_backprop_filter_reference,
               default_name="Conv2DBackpropFilter", differentiable=False, layout=data_format_layout((0, 1), ()),
               flops=lambda node: 2 * int(np.prod(node.attrs["filter_shape"][:3])) * numel1(node.inputs[1].shape)))


# ------------------------------------------------------------------------------------------
# depthwise conv: dX and dW


def _dbpi_shape(specs, strides, dilations, padding, data_format, input_hw):
    dy, w = specs
    return [Spec(in_shape(dy.shape, input_hw, w.shape[2], data_format), dy.dtype)]


def _dbpi_lower(b, node, dy, w):
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, dm = node.inputs[1].shape
    pads = static_pads(a["input_hw"], (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
    out_hw = hw_of(node.inputs[0], df)
    w2 = b.op("Reshape", [w, b.const(i64([kh, kw, 1, ci * dm]))])
    wt = b.op("Transpose", [w2], perm=HWIO_TO_OIHW)
    y = b.op("ConvTranspose", [to_nchw(b, dy, df), wt], group=ci,
             **convt_attrs(a["input_hw"], out_hw, (kh, kw), a["strides"], a["dilations"], pads))
    return from_nchw(b, y, df)


def depthwise_backprop_input_reference(dy, w, strides, dilations, padding, data_format, input_hw):
    kh, kw, ci, dm = w.shape
    full = np.zeros((kh, kw, ci, ci * dm), w.dtype)
    for c in range(ci):
        full[:, :, c, c * dm:(c + 1) * dm] = w[:, :, c, :]
    return conv2d_backprop_input_reference(dy, full, strides, dilations, padding, data_format, input_hw)


register(OpDef("depthwise_backprop_input", _dbpi_shape, _dbpi_lower, depthwise_backprop_input_reference,
               default_name="DepthwiseConv2dNativeBackpropInput", differentiable=False, layout=data_format_layout()))


def _dbpf_lower(b, node, x, dy):
    a = node.attrs
    df = a["data_format"]
    kh, kw, ci, dm = a["filter_shape"]
    in_hw = nhwc(node.inputs[0].shape, df)[1:3]
    oh, ow = hw_of(node.inputs[1], df)
    t, l, bo, r = static_pads(in_hw, (kh, kw), a["strides"], a["dilations"], a["padding"], node.name)
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
               default_name="DepthwiseConv2dNativeBackpropFilter", differentiable=False,
               layout=data_format_layout((0, 1), ())))


# ------------------------------------------------------------------------------------------
# fused_conv2d: a convolution (2-D, depthwise, transposed) with ONNX Conv's bias input and an activation,
# made by the fuse_conv_bias_act pass; it reuses the base op's shape rule, lowering, reference and VJP.

CONV_TYPES = ("conv2d", "depthwise_conv2d", "conv2d_transpose")
_FUSION_ATTRS = ("conv", "activation", "act_attrs")


def _split_attrs(attrs) -> tuple:
    return attrs["conv"], {k: v for k, v in attrs.items() if k not in _FUSION_ATTRS}


def _fused_conv_shape(specs, **attrs):
    conv, base = _split_attrs(attrs)
    out = get_op(conv).shape(specs[:2], **base)
    if len(specs) == 3:
        same_dtype(specs)
        b = specs[2]
        c = out[0].shape[1] if base["data_format"] == "NCHW" else out[0].shape[-1]
        if len(b.shape) != 1 or (c is not None and b.shape[0] not in (None, c)):
            raise ShapeError(f"bias {fmt(b.shape)} does not match the {c} output channels")
    check_activation(attrs["activation"])
    return out


class _BaseView:
    """A fused node seen as its base conv node (attrs without the fusion fields), for the base op's rules."""

    def __init__(self, node, attrs):
        self.name, self.inputs, self.outputs, self.attrs = node.name, node.inputs[:2], node.outputs, attrs


def _fused_conv_lower(b, node, x, w, bias=None):
    conv, base = _split_attrs(node.attrs)
    return lower_activation(b, node, get_op(conv).lower(b, _BaseView(node, base), x, w, bias))


def _fused_conv_ref(x, w, bias=None, **attrs):
    conv, base = _split_attrs(attrs)
    y = get_op(conv).reference(x, w, **base).astype(np.float64)
    if bias is not None:
        y = y + bias.reshape((-1, 1, 1) if base["data_format"] == "NCHW" else (-1,))
    return reference_activation(y, attrs["activation"], attrs["act_attrs"]).astype(x.dtype)


def _fused_conv_flops(node):
    conv, base = _split_attrs(node.attrs)
    n = numel1(node.outputs[0].shape)
    return get_op(conv).flops(_BaseView(node, base)) + n * (len(node.inputs) == 3) + n * bool(node.attrs["activation"])


def _fused_conv_vjp(node, grads):
    dz = pre_activation_grad(node, grads[0])
    conv, base = _split_attrs(node.attrs)
    out = list(get_op(conv).vjp(_BaseView(node, base), [dz]))
    if len(node.inputs) == 3:
        cax = 1 if base["data_format"] == "NCHW" else 3
        out.append(apply_op("reduce_sum", [dz], axis=tuple(i for i in range(4) if i != cax), keepdims=False))
    return out


register(OpDef("fused_conv2d", _fused_conv_shape, _fused_conv_lower, _fused_conv_ref, default_name="FusedConv",
               flops=_fused_conv_flops, vjp=_fused_conv_vjp, layout=data_format_layout()))
