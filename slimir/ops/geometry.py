"""TF's convolution and pooling geometry shared by the conv and pool families: padding rules (SAME, VALID,
explicit pairs), output lengths, ONNX pads (static, auto_pad, or computed at run time), layout helpers, and
the numpy windows the references use."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from .lowering_utils import i64, to_nchw


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


def pad_attrs(pads):
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


def conv_input(b, node, x, pads, ks):
    """The NCHW input of an ONNX Conv and its padding attributes."""
    a = node.attrs
    x = to_nchw(b, x, a["data_format"])
    if pads == "runtime":
        x = same_pad_at_run_time(b, x, ks, a["strides"], a["dilations"], 0.0, node.inputs[0].dtype.np)
        return x, {"pads": [0, 0, 0, 0]}
    return x, pad_attrs(pads)


def np_pad_nhwc(x, pads, value=0.0):
    t, l, bo, r = pads
    return np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)), constant_values=value)


def to_nhwc_np(x, df):
    return x if df == "NHWC" else np.transpose(x, (0, 2, 3, 1))


def from_nhwc_np(x, df):
    return x if df == "NHWC" else np.transpose(x, (0, 3, 1, 2))


def ref_pads(x_nhwc, ks, strides, dils, padding):
    return onnx_pads(x_nhwc.shape[1:3], ks, strides, dils, padding)


def windows(xp, kh, kw, sh, sw, dh, dw, oh, ow):
    """Yield (i, j, view) for each kernel tap: the strided input window it multiplies."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw, :]



def in_shape(dy_shape, input_hw, channels, df):
    n = dy_shape[0]
    h, w = input_hw
    return (n, h, w, channels) if df == "NHWC" else (n, channels, h, w)


def static_pads(input_hw, ks, strides, dils, padding, what):
    if None in input_hw:
        raise ShapeError(f"{what} needs known spatial dimensions, got {list(input_hw)}")
    return onnx_pads(input_hw, ks, strides, dils, padding)


def hw_of(t, df) -> tuple:
    """(H, W) of a 4-D tensor in layout `df`."""
    return tuple(nhwc(t.shape, df)[1:3])


def convt_attrs(input_hw, out_hw, ks, strides, dils, pads):
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
