"""Neural-network ops: convolutions, pooling, bias_add, softmax, LRN, batch norm and dropout."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..graph import Tensor, get_default_graph, get_seed
from ..shape import fmt
from .lowering_utils import HWIO_TO_OIHW, from_nchw, i64, onnx_seed, reduce, sum_reduce, to_nchw, weight_layout
from .registry import OpDef, numel1, Spec, apply_op, expect_float, expect_rank, normalize_axis, register, same_dtype

# ------------------------------------------------------------------------------------------
# Shared geometry (TF's padding rules)


def check_data_format(df: str) -> str:
    if df not in ("NHWC", "NCHW"):
        raise InvalidArgumentError(f"data_format must be 'NHWC' or 'NCHW', got {df!r}")
    return df


def check_padding(padding) -> object:
    if isinstance(padding, str):
        p = padding.upper()
        if p not in ("SAME", "VALID"):
            raise InvalidArgumentError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
        return p
    try:
        pads = tuple((int(a), int(b)) for a, b in padding)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"padding must be 'SAME', 'VALID' or pairs of ints, got {padding!r}") from None
    if len(pads) != 2 or any(a < 0 or b < 0 for a, b in pads):
        raise InvalidArgumentError(f"explicit padding needs two non-negative (before, after) pairs, got {padding!r}")
    return pads


def nhwc(shape, df):
    """(N, H, W, C) of a 4-D shape in either layout."""
    return tuple(shape) if df == "NHWC" else (shape[0], shape[2], shape[3], shape[1])


def from_nhwc(n, h, w, c, df):
    return (n, h, w, c) if df == "NHWC" else (n, c, h, w)


def out_len(size, k, s, d, padding, axis: int, what: str):
    """Output length of one spatial axis under TF's padding rules."""
    if size is None:
        return None
    fs = (k - 1) * d + 1
    if padding == "SAME":
        return -(-size // s)
    if padding == "VALID":
        if size < fs:
            raise ShapeError(
                f"{what}: kernel of size {fs} (with dilation) is larger than the VALID input "
                f"dimension {size} (spatial axis {axis})")
        return -(-(size - fs + 1) // s)
    pb, pa = padding[axis]
    n = size + pb + pa - fs
    if n < 0:
        raise ShapeError(f"{what}: kernel {fs} larger than padded input {size + pb + pa}")
    return n // s + 1


def pads_for(size, k, s, d, padding, axis: int):
    """(before, after) padding of one spatial axis; SAME puts the extra pixel after, as TF."""
    if padding == "VALID":
        return 0, 0
    if padding == "SAME":
        fs = (k - 1) * d + 1
        total = max((-(-size // s) - 1) * s + fs - size, 0)
        return total // 2, total - total // 2
    return padding[axis]


def onnx_pads(in_hw, ks, strides, dils, padding):
    """ONNX `pads` [t, l, b, r]; for SAME with a spatial size unknown until run time, None (auto_pad) or
    "runtime" (pads computed from the input's shape, see `same_pad_at_run_time`).

    SAME pads do not depend on the size when every axis has stride 1 or kernel extent 1. ONNX Runtime's
    auto_pad rejects dilation and goes negative when the kernel extent is below the stride (TF pads 0),
    so it serves only kernels at least as large as their strides.
    """
    if padding == "VALID":
        return [0, 0, 0, 0]
    if any(d is None for d in in_hw) and padding == "SAME":
        fs = [(k - 1) * d + 1 for k, d in zip(ks, dils)]
        if all(s == 1 or f == 1 for s, f in zip(strides, fs)):
            in_hw = (1, 1)
        elif all(f >= s for s, f in zip(strides, fs)) and all(d == 1 for d in dils):
            return None
        else:
            return "runtime"
    (t, bo), (l, r) = (pads_for(in_hw[i], ks[i], strides[i], dils[i], padding, i) for i in range(2))
    return [t, l, bo, r]


def _pad_attrs(pads):
    return {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}


def same_pads_at_run_time(b, x, ks, strides, dils) -> tuple:
    """(head, tail, hw): int64 [2] values, TF's SAME pads of `x` (NCHW) from its run-time spatial size hw."""
    fs = i64([(k - 1) * d + 1 for k, d in zip(ks, dils)])
    s = i64(list(strides))
    hw = b.op("Slice", [b.op("Shape", [x]), b.const(i64([2])), b.const(i64([4]))])
    out = b.op("Div", [b.op("Add", [hw, b.const(s - 1)]), b.const(s)])
    total = b.op("Sub", [b.op("Add", [b.op("Mul", [b.op("Sub", [out, b.const(i64([1, 1]))]), b.const(s)]),
                                      b.const(fs)]), hw])
    total = b.op("Max", [total, b.const(i64([0, 0]))])
    head = b.op("Div", [total, b.const(i64([2, 2]))])
    return head, b.op("Sub", [total, head]), hw


def pad_hw(b, x, head: str, tail: str, value: float, dtype) -> str:
    """`x` (NCHW) padded with `value` by run-time pads head/tail ([2] each: H, W)."""
    zero = b.const(i64([0, 0]))
    pads = b.op("Concat", [zero, head, zero, tail], axis=0)
    return b.op("Pad", [x, pads, b.const(np.array(value, dtype))], mode="constant")


def same_pad_at_run_time(b, x, ks, strides, dils, value: float, dtype) -> str:
    """`x` (NCHW) padded with `value` as TF's SAME, the pads computed from its run-time shape."""
    head, tail, _ = same_pads_at_run_time(b, x, ks, strides, dils)
    return pad_hw(b, x, head, tail, value, dtype)


def _conv_input(b, node, x, pads, ks):
    """The NCHW input of an ONNX Conv and its padding attributes."""
    a = node.attrs
    x = to_nchw(b, x, a["data_format"])
    if pads == "runtime":
        x = same_pad_at_run_time(b, x, ks, a["strides"], a["dilations"], 0.0, node.inputs[0].dtype.np)
        return x, {"pads": [0, 0, 0, 0]}
    return x, _pad_attrs(pads)


def _np_pad_nhwc(x, pads, value=0.0):
    t, l, bo, r = pads
    return np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)), constant_values=value)


def _to_nhwc_np(x, df):
    return x if df == "NHWC" else np.transpose(x, (0, 2, 3, 1))


def _from_nhwc_np(x, df):
    return x if df == "NHWC" else np.transpose(x, (0, 3, 1, 2))


def _ref_pads(x_nhwc, ks, strides, dils, padding):
    return onnx_pads(x_nhwc.shape[1:3], ks, strides, dils, padding)


def _windows(xp, kh, kw, sh, sw, dh, dw, oh, ow):
    """Yield (i, j, view) for each kernel tap: the strided input window it multiplies."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw, :]


# ------------------------------------------------------------------------------------------
# conv2d (weights HWIO, as TF)


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
    xin, pad_attrs = _conv_input(b, node, x, pads, (kh, kw))
    y = b.op("Conv", [xin, wt] + ([bias] if bias else []), kernel_shape=[kh, kw],
             strides=list(a["strides"]), dilations=list(a["dilations"]), **pad_attrs)
    return from_nchw(b, y, df)


def conv2d_reference(x, w, strides, dilations, padding, data_format):
    """numpy conv2d (TF semantics), float64 accumulation."""
    xn = _to_nhwc_np(x, data_format).astype(np.float64)
    kh, kw, _, co = w.shape
    pads = _ref_pads(xn, (kh, kw), strides, dilations, padding)
    xp = _np_pad_nhwc(xn, pads)
    oh = (xp.shape[1] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[2] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    out = np.zeros((xn.shape[0], oh, ow, co))
    for i, j, win in _windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out += win @ w[i, j].astype(np.float64)
    return _from_nhwc_np(out, data_format).astype(x.dtype)


def _conv2d_flops(node):
    kh, kw, ci, _ = node.inputs[1].shape
    return 2 * kh * kw * ci * numel1(node.outputs[0].shape)


register(OpDef("conv2d", _conv2d_shape, _conv2d_lower, conv2d_reference, default_name="Conv2D",
               flops=_conv2d_flops))


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
    xin, pad_attrs = _conv_input(b, node, x, pads, (kh, kw))
    y = b.op("Conv", [xin, wt] + ([bias] if bias else []), kernel_shape=[kh, kw],
             strides=list(a["strides"]), dilations=list(a["dilations"]), group=ci, **pad_attrs)
    return from_nchw(b, y, df)


def depthwise_reference(x, w, strides, dilations, padding, data_format):
    xn = _to_nhwc_np(x, data_format).astype(np.float64)
    kh, kw, ci, dm = w.shape
    pads = _ref_pads(xn, (kh, kw), strides, dilations, padding)
    xp = _np_pad_nhwc(xn, pads)
    oh = (xp.shape[1] - ((kh - 1) * dilations[0] + 1)) // strides[0] + 1
    ow = (xp.shape[2] - ((kw - 1) * dilations[1] + 1)) // strides[1] + 1
    out = np.zeros((xn.shape[0], oh, ow, ci, dm))
    for i, j, win in _windows(xp, kh, kw, *strides, *dilations, oh, ow):
        out += win[..., None] * w[i, j].astype(np.float64)
    out = out.reshape(xn.shape[0], oh, ow, ci * dm)
    return _from_nhwc_np(out, data_format).astype(x.dtype)


def _depthwise_flops(node):
    kh, kw, _, _ = node.inputs[1].shape
    return 2 * kh * kw * numel1(node.outputs[0].shape)


register(OpDef("depthwise_conv2d", _depthwise_shape, _depthwise_lower, depthwise_reference,
               default_name="depthwise", flops=_depthwise_flops))


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
        raise ShapeError(f"input has {c} channels but the filter {fmt(w.shape)} expects {ci} (filter is [kh, kw, out, in])")
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
    xn = _to_nhwc_np(x, data_format).astype(np.float64)
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
    return _from_nhwc_np(out, data_format).astype(x.dtype)


def _convt_flops(node):
    kh, kw, co, ci = node.inputs[1].shape
    return 2 * kh * kw * co * numel1(node.inputs[0].shape)


register(OpDef("conv2d_transpose", _convt_shape, _convt_lower, conv2d_transpose_reference,
               default_name="conv2d_transpose", flops=_convt_flops))


# ------------------------------------------------------------------------------------------
# bias_add


def _bias_add_shape(specs, data_format):
    x, bias = specs
    same_dtype(specs)
    expect_rank(bias, 1, "bias")
    if len(x.shape) < 2:
        raise ShapeError(f"bias_add expects an input of rank >= 2, got {fmt(x.shape)}")
    c = x.shape[1] if data_format == "NCHW" else x.shape[-1]
    if c is not None and bias.shape[0] is not None and c != bias.shape[0]:
        raise ShapeError(f"bias of shape {fmt(bias.shape)} does not match the {c} channels of {fmt(x.shape)}")
    return [specs[0]]


def _bias_add_lower(b, node, x, bias):
    r = len(node.inputs[0].shape)
    if node.attrs["data_format"] == "NCHW" and r > 2:
        bias = b.op("Reshape", [bias, b.const(i64([-1] + [1] * (r - 2)))])
    return b.op("Add", [x, bias])


def _bias_add_ref(x, bias, data_format):
    if data_format == "NCHW" and x.ndim > 2:
        bias = bias.reshape((-1,) + (1,) * (x.ndim - 2))
    return (x + bias).astype(x.dtype)


register(OpDef("bias_add", _bias_add_shape, _bias_add_lower, _bias_add_ref, default_name="BiasAdd",
               flops=lambda node: numel1(node.outputs[0].shape)))


def bias_add(value, bias, data_format: Optional[str] = None, name: Optional[str] = None) -> Tensor:
    """Add a per-channel bias (TF's tf.nn.bias_add)."""
    df = check_data_format(data_format or "NHWC")
    return apply_op("bias_add", [value, bias], name=name, data_format=df)


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
                            value=_scalar_tensor(np.ones(1, dt)))
                cnt = b.op(onnx_op, [same_pad_at_run_time(b, ones, a["ksize"], a["strides"], (1, 1), 0.0, dt)],
                           **attrs)
                y = b.op("Div", [y, cnt])
        else:
            extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
            y = b.op(onnx_op, [x], **attrs, **_pad_attrs(pads), **extra)
        return from_nchw(b, y, df)

    return low


def _pool_ref(kind):
    def ref(x, ksize, strides, padding, data_format):
        xn = _to_nhwc_np(x, data_format).astype(np.float64)
        pads = _ref_pads(xn, ksize, strides, (1, 1), padding)
        kh, kw = ksize
        fill = -np.inf if kind == "max" else 0.0
        xp = _np_pad_nhwc(xn, pads, fill)
        ones = _np_pad_nhwc(np.ones_like(xn[..., :1]), pads, 0.0)
        oh = (xp.shape[1] - kh) // strides[0] + 1
        ow = (xp.shape[2] - kw) // strides[1] + 1
        wins = [win for _, _, win in _windows(xp, kh, kw, *strides, 1, 1, oh, ow)]
        if kind == "max":
            out = np.max(np.stack(wins), axis=0)
        else:
            cnt = sum(win for _, _, win in _windows(ones, kh, kw, *strides, 1, 1, oh, ow))
            out = sum(wins) / cnt
        return _from_nhwc_np(out, data_format).astype(x.dtype)

    return ref


def _pool_flops(node):
    return numel1(node.outputs[0].shape) * node.attrs["ksize"][0] * node.attrs["ksize"][1]


register(OpDef("max_pool", lambda specs, **a: _pool_shape(specs, what="max_pool", **a), _pool_lower("MaxPool"),
               _pool_ref("max"), default_name="MaxPool", flops=_pool_flops))
register(OpDef("avg_pool", lambda specs, **a: _pool_shape(specs, what="avg_pool", **a), _pool_lower("AveragePool"),
               _pool_ref("avg"), default_name="AvgPool", flops=_pool_flops))


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
# softmax / log_softmax


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


register(OpDef("softmax", _softmax_shape, _softmax_lower("Softmax"), _softmax_ref, default_name="Softmax",
               flops=lambda node: 5 * (numel1(node.outputs[0].shape))))
register(OpDef("log_softmax", _softmax_shape, _softmax_lower("LogSoftmax"), _log_softmax_ref,
               default_name="LogSoftmax",
               flops=lambda node: 5 * (numel1(node.outputs[0].shape))))


def softmax(logits, axis: int = -1, name: Optional[str] = None, dim=None) -> Tensor:
    return apply_op("softmax", [logits], name=name, axis=int(dim if dim is not None else axis))


def log_softmax(logits, axis: int = -1, name: Optional[str] = None, dim=None) -> Tensor:
    return apply_op("log_softmax", [logits], name=name, axis=int(dim if dim is not None else axis))


# ------------------------------------------------------------------------------------------
# Local response normalisation (TF's tf.nn.lrn: over the last axis of NHWC)


def _lrn_shape(specs, depth_radius, bias, alpha, beta, data_format="NHWC"):
    expect_rank(specs[0], 4, "input")
    expect_float(specs[0])
    check_data_format(data_format)
    return [specs[0]]


def _lrn_lower(b, node, x):
    a = node.attrs
    size = 2 * a["depth_radius"] + 1
    df = a.get("data_format", "NHWC")
    y = b.op("LRN", [to_nchw(b, x, df)], size=size, alpha=float(a["alpha"] * size), beta=float(a["beta"]),
             bias=float(a["bias"]))
    return from_nchw(b, y, df)


def _lrn_ref(x, depth_radius, bias, alpha, beta, data_format="NHWC"):
    if data_format == "NCHW":
        return np.moveaxis(_lrn_ref(np.moveaxis(x, 1, -1), depth_radius, bias, alpha, beta), -1, 1)
    x64 = x.astype(np.float64)
    sq = x64 ** 2
    c = x.shape[-1]
    acc = np.zeros_like(sq)
    for i in range(c):
        lo, hi = max(0, i - depth_radius), min(c, i + depth_radius + 1)
        acc[..., i] = sq[..., lo:hi].sum(-1)
    return (x64 / (bias + alpha * acc) ** beta).astype(x.dtype)


register(OpDef("lrn", _lrn_shape, _lrn_lower, _lrn_ref, default_name="LRN",
               flops=lambda node: (2 * node.attrs["depth_radius"] + 4) * numel1(node.outputs[0].shape)))


def lrn(input, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0, beta: float = 0.5,
        name: Optional[str] = None) -> Tensor:
    """Local response normalisation across channels (TF's tf.nn.local_response_normalization)."""
    return apply_op("lrn", [input], name=name, depth_radius=int(depth_radius), bias=float(bias),
                    alpha=float(alpha), beta=float(beta))


local_response_normalization = lrn


# ------------------------------------------------------------------------------------------
# Batch normalisation: y, batch_mean, batch_var[, x_hat, inv_std] = fused_batch_norm(x, scale, offset, mean, var)
# In training mode the op also returns what its VJP reuses (as TF's reserve_space outputs): the normalised input
# x_hat = (x - batch_mean) * inv_std and the per-channel inv_std = 1 / sqrt(biased batch variance + epsilon).


def _bn_shape(specs, epsilon, axis, is_training, bessel):
    x, scale, offset, mean, var = specs
    expect_float(x)
    r = len(x.shape)
    if r < 2:
        raise ShapeError(f"batch_norm expects an input of rank >= 2, got {fmt(x.shape)}")
    ax = normalize_axis(axis, r)
    c = x.shape[ax]
    for name, s in (("scale", scale), ("offset", offset), ("mean", mean), ("variance", var)):
        expect_rank(s, 1, name)
        if c is not None and s.shape[0] is not None and s.shape[0] != c:
            raise ShapeError(f"{name} of shape {fmt(s.shape)} does not match the {c} channels of {fmt(x.shape)}")
    stat = Spec((c,), x.dtype)
    return [x, stat, stat, x, stat] if is_training else [x, stat, stat]


def _bn_lower(b, node, x, scale, offset, mean, var):
    a = node.attrs
    t = node.inputs[0]
    r = len(t.shape)
    ax = normalize_axis(a["axis"], r)
    if not a["is_training"] and ax == 1:
        y = b.op("BatchNormalization", [x, scale, offset, mean, var], epsilon=float(a["epsilon"]))
        return [y, b.op("Identity", [mean]), b.op("Identity", [var])]
    eps = b.const(np.array(a["epsilon"], t.dtype.np))
    bshape = b.const(i64([-1 if i == ax else 1 for i in range(r)]))
    if a["is_training"]:
        axes = [i for i in range(r) if i != ax]
        m = sum_reduce(b, x, t.shape, t.dtype, axes, True, mean=True)
        d = b.op("Sub", [x, m])
        v = sum_reduce(b, b.op("Mul", [d, d]), t.shape, t.dtype, axes, True, mean=True)
        inv = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [v, eps])])])
        k = b.op("Mul", [inv, b.op("Reshape", [scale, bshape])])
        y = b.op("Add", [b.op("Mul", [d, k]), b.op("Reshape", [offset, bshape])])
        xhat = b.op("Mul", [d, inv])
        flat = b.const(i64([-1]))
        bm = b.op("Reshape", [m, flat])
        bv = b.op("Reshape", [v, flat])
        if a["bessel"]:
            n = b.op("Div", [b.op("Size", [x]), b.op("Size", [m])])
            nf = b.op("Cast", [n], to=t.dtype.onnx)
            one = b.const(np.array(1, t.dtype.np))
            bv = b.op("Mul", [bv, b.op("Div", [nf, b.op("Max", [b.op("Sub", [nf, one]), one])])])
        return [y, bm, bv, xhat, b.op("Reshape", [inv, flat])]
    if ax == 1:
        y = b.op("BatchNormalization", [x, scale, offset, mean, var], epsilon=float(a["epsilon"]))
    else:
        inv = b.op("Mul", [scale, b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [var, eps])])])])
        shift = b.op("Sub", [offset, b.op("Mul", [mean, inv])])
        y = b.op("Add", [b.op("Mul", [x, b.op("Reshape", [inv, bshape])]), b.op("Reshape", [shift, bshape])])
    return [y, b.op("Identity", [mean]), b.op("Identity", [var])]


def batch_norm_reference(x, scale, offset, mean, var, epsilon, axis, is_training, bessel):
    r = x.ndim
    ax = axis % r
    axes = tuple(i for i in range(r) if i != ax)
    bs = [-1 if i == ax else 1 for i in range(r)]
    x64 = x.astype(np.float64)
    if is_training:
        m = x64.mean(axis=axes)
        v = x64.var(axis=axes)
        n = x.size // x.shape[ax]
        bv = v * n / max(n - 1, 1) if bessel else v
    else:
        m, v = mean.astype(np.float64), var.astype(np.float64)
        bv = v
    inv = 1.0 / np.sqrt(v + epsilon)
    xhat = (x64 - m.reshape(bs)) * inv.reshape(bs)
    y = xhat * scale.reshape(bs) + offset.reshape(bs)
    outs = (y.astype(x.dtype), m.astype(x.dtype), bv.astype(x.dtype))
    return outs + (xhat.astype(x.dtype), inv.astype(x.dtype)) if is_training else outs


register(OpDef("fused_batch_norm", _bn_shape, _bn_lower, batch_norm_reference, default_name="FusedBatchNorm",
               flops=lambda node: 2 * (numel1(node.outputs[0].shape))))


def fused_batch_norm(x, scale, offset, mean, variance, epsilon: float = 0.001, axis: int = -1,
                     is_training: bool = True, bessel: bool = True, name: Optional[str] = None):
    """Batch normalisation over all axes but `axis`; returns (y, batch_mean, batch_variance).

    In training mode the returned variance carries Bessel's correction when `bessel` (TF's fused kernel).
    """
    out = apply_op("fused_batch_norm", [x, scale, offset, mean, variance], name=name, epsilon=float(epsilon),
                   axis=int(axis), is_training=bool(is_training), bessel=bool(bessel))
    return out[:3]


# ------------------------------------------------------------------------------------------
# Dropout: y, mask = dropout(x); keep when uniform >= rate, scale by 1/(1-rate) (TF semantics)


def _dropout_shape(specs, rate, seed, noise_shape):
    expect_float(specs[0])
    if not 0 <= rate < 1:
        raise InvalidArgumentError(f"dropout rate must be in [0, 1), got {rate}")
    x = specs[0]
    ns = noise_shape if noise_shape is not None else x.shape
    if len(ns) != len(x.shape):
        raise ShapeError(f"noise_shape {list(ns)} does not have the rank of the input {fmt(x.shape)}")
    mshape = tuple(n if n is not None else None for n in ns)
    return [x, Spec(mshape, x.dtype)]


def _dropout_lower(b, node, x):
    a = node.attrs
    dt = node.inputs[0].dtype
    ns = a["noise_shape"]
    seed = onnx_seed(a["seed"])
    if ns is None:
        u = b.op("RandomUniformLike", [x], dtype=dt.onnx, **seed)
    else:
        xs = b.op("Shape", [x])
        parts = []
        for i, d in enumerate(ns):
            if d is None:
                parts.append(b.op("Slice", [xs, b.const(i64([i])), b.const(i64([i + 1]))]))
            else:
                parts.append(b.const(i64([d])))
        shp = b.op("Concat", parts, axis=0)
        zeros = b.op("ConstantOfShape", [shp], value=_scalar_tensor(np.zeros(1, dt.np)))
        u = b.op("RandomUniformLike", [zeros], dtype=dt.onnx, **seed)
    keep = b.op("Cast", [b.op("GreaterOrEqual", [u, b.const(np.array(a["rate"], dt.np))])], to=dt.onnx)
    mask = b.op("Mul", [keep, b.const(np.array(1.0 / (1.0 - a["rate"]), dt.np))])
    return [b.op("Mul", [x, mask]), mask]


def _scalar_tensor(arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(arr)


def _dropout_ref(x, rate, seed, noise_shape):
    rng = np.random.default_rng(seed)
    ns = x.shape if noise_shape is None else tuple(d if d is not None else x.shape[i]
                                                   for i, d in enumerate(noise_shape))
    mask = (rng.random(ns) >= rate).astype(x.dtype) / np.asarray(1.0 - rate, x.dtype)
    return (x * mask).astype(x.dtype), np.broadcast_to(mask, ns).astype(x.dtype)


register(OpDef("dropout", _dropout_shape, _dropout_lower, _dropout_ref, default_name="dropout",
               stateful=True))


def dropout(x, keep_prob=None, noise_shape=None, seed=None, name: Optional[str] = None, rate=None):
    """TF's tf.nn.dropout: keeps each value with probability 1-rate and scales it by 1/(1-rate)."""
    if rate is None:
        if keep_prob is None:
            raise InvalidArgumentError("dropout needs rate or keep_prob")
        rate = 1.0 - float(keep_prob)
    if float(rate) == 0.0:
        from .array_ops import identity

        return identity(x, name=name or "dropout")
    key = get_default_graph().unique_name(name or "dropout", mark_as_used=False)
    out = apply_op("dropout", [x], name=name, rate=float(rate), seed=get_seed(seed, key),
                   noise_shape=None if noise_shape is None else tuple(noise_shape))
    return out[0]



# ------------------------------------------------------------------------------------------
# VJPs (the backward ops they emit live in grad_ops.py)


def _hw_of(t, df):
    return tuple(nhwc(t.shape, df)[1:3])


def _conv_vjp(input_grad_op: str, filter_grad_op: str):
    """The VJP of a convolution whose dX and dW are the given backward ops (grad_ops.py)."""

    def vjp(node, grads):
        x, w = node.inputs
        a = node.attrs
        common = dict(strides=a["strides"], dilations=a["dilations"], padding=a["padding"],
                      data_format=a["data_format"])
        dx = apply_op(input_grad_op, [grads[0], w], input_hw=_hw_of(x, a["data_format"]), **common)
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


def _bias_add_vjp(node, grads):
    from .math_ops import reduce_sum

    x = node.inputs[0]
    g = grads[0]
    r = len(x.shape)
    cax = 1 if node.attrs["data_format"] == "NCHW" and r > 2 else r - 1
    return [g, reduce_sum(g, [i for i in range(r) if i != cax])]


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


def _softmax_vjp(node, grads):
    from .math_ops import mul, reduce_sum, sub

    y, g = node.outputs[0], grads[0]
    ax = node.attrs["axis"]
    return [mul(sub(g, reduce_sum(mul(g, y), [ax], keepdims=True)), y)]


def _log_softmax_vjp(node, grads):
    from .math_ops import exp, mul, reduce_sum, sub

    y, g = node.outputs[0], grads[0]
    ax = node.attrs["axis"]
    return [sub(g, mul(exp(y), reduce_sum(g, [ax], keepdims=True)))]


def _lrn_vjp(node, grads):
    return [apply_op("lrn_grad", [node.inputs[0], node.outputs[0], grads[0]], **node.attrs)]


def _bn_vjp(node, grads):
    """Gradients of y for x, scale and offset (the moving statistics get none). In training mode the forward's
    saved x_hat and inv_std are reused: dx = scale * inv_std * (g - mean(g) - x_hat * mean(g * x_hat))."""
    from .array_ops import constant, reshape
    from .math_ops import add, div, mul, reduce_sum, rsqrt, sub

    x, scale, offset, mean, var = node.inputs
    g = grads[0]
    if g is None:
        return [None] * 5
    a = node.attrs
    r = len(x.shape)
    ax = normalize_axis(a["axis"], r)
    axes = [i for i in range(r) if i != ax]
    bshape = [-1 if i == ax else 1 for i in range(r)]
    if a["is_training"]:
        xhat, inv = node.outputs[3], node.outputs[4]
        dbeta = reduce_sum(g, axes)
        dgamma = reduce_sum(mul(g, xhat), axes)
        known = [x.shape[i] for i in axes]
        n = (constant(float(np.prod(known)), dtype=x.dtype) if None not in known
             else apply_op("num_elements", [x], axes=tuple(axes), dtype=x.dtype))
        dx = mul(reshape(mul(scale, inv), bshape),
                 sub(sub(g, reshape(div(dbeta, n), bshape)), mul(xhat, reshape(div(dgamma, n), bshape))))
        return [dx, dgamma, dbeta, None, None]
    eps = constant(a["epsilon"], dtype=x.dtype)
    inv = rsqrt(add(var, eps))
    xhat = mul(sub(x, reshape(mean, bshape)), reshape(inv, bshape))
    dx = mul(g, reshape(mul(scale, inv), bshape))
    return [dx, reduce_sum(mul(g, xhat), axes), reduce_sum(g, axes), None, None]


def _dropout_vjp(node, grads):
    from .math_ops import mul

    return [mul(grads[0], node.outputs[1])]


def _attach_vjps():
    from .registry import get_op

    get_op("conv2d").vjp = _conv_vjp("conv2d_backprop_input", "conv2d_backprop_filter")
    get_op("depthwise_conv2d").vjp = _conv_vjp("depthwise_backprop_input", "depthwise_backprop_filter")
    get_op("conv2d_transpose").vjp = _convt_vjp
    get_op("bias_add").vjp = _bias_add_vjp
    get_op("max_pool").vjp = _max_pool_vjp
    get_op("avg_pool").vjp = _avg_pool_vjp
    get_op("softmax").vjp = _softmax_vjp
    get_op("log_softmax").vjp = _log_softmax_vjp
    get_op("lrn").vjp = _lrn_vjp
    get_op("fused_batch_norm").vjp = _bn_vjp
    get_op("dropout").vjp = _dropout_vjp


_attach_vjps()
