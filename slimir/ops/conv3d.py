"""3-D convolution and pooling (video networks: I3D, S3D-G): conv3d (weights [kd, kh, kw, in, out], as TF),
max_pool3d and avg_pool3d on NDHWC (or NCDHW) tensors with TF's SAME/VALID rules (geometry.py's, per axis),
and their backward ops (conv3d_backprop_input/filter, max_pool3d_grad, avg_pool3d_grad); each op's shape rule,
ONNX lowering, numpy reference, VJP and FLOPs in one place. The layout pass handles 4-D activations only, so
these ops have no `layout`: NCDHW is a data_format the user picks."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, expect_float, expect_rank, numel1, register, same_dtype
from ..shape import fmt
from .geometry import out_len, pads_for
from .lowering_utils import i64

FORMATS = ("NDHWC", "NCDHW")
_TO_NCDHW = [0, 4, 1, 2, 3]
_TO_NDHWC = [0, 2, 3, 4, 1]
_DHWIO_TO_OIDHW = [4, 3, 0, 1, 2]


def _check_format(df: str) -> str:
    if df not in FORMATS:
        raise InvalidArgumentError(f"data_format must be 'NDHWC' or 'NCDHW', got {df!r}")
    return df


def _ndhwc(shape, df):
    """(N, D, H, W, C) of a 5-D shape in either layout."""
    return tuple(shape) if df == "NDHWC" else (shape[0], shape[2], shape[3], shape[4], shape[1])


def _from_ndhwc(n, dhw, c, df):
    return (n, *dhw, c) if df == "NDHWC" else (n, c, *dhw)


def _out_lens(sizes, ks, strides, dils, padding, what: str) -> tuple:
    """(oD, oH, oW) under TF's padding rules (None where the input length is unknown)."""
    return tuple(out_len(size, k, s, d, padding, axis, what)
                 for axis, (size, k, s, d) in enumerate(zip(sizes, ks, strides, dils)))


def _pads(sizes, ks, strides, dils, padding):
    """([before...], [after...]) per spatial axis; SAME puts the extra cell after, as TF."""
    if padding == "VALID":
        return [0] * len(sizes), [0] * len(sizes)
    if any(s is None for s in sizes):
        raise ShapeError(f"SAME padding of a 3-D op needs the spatial sizes known when lowering, got {list(sizes)}")
    pairs = [pads_for(size, k, s, d, padding, axis) for axis, (size, k, s, d) in enumerate(zip(sizes, ks, strides,
                                                                                             dils))]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _check_geometry(strides, dilations, what):
    if len(strides) != 3 or len(dilations) != 3:
        raise InvalidArgumentError(f"{what}: strides and dilations need 3 values, got {list(strides)}, "
                                   f"{list(dilations)}")
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations):
        raise InvalidArgumentError(f"{what}: strides {list(strides)} and dilations {list(dilations)} must be positive")
    if max(strides) > 1 and max(dilations) > 1:
        raise InvalidArgumentError(f"{what}: strides > 1 together with dilation > 1 is not supported (as TF)")


def _to_ncdhw(b, x, df):
    return x if df == "NCDHW" else b.op("Transpose", [x], perm=_TO_NCDHW)


def _from_ncdhw(b, y, df):
    return y if df == "NCDHW" else b.op("Transpose", [y], perm=_TO_NDHWC)


def _np_ndhwc(x, df):
    return x if df == "NDHWC" else np.transpose(x, _TO_NDHWC)


def _np_from_ndhwc(x, df):
    return x if df == "NDHWC" else np.transpose(x, _TO_NCDHW)


def _taps(k):
    kd, kh, kw = k
    for i in range(kd):
        for j in range(kh):
            for m in range(kw):
                yield i, j, m


def _window(xp, tap, strides, dils, out):
    """The strided input window a kernel tap multiplies: [N, oD, oH, oW, C] of the padded NDHWC input."""
    sl = [slice(None)]
    for t, s, d, o in zip(tap, strides, dils, out):
        sl.append(slice(t * d, t * d + (o - 1) * s + 1, s))
    sl.append(slice(None))
    return xp[tuple(sl)]


# ------------------------------------------------------------------------------------------
# conv3d


def _conv3d_shape(specs, strides, dilations, padding, data_format):
    x, w = specs
    expect_rank(x, 5, "input")
    expect_rank(w, 5, "filter")
    expect_float(x)
    same_dtype(specs)
    _check_format(data_format)
    _check_geometry(strides, dilations, "conv3d")
    n, d, h, wd, c = _ndhwc(x.shape, data_format)
    kd, kh, kw, ci, co = w.shape
    if c is not None and ci is not None and c != ci:
        raise ShapeError(f"input has {c} channels but the filter {fmt(w.shape)} expects {ci}")
    out = _out_lens((d, h, wd), (kd, kh, kw), strides, dilations, padding, "conv3d")
    return [Spec(_from_ndhwc(n, out, co, data_format), x.dtype)]


def _conv3d_lower(b, node, x, w):
    a = node.attrs
    df = a["data_format"]
    k = tuple(node.inputs[1].shape[:3])
    sizes = _ndhwc(node.inputs[0].shape, df)[1:4]
    before, after = _pads(sizes, k, a["strides"], a["dilations"], a["padding"])
    wt = b.op("Transpose", [w], perm=_DHWIO_TO_OIDHW)
    y = b.op("Conv", [_to_ncdhw(b, x, df), wt], kernel_shape=list(k), strides=list(a["strides"]),
             dilations=list(a["dilations"]), pads=before + after)
    return _from_ncdhw(b, y, df)


def conv3d_reference(x, w, strides, dilations, padding, data_format):
    """numpy conv3d (TF semantics), float64 accumulation."""
    xn = _np_ndhwc(x, data_format).astype(np.float64)
    k = w.shape[:3]
    before, after = _pads(xn.shape[1:4], k, strides, dilations, padding)
    xp = np.pad(xn, [(0, 0)] + list(zip(before, after)) + [(0, 0)])
    out = [(xp.shape[1 + i] - ((k[i] - 1) * dilations[i] + 1)) // strides[i] + 1 for i in range(3)]
    y = np.zeros((xn.shape[0], *out, w.shape[4]))
    for tap in _taps(k):
        y += _window(xp, tap, strides, dilations, out) @ w[tap].astype(np.float64)
    return _np_from_ndhwc(y, data_format).astype(x.dtype)


def _conv3d_flops(node):
    kd, kh, kw, ci, _ = node.inputs[1].shape
    return 2 * kd * kh * kw * ci * numel1(node.outputs[0].shape)


def _conv3d_vjp(node, grads):
    x, w = node.inputs
    a = node.attrs
    common = {k: a[k] for k in ("strides", "dilations", "padding", "data_format")}
    input_dhw = _ndhwc(x.shape, a["data_format"])[1:4]
    if any(s is None for s in input_dhw):
        raise ShapeError(f"{node.name}: the conv3d gradient needs the input's spatial sizes known, got "
                         f"{fmt(x.shape)}")
    dx = apply_op("conv3d_backprop_input", [grads[0], w], input_dhw=tuple(input_dhw), **common)
    dw = apply_op("conv3d_backprop_filter", [x, grads[0]], filter_shape=tuple(w.shape), **common)
    return [dx, dw]


register(OpDef("conv3d", _conv3d_shape, _conv3d_lower, conv3d_reference, default_name="Conv3D",
               flops=_conv3d_flops, vjp=_conv3d_vjp))


def conv3d(input, filters, strides, padding, data_format: str = "NDHWC", dilations=None,
           name: str | None = None) -> Tensor:
    """TF's tf.nn.conv3d: strides and dilations as 3 (D, H, W) or 5 values (default dilations 1), filters
    [kd, kh, kw, in, out]."""
    df = _check_format(data_format)
    strides, dilations = _spatial(strides, df, "strides"), _spatial(dilations, df, "dilations")
    return apply_op("conv3d", [input, filters], name=name, strides=strides, dilations=dilations,
                    padding=_padding(padding), data_format=df)


def _spatial(values, df, what) -> tuple:
    """(D, H, W) of `values`: one int, 3 ints, or TF's 5 (the batch and channel entries must be 1)."""
    if values is None and what == "dilations":
        return (1, 1, 1)
    try:
        values = [int(v) for v in (values if isinstance(values, (list, tuple)) else [values] * 3)]
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{what} needs 3 or 5 ints, got {values!r}") from None
    if len(values) == 5:
        outer = (values[0], values[4]) if df == "NDHWC" else (values[0], values[1])
        if outer != (1, 1):
            raise InvalidArgumentError(f"{what} {values}: the batch and channel entries must be 1 (as TF)")
        values = values[1:4] if df == "NDHWC" else values[2:5]
    if len(values) != 3:
        raise InvalidArgumentError(f"{what} needs 3 or 5 values, got {values}")
    return tuple(values)


def _padding(padding) -> str:
    if not isinstance(padding, str) or padding.upper() not in ("SAME", "VALID"):
        raise InvalidArgumentError(f"padding must be 'SAME' or 'VALID', got {padding!r}")
    return padding.upper()


# -- dX: a transposed convolution that maps the gradient back onto the input exactly


def _bpi_shape(specs, strides, dilations, padding, data_format, input_dhw):
    dy, w = specs
    n = dy.shape[0]
    return [Spec(_from_ndhwc(n, tuple(input_dhw), w.shape[3], data_format), dy.dtype)]


def _bpi_lower(b, node, dy, w):
    a = node.attrs
    df = a["data_format"]
    k = tuple(node.inputs[1].shape[:3])
    before, after = _pads(a["input_dhw"], k, a["strides"], a["dilations"], a["padding"])
    out = _ndhwc(node.inputs[0].shape, df)[1:4]
    extra = []
    for size, o, kk, s, d, pb, pa in zip(a["input_dhw"], out, k, a["strides"], a["dilations"], before, after):
        extra.append(size - (s * (o - 1) + (kk - 1) * d + 1 - pb - pa))
    attrs = {"kernel_shape": list(k), "strides": list(a["strides"]), "dilations": list(a["dilations"]),
                 "pads": before + after}
    if any(extra):
        attrs["output_padding"] = extra
    wt = b.op("Transpose", [w], perm=_DHWIO_TO_OIDHW)
    return _from_ncdhw(b, b.op("ConvTranspose", [_to_ncdhw(b, dy, df), wt], **attrs), df)


def conv3d_backprop_input_reference(dy, w, strides, dilations, padding, data_format, input_dhw):
    d = _np_ndhwc(dy, data_format).astype(np.float64)
    k = w.shape[:3]
    before, after = _pads(input_dhw, k, strides, dilations, padding)
    xp = np.zeros((d.shape[0], *[s + pb + pa for s, pb, pa in zip(input_dhw, before, after)], w.shape[3]))
    out = d.shape[1:4]
    for tap in _taps(k):
        _window(xp, tap, strides, dilations, out)[...] += d @ w[tap].astype(np.float64).T
    sl = tuple([slice(None)] + [slice(pb, pb + s) for pb, s in zip(before, input_dhw)] + [slice(None)])
    return _np_from_ndhwc(xp[sl], data_format).astype(dy.dtype)


register(OpDef("conv3d_backprop_input", _bpi_shape, _bpi_lower, conv3d_backprop_input_reference,
               default_name="Conv3DBackpropInput", differentiable=False,
               flops=lambda node: 2 * numel1(node.inputs[0].shape) * int(np.prod(node.inputs[1].shape[:4]))))


# -- dW: one convolution of the input (channels as batch) with the gradient (batch as channels) as the kernel,
#    dilated by the forward strides; the first kd x kh x kw outputs are the filter gradient


def _bpf_shape(specs, strides, dilations, padding, data_format, filter_shape):
    return [Spec(tuple(filter_shape), specs[0].dtype)]


def _bpf_lower(b, node, x, dy):
    a = node.attrs
    df = a["data_format"]
    k = tuple(a["filter_shape"][:3])
    sizes = _ndhwc(node.inputs[0].shape, df)[1:4]
    before, after = _pads(sizes, k, a["strides"], a["dilations"], a["padding"])
    out = _ndhwc(node.inputs[1].shape, df)[1:4]
    if any(o is None for o in out):
        raise ShapeError(f"{node.name}: the filter gradient needs the output's spatial sizes known, got {list(out)}")
    to_cn = [4, 0, 1, 2, 3] if df == "NDHWC" else [1, 0, 2, 3, 4]
    xc = b.op("Transpose", [x], perm=to_cn)  # [Ci, N, D, H, W]
    gc = b.op("Transpose", [dy], perm=to_cn)  # [Co, N, oD, oH, oW]: Co kernels over N channels
    g = b.op("Conv", [xc, gc], kernel_shape=list(out), strides=list(a["dilations"]), dilations=list(a["strides"]),
             pads=before + after)  # [Ci, Co, >=kd, >=kh, >=kw]
    g = b.op("Slice", [g, b.const(i64([0, 0, 0])), b.const(i64(list(k))), b.const(i64([2, 3, 4]))])
    return b.op("Transpose", [g], perm=[2, 3, 4, 0, 1])


def conv3d_backprop_filter_reference(x, dy, strides, dilations, padding, data_format, filter_shape):
    xn = _np_ndhwc(x, data_format).astype(np.float64)
    d = _np_ndhwc(dy, data_format).astype(np.float64)
    k = tuple(filter_shape[:3])
    before, after = _pads(xn.shape[1:4], k, strides, dilations, padding)
    xp = np.pad(xn, [(0, 0)] + list(zip(before, after)) + [(0, 0)])
    out = np.zeros(filter_shape)
    for tap in _taps(k):
        out[tap] = np.einsum("ndhwc,ndhwo->co", _window(xp, tap, strides, dilations, d.shape[1:4]), d)
    return out.astype(x.dtype)


register(OpDef("conv3d_backprop_filter", _bpf_shape, _bpf_lower, conv3d_backprop_filter_reference,
               default_name="Conv3DBackpropFilter", differentiable=False,
               flops=lambda node: 2 * int(np.prod(node.attrs["filter_shape"][:4])) * numel1(node.inputs[1].shape)))


# ------------------------------------------------------------------------------------------
# max_pool3d / avg_pool3d


def _pool3d_shape(specs, ksize, strides, padding, data_format, what):
    x = specs[0]
    expect_rank(x, 5, "input")
    _check_format(data_format)
    if len(ksize) != 3 or len(strides) != 3 or any(k <= 0 for k in ksize) or any(s <= 0 for s in strides):
        raise InvalidArgumentError(f"kernel_size {list(ksize)} and stride {list(strides)} need 3 positive values")
    n, d, h, w, c = _ndhwc(x.shape, data_format)
    out = _out_lens((d, h, w), ksize, strides, (1, 1, 1), padding, what)
    return [Spec(_from_ndhwc(n, out, c, data_format), x.dtype)]


def _pool3d_lower(onnx_op):
    def low(b, node, x):
        a = node.attrs
        df = a["data_format"]
        before, after = _pads(_ndhwc(node.inputs[0].shape, df)[1:4], a["ksize"], a["strides"], (1, 1, 1),
                              a["padding"])
        extra = {"count_include_pad": 0} if onnx_op == "AveragePool" else {}
        y = b.op(onnx_op, [_to_ncdhw(b, x, df)], kernel_shape=list(a["ksize"]), strides=list(a["strides"]),
                 pads=before + after, **extra)
        return _from_ncdhw(b, y, df)

    return low


def _pool3d_windows(x, ksize, strides, padding, fill):
    xn = x.astype(np.float64)
    before, after = _pads(xn.shape[1:4], ksize, strides, (1, 1, 1), padding)
    xp = np.pad(xn, [(0, 0)] + list(zip(before, after)) + [(0, 0)], constant_values=fill)
    ones = np.pad(np.ones_like(xn[..., :1]), [(0, 0)] + list(zip(before, after)) + [(0, 0)])
    out = [(xp.shape[1 + i] - ksize[i]) // strides[i] + 1 for i in range(3)]
    wins = [_window(xp, tap, strides, (1, 1, 1), out) for tap in _taps(ksize)]
    counts = sum(_window(ones, tap, strides, (1, 1, 1), out) for tap in _taps(ksize))
    return wins, counts


def _pool3d_ref(kind):
    def ref(x, ksize, strides, padding, data_format):
        wins, counts = _pool3d_windows(_np_ndhwc(x, data_format), ksize, strides, padding,
                                       -np.inf if kind == "max" else 0.0)
        y = np.max(np.stack(wins), axis=0) if kind == "max" else sum(wins) / counts
        return _np_from_ndhwc(y, data_format).astype(x.dtype)

    return ref


def _pool3d_flops(node):
    return numel1(node.outputs[0].shape) * int(np.prod(node.attrs["ksize"]))


def _max_pool3d_vjp(node, grads):
    return [apply_op("max_pool3d_grad", [node.inputs[0], grads[0]], **node.attrs)]


def _avg_pool3d_vjp(node, grads):
    return [apply_op("avg_pool3d_grad", [grads[0]], input_shape=tuple(node.inputs[0].shape), **node.attrs)]


register(OpDef("max_pool3d", lambda specs, **a: _pool3d_shape(specs, what="max_pool3d", **a),
               _pool3d_lower("MaxPool"), _pool3d_ref("max"), default_name="MaxPool3D", flops=_pool3d_flops,
               vjp=_max_pool3d_vjp))
register(OpDef("avg_pool3d", lambda specs, **a: _pool3d_shape(specs, what="avg_pool3d", **a),
               _pool3d_lower("AveragePool"), _pool3d_ref("avg"), default_name="AvgPool3D", flops=_pool3d_flops,
               vjp=_avg_pool3d_vjp))


def _pool_args(ksize, strides, padding, data_format):
    df = _check_format(data_format)
    return {"ksize": _spatial(ksize, df, "ksize"), "strides": _spatial(strides, df, "strides"),
                "padding": _padding(padding), "data_format": df}


def max_pool3d(input, ksize, strides, padding, data_format: str = "NDHWC", name: str | None = None) -> Tensor:
    """TF's tf.nn.max_pool3d (ksize and strides as 3 or 5 values)."""
    return apply_op("max_pool3d", [input], name=name, **_pool_args(ksize, strides, padding, data_format))


def avg_pool3d(input, ksize, strides, padding, data_format: str = "NDHWC", name: str | None = None) -> Tensor:
    """TF's tf.nn.avg_pool3d: SAME padding excludes the padded cells from the average."""
    return apply_op("avg_pool3d", [input], name=name, **_pool_args(ksize, strides, padding, data_format))


# -- max pool gradient: the pooled maximum's flat index (ONNX MaxPool's Indices), the gradient scattered there


def _max_pool3d_grad_lower(b, node, x, dy):
    a = node.attrs
    df = a["data_format"]
    before, after = _pads(_ndhwc(node.inputs[0].shape, df)[1:4], a["ksize"], a["strides"], (1, 1, 1), a["padding"])
    xc = _to_ncdhw(b, x, df)
    _, idx = b.op("MaxPool", [xc], kernel_shape=list(a["ksize"]), strides=list(a["strides"]), pads=before + after,
                  outputs=2)
    flat = b.const(i64([-1]))
    dyc = b.op("Reshape", [_to_ncdhw(b, dy, df), flat])
    zeros = b.op("Mul", [b.op("Reshape", [xc, flat]), b.const(np.array(0, node.inputs[0].dtype.np))])
    dx = b.op("ScatterElements", [zeros, b.op("Reshape", [idx, flat]), dyc], axis=0, reduction="add")
    return _from_ncdhw(b, b.op("Reshape", [dx, b.op("Shape", [xc])]), df)


def max_pool3d_grad_reference(x, dy, ksize, strides, padding, data_format):
    """The gradient goes to the first maximum of each window (ONNX's and TF's choice)."""
    xn = _np_ndhwc(x, data_format).astype(np.float64)
    d = _np_ndhwc(dy, data_format).astype(np.float64)
    before, after = _pads(xn.shape[1:4], ksize, strides, (1, 1, 1), padding)
    xp = np.pad(xn, [(0, 0)] + list(zip(before, after)) + [(0, 0)], constant_values=-np.inf)
    gp = np.zeros_like(xp)
    out = d.shape[1:4]
    wins = np.stack([_window(xp, tap, strides, (1, 1, 1), out) for tap in _taps(ksize)])
    first = np.argmax(wins, axis=0)
    for t, tap in enumerate(_taps(ksize)):
        _window(gp, tap, strides, (1, 1, 1), out)[...] += np.where(first == t, d, 0.0)
    sl = tuple([slice(None)] + [slice(pb, pb + s) for pb, s in zip(before, xn.shape[1:4])] + [slice(None)])
    return _np_from_ndhwc(gp[sl], data_format).astype(x.dtype)


register(OpDef("max_pool3d_grad", lambda specs, **a: [specs[0]], _max_pool3d_grad_lower, max_pool3d_grad_reference,
               default_name="MaxPool3DGrad", differentiable=False,
               flops=lambda node: 2 * numel1(node.inputs[1].shape) * int(np.prod(node.attrs["ksize"]))))


# -- avg pool gradient: each output's gradient divided by its count of real cells, spread back over its window
#    (a transposed convolution with a ones kernel per channel)


def _avg_pool3d_grad_shape(specs, ksize, strides, padding, data_format, input_shape):
    return [Spec(tuple(input_shape), specs[0].dtype)]


def _avg_counts(sizes, ksize, strides, padding):
    _, counts = _pool3d_windows(np.zeros((1, *sizes, 1)), ksize, strides, padding, 0.0)
    return counts[0, ..., 0]


def _avg_pool3d_grad_lower(b, node, dy):
    a = node.attrs
    df = a["data_format"]
    _n, *sizes, c = _ndhwc(a["input_shape"], df)
    if any(s is None for s in sizes) or c is None:
        raise ShapeError(f"{node.name}: the avg_pool3d gradient needs the input's spatial sizes and channels "
                         f"known, got {fmt(a['input_shape'])}")
    before, after = _pads(sizes, a["ksize"], a["strides"], (1, 1, 1), a["padding"])
    dt = node.inputs[0].dtype.np
    counts = _avg_counts(sizes, a["ksize"], a["strides"], a["padding"]).astype(dt)
    g = b.op("Div", [_to_ncdhw(b, dy, df), b.const(counts[None, None])])
    out = counts.shape
    extra = [s - (st * (o - 1) + k - pb - pa) for s, o, k, st, pb, pa in zip(sizes, out, a["ksize"], a["strides"],
                                                                               before, after)]
    attrs = {"kernel_shape": list(a["ksize"]), "strides": list(a["strides"]), "pads": before + after, "group": c}
    if any(extra):
        attrs["output_padding"] = extra
    ones = b.const(np.ones((c, 1, *a["ksize"]), dt))
    return _from_ncdhw(b, b.op("ConvTranspose", [g, ones], **attrs), df)


def avg_pool3d_grad_reference(dy, ksize, strides, padding, data_format, input_shape):
    d = _np_ndhwc(dy, data_format).astype(np.float64)
    _n, *sizes, c = _ndhwc(input_shape, data_format)
    before, after = _pads(sizes, ksize, strides, (1, 1, 1), padding)
    counts = _avg_counts(sizes, ksize, strides, padding)[None, ..., None]
    gp = np.zeros((d.shape[0], *[s + pb + pa for s, pb, pa in zip(sizes, before, after)], c))
    for tap in _taps(ksize):
        _window(gp, tap, strides, (1, 1, 1), d.shape[1:4])[...] += d / counts
    sl = tuple([slice(None)] + [slice(pb, pb + s) for pb, s in zip(before, sizes)] + [slice(None)])
    return _np_from_ndhwc(gp[sl], data_format).astype(dy.dtype)


register(OpDef("avg_pool3d_grad", _avg_pool3d_grad_shape, _avg_pool3d_grad_lower, avg_pool3d_grad_reference,
               default_name="AvgPool3DGrad", differentiable=False,
               flops=lambda node: 2 * numel1(node.inputs[0].shape) * int(np.prod(node.attrs["ksize"]))))
