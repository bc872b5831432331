"""Image resizing with TensorFlow's exact sampling rules: one `resize` op (bilinear, nearest, bicubic, area) and its
gradient, plus TF's front ends (tf.image.resize v1/v2, resize_images, resize_bilinear, resize_nearest_neighbor, ...).

TF's kernels (tensorflow/core/kernels/image/resize_*_op.cc) compute, per output row/column, float32 source
coordinates from a scale (in/out, or (in-1)/(out-1) with align_corners) and then:
  bilinear  lower = max(floor(c), 0), upper = min(ceil(c), in-1), lerp = c - floor(c); c = o*scale (legacy) or
            (o+0.5)*scale-0.5 (half_pixel_centers)
  nearest   min(floor(o*scale) or floor((o+0.5)*scale) (half pixel) or roundf(o*scale) (align_corners), in-1)
  bicubic   4 taps, weights from a 1025-entry table of Keys' kernel (a=-0.75 legacy; a=-0.5 with half-pixel
            centers, where taps outside the image get weight 0 and the rest are renormalised)
  area      box filter: each output cell averages the input cells it covers, partial cells weighted by coverage
The numpy reference and the lowering below follow those rules. Bilinear lowers to ONNX Resize (linear; its
coordinate modes half_pixel/align_corners/asymmetric are TF's and its values agree to float rounding). Nearest,
bicubic and area lower to per-axis Gathers with TF's own indices and weights (Resize rounds some exact-integer
coordinates the other way for nearest, and has no TF weight table for bicubic nor a box filter for area).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import dtypes as _dt
from ..errors import DTypeError, InvalidArgumentError, ShapeError
from ..ir.graph import Tensor, name_scope
from ..ir.registry import OpDef, Spec, apply_op, convert_to_tensor, numel1, register
from ..shape import fmt
from .array import cast, concat, constant, expand_dims, reshape, squeeze
from .lowering_utils import i64
from .static import constant_value

METHODS = ("bilinear", "nearest", "bicubic", "area")
_DEFAULT_NAMES = {"bilinear": "ResizeBilinear", "nearest": "ResizeNearestNeighbor", "bicubic": "ResizeBicubic",
                  "area": "ResizeArea"}
_F32 = np.float32
_TABLE_SIZE = 1024
_FLOAT, _INT64 = 1, 7  # ONNX TensorProto element types


# ------------------------------------------------------------------------------------------
# TF's per-axis sampling rules in numpy (float32 arithmetic as in the kernels)


def resize_scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    """TF's CalculateResizeScale."""
    if align_corners and out_size > 1:
        return _F32(in_size - 1) / _F32(out_size - 1)
    return _F32(in_size) / _F32(out_size)


def _coords(in_size, out_size, align_corners, half_pixel, nn: bool = False) -> np.ndarray:
    s = resize_scale(in_size, out_size, align_corners)
    o = np.arange(out_size, dtype=_F32)
    if not half_pixel:
        return o * s
    return (o + _F32(0.5)) * s if nn else (o + _F32(0.5)) * s - _F32(0.5)


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """The source index of each output position (TF's ResizeNearestNeighbor)."""
    v = _coords(in_size, out_size, align_corners, half_pixel, nn=True)
    k = np.floor(v)
    if align_corners:  # roundf: halves away from zero (v >= 0 here)
        k = k + (v - k >= _F32(0.5))
    k = np.minimum(k.astype(np.int64), in_size - 1)
    return np.maximum(k, 0) if half_pixel else k


def bilinear_taps(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """(lower, upper, lerp) per output position (TF's compute_interpolation_weights)."""
    v = _coords(in_size, out_size, align_corners, half_pixel)
    f = np.floor(v)
    lower = np.maximum(f.astype(np.int64), 0)
    upper = np.minimum(np.ceil(v).astype(np.int64), in_size - 1)
    return lower, upper, (v - f).astype(_F32)


def _cubic_table(a: float) -> np.ndarray:
    """TF's InitCoeffsTable: [1025, 2] float32 weights of Keys' cubic kernel at distance i/1024 and 1 + i/1024."""
    out = np.empty((_TABLE_SIZE + 1, 2), _F32)
    for i in range(_TABLE_SIZE + 1):
        x = float(_F32(i * 1.0 / _TABLE_SIZE))
        out[i, 0] = ((a + 2) * x - (a + 3)) * x * x + 1
        x = float(_F32(x + 1.0))
        out[i, 1] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return out


_TABLES = {True: _cubic_table(-0.5), False: _cubic_table(-0.75)}


def bicubic_taps(in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """([4, out] indices, [4, out] float32 weights) per TF's GetWeightsAndIndices."""
    v = _coords(in_size, out_size, align_corners, half_pixel)
    loc = np.floor(v).astype(np.int64)
    delta = v - loc.astype(_F32)
    off = np.rint(delta * _F32(_TABLE_SIZE)).astype(np.int64)  # lrintf: halves to even
    t = _TABLES[half_pixel]
    w = np.stack([t[off, 1], t[off, 0], t[_TABLE_SIZE - off, 0], t[_TABLE_SIZE - off, 1]]).astype(_F32)
    raw = np.stack([loc - 1, loc, loc + 1, loc + 2])
    idx = np.clip(raw, 0, in_size - 1)
    if half_pixel:  # Keys: taps outside the image get weight 0, the rest renormalised
        w = np.where(idx == raw, w, _F32(0))
        total = ((w[0] + w[1]) + w[2]) + w[3]
        ok = np.abs(total) >= _F32(1000) * np.finfo(_F32).tiny
        inv = np.where(ok, _F32(1) / np.where(ok, total, _F32(1)), _F32(1))
        w = np.where(ok, w * inv, w).astype(_F32)
    return idx, w


def area_taps(in_size: int, out_size: int, align_corners: bool):
    """([K, out] indices, [K, out] float32 coverages) per TF's ResizeAreaOp (K: most cells an output covers)."""
    s = resize_scale(in_size, out_size, align_corners)
    rows = []
    for o in range(out_size):
        a, b = _F32(o) * s, _F32(o + 1) * s
        taps = []
        for i in range(int(np.floor(a)), int(np.ceil(b))):
            if i < a:
                c = s if i + 1 > b else _F32(i + 1) - a
            else:
                c = b - _F32(i) if i + 1 > b else _F32(1.0)
            taps.append((min(max(i, 0), in_size - 1), _F32(c)))
        rows.append(taps)
    k = max(len(r) for r in rows)
    idx = np.zeros((k, out_size), np.int64)
    w = np.zeros((k, out_size), _F32)
    for o, taps in enumerate(rows):
        for j, (i, c) in enumerate(taps):
            idx[j, o], w[j, o] = i, c
    return idx, w


def area_norm(h_in: int, w_in: int, h_out: int, w_out: int, align_corners: bool) -> np.float32:
    """TF's final area factor 1 / (height_scale * width_scale) (computed in double, stored as float)."""
    return _F32(1.0 / float(resize_scale(h_in, h_out, align_corners) * resize_scale(w_in, w_out, align_corners)))


def axis_taps(method: str, in_size: int, out_size: int, align_corners: bool, half_pixel: bool):
    """The taps of one axis as ([K, out] indices, [K, out] float32 weights), whatever the method."""
    if method == "nearest":
        return nearest_indices(in_size, out_size, align_corners, half_pixel)[None], np.ones((1, out_size), _F32)
    if method == "bilinear":
        lo, up, lerp = bilinear_taps(in_size, out_size, align_corners, half_pixel)
        return np.stack([lo, up]), np.stack([_F32(1) - lerp, lerp])
    if method == "bicubic":
        return bicubic_taps(in_size, out_size, align_corners, half_pixel)
    return area_taps(in_size, out_size, align_corners)


def axis_matrix(method: str, in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """The [out, in] float64 matrix of one axis' linear map (repeated taps summed)."""
    idx, w = axis_taps(method, in_size, out_size, align_corners, half_pixel)
    m = np.zeros((out_size, in_size))
    for k in range(idx.shape[0]):
        np.add.at(m, (np.arange(out_size), idx[k]), w[k].astype(np.float64))
    return m


def _apply_taps_np(x: np.ndarray, axis: int, idx: np.ndarray, w: np.ndarray) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = -1
    acc = None
    for k in range(idx.shape[0]):
        term = np.take(x, idx[k], axis=axis) * w[k].astype(x.dtype).reshape(shape)
        acc = term if acc is None else acc + term
    return acc


def resize_reference(x: np.ndarray, size, method: str, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """numpy TF semantics of the resize op on an NHWC array (x float for all methods but nearest)."""
    _, h, w, _ = x.shape
    oh, ow = (int(s) for s in size)
    ac, hp = align_corners, half_pixel_centers
    if method == "nearest":
        return x[:, nearest_indices(h, oh, ac, hp)][:, :, nearest_indices(w, ow, ac, hp)]
    if method == "bilinear":  # TF's compute_lerp: top + (bottom - top) * y_lerp on x-lerped rows
        ylo, yup, yl = bilinear_taps(h, oh, ac, hp)
        xlo, xup, xl = bilinear_taps(w, ow, ac, hp)
        dt = x.dtype.type
        xl = xl.astype(x.dtype)[None, None, :, None]
        yl = yl.astype(x.dtype)[None, :, None, None]
        top = x[:, ylo][:, :, xlo] + (x[:, ylo][:, :, xup] - x[:, ylo][:, :, xlo]) * xl
        bottom = x[:, yup][:, :, xlo] + (x[:, yup][:, :, xup] - x[:, yup][:, :, xlo]) * xl
        return (top + (bottom - top) * yl).astype(dt)
    if method == "bicubic":  # rows first, then columns
        y = _apply_taps_np(x, 1, *bicubic_taps(h, oh, ac, hp))
        return _apply_taps_np(y, 2, *bicubic_taps(w, ow, ac, hp)).astype(x.dtype)
    y = _apply_taps_np(x, 2, *area_taps(w, ow, ac))  # area: columns first, then rows, then the 1/scale factor
    y = _apply_taps_np(y, 1, *area_taps(h, oh, ac))
    return (y * area_norm(h, w, oh, ow, ac).astype(x.dtype)).astype(x.dtype)


# ------------------------------------------------------------------------------------------
# The op: resize(images [N, H, W, C], size) -> [N, out_h, out_w, C]


def _check_attrs(method, align_corners, half_pixel_centers):
    if method not in METHODS:
        raise InvalidArgumentError(f"resize: unknown method {method!r}; slimir has {', '.join(METHODS)}")
    if half_pixel_centers and align_corners:
        raise InvalidArgumentError("If half_pixel_centers is True, align_corners must be False.")
    if method == "area" and half_pixel_centers:
        raise InvalidArgumentError("resize_area has no half_pixel_centers")


def _resize_shape(specs, method, size, align_corners, half_pixel_centers):
    _check_attrs(method, align_corners, half_pixel_centers)
    x = specs[0]
    if len(x.shape) != 4:
        raise ShapeError(f"expects images of rank 4 [batch, height, width, channels], got {fmt(x.shape)}")
    if method != "nearest" and not x.dtype.is_floating:
        raise DTypeError(f"{method} resizing computes in floating point; cast the {x.dtype.name} images first")
    if x.dtype.is_bool:
        raise DTypeError("cannot resize bool images")
    if len(specs) == 2:
        s = specs[1]
        if tuple(s.shape) != (2,) or not s.dtype.is_integer:
            raise ShapeError(f"size must be an integer tensor of shape [2], got {s.dtype.name} {fmt(s.shape)}")
        if method == "area":
            raise InvalidArgumentError("resize_area needs a static size (a list of 2 ints) in slimir")
        out = (None, None)
    else:
        out = tuple(size)
        if len(out) != 2 or any(int(d) <= 0 for d in out):
            raise InvalidArgumentError(f"size must be 2 positive ints [new_height, new_width], got {list(out)}")
    if method == "area" and (x.shape[1] is None or x.shape[2] is None):
        raise ShapeError(f"resize_area needs images of known height and width in slimir, got {fmt(x.shape)}")
    if method == "area" and align_corners and 1 in (x.shape[1], x.shape[2]) and max(out) > 1:
        raise InvalidArgumentError(f"resize_area with align_corners=True has no input cells to average for images "
                                   f"{fmt(x.shape)} (TF returns NaN); use align_corners=False")
    return [Spec((x.shape[0], out[0], out[1], x.shape[3]), x.dtype)]


def _resize_ref(x, *size_in, method, size, align_corners, half_pixel_centers):
    sz = size_in[0] if size_in else size
    return resize_reference(x, sz, method, align_corners, half_pixel_centers)


# ---- lowering


def _dims(b, x: str, size_input: Optional[str], node):
    """(in_h, in_w, out_h, out_w): Python ints where static, else int64 scalar ONNX names."""
    xs = node.inputs[0].shape
    shp = None

    def dim(i):
        nonlocal shp
        if xs[i] is not None:
            return int(xs[i])
        if shp is None:
            shp = b.op("Shape", [x])
        return b.op("Squeeze", [b.op("Gather", [shp, b.const(i64([i]))]), b.const(i64([0]))])

    ih, iw = dim(1), dim(2)
    if size_input is None:
        oh, ow = (int(s) for s in node.attrs["size"])
    else:
        s64 = b.op("Cast", [size_input], to=_INT64)
        oh, ow = (b.op("Squeeze", [b.op("Gather", [s64, b.const(i64([i]))]), b.const(i64([0]))]) for i in (0, 1))
    return ih, iw, oh, ow


def _scalar(b, v) -> str:
    return b.const(np.array(v, np.int64)) if isinstance(v, int) else v


def _graph_coords(b, in_len, out_len, ac: bool, hp: bool, nn: bool):
    """TF's float32 source coordinates computed in the graph (for run-time sizes)."""
    fi = b.op("Cast", [_scalar(b, in_len)], to=_FLOAT)
    fo = b.op("Cast", [_scalar(b, out_len)], to=_FLOAT)
    scale = b.op("Div", [fi, fo])
    if ac:
        one = b.const(np.array(1, np.int64))
        fi1 = b.op("Cast", [b.op("Sub", [_scalar(b, in_len), one])], to=_FLOAT)
        fo1 = b.op("Cast", [b.op("Sub", [_scalar(b, out_len), one])], to=_FLOAT)
        scale = b.op("Where", [b.op("Greater", [_scalar(b, out_len), one]), b.op("Div", [fi1, fo1]), scale])
    r = b.op("Range", [b.const(np.array(0, np.int64)), _scalar(b, out_len), b.const(np.array(1, np.int64))])
    r = b.op("Cast", [r], to=_FLOAT)
    if not hp:
        return b.op("Mul", [r, scale])
    v = b.op("Mul", [b.op("Add", [r, b.const(np.array(0.5, _F32))]), scale])
    return v if nn else b.op("Sub", [v, b.const(np.array(0.5, _F32))])


def _graph_clip(b, k: str, in_len, lo: bool = True) -> str:
    hi = b.op("Sub", [_scalar(b, in_len), b.const(np.array(1, np.int64))])
    k = b.op("Min", [k, hi])
    return b.op("Max", [k, b.const(np.array(0, np.int64))]) if lo else k


def _nearest_taps(b, in_len, out_len, ac, hp):
    if isinstance(in_len, int) and isinstance(out_len, int):
        return [(b.const(nearest_indices(in_len, out_len, ac, hp)), None)]
    v = _graph_coords(b, in_len, out_len, ac, hp, nn=True)
    k = b.op("Floor", [v])
    if ac:
        k = b.op("Add", [k, b.op("Cast", [b.op("GreaterOrEqual", [b.op("Sub", [v, k]),
                                                                  b.const(np.array(0.5, _F32))])], to=_FLOAT)])
    return [(_graph_clip(b, b.op("Cast", [k], to=_INT64), in_len, lo=hp), None)]


def _bicubic_taps(b, in_len, out_len, ac, hp):
    if isinstance(in_len, int) and isinstance(out_len, int):
        idx, w = bicubic_taps(in_len, out_len, ac, hp)
        return [(b.const(idx[k]), b.const(w[k])) for k in range(4)]
    v = _graph_coords(b, in_len, out_len, ac, hp, nn=False)
    fl = b.op("Floor", [v])
    loc = b.op("Cast", [fl], to=_INT64)
    off = b.op("Cast", [b.op("Round", [b.op("Mul", [b.op("Sub", [v, fl]), b.const(np.array(_TABLE_SIZE, _F32))])])],
               to=_INT64)
    rev = b.op("Sub", [b.const(np.array(_TABLE_SIZE, np.int64)), off])
    t = _TABLES[hp]
    t0, t1 = b.const(np.ascontiguousarray(t[:, 0])), b.const(np.ascontiguousarray(t[:, 1]))
    ws = [b.op("Gather", [t1, off]), b.op("Gather", [t0, off]), b.op("Gather", [t0, rev]), b.op("Gather", [t1, rev])]
    raws = [b.op("Add", [loc, b.const(np.array(d, np.int64))]) for d in (-1, 0, 1, 2)]
    idxs = [_graph_clip(b, r, in_len) for r in raws]
    if hp:
        zero = b.const(np.array(0, _F32))
        ws = [b.op("Where", [b.op("Equal", [i, r]), w, zero]) for i, r, w in zip(idxs, raws, ws)]
        total = b.op("Add", [b.op("Add", [b.op("Add", [ws[0], ws[1]]), ws[2]]), ws[3]])
        ok = b.op("GreaterOrEqual", [b.op("Abs", [total]), b.const(np.array(1000 * np.finfo(_F32).tiny, _F32))])
        one = b.const(np.array(1, _F32))
        inv = b.op("Where", [ok, b.op("Div", [one, b.op("Where", [ok, total, one])]), one])
        ws = [b.op("Mul", [w, inv]) for w in ws]
    return list(zip(idxs, ws))


def _apply_taps(b, x: str, axis: int, taps, dtype) -> str:
    """sum_k Gather(x, idx_k, axis) * w_k, the weights broadcast along `axis` of an NHWC tensor."""
    acc = None
    wshape = b.const(i64([-1] + [1] * (3 - axis)))
    for idx, w in taps:
        g = b.op("Gather", [x, idx], axis=axis)
        if w is not None:
            if dtype.onnx != _FLOAT:
                w = b.op("Cast", [w], to=dtype.onnx)
            g = b.op("Mul", [g, b.op("Reshape", [w, wshape])])
        acc = g if acc is None else b.op("Add", [acc, g])
    return acc


def _resize_lower(b, node, x, size_input=None):
    a = node.attrs
    method, ac, hp = a["method"], a["align_corners"], a["half_pixel_centers"]
    dtype = node.inputs[0].dtype
    ih, iw, oh, ow = _dims(b, x, size_input, node)
    if method == "bilinear":
        mode = "half_pixel" if hp else ("align_corners" if ac else "asymmetric")
        if isinstance(oh, int) and isinstance(ow, int) and None not in (node.inputs[0].shape[0],
                                                                          node.inputs[0].shape[3]):
            s = node.inputs[0].shape
            sizes = b.const(i64([s[0], oh, ow, s[3]]))
        else:
            shp = b.op("Shape", [x])
            hw = b.op("Concat", [b.op("Unsqueeze", [_scalar(b, d), b.const(i64([0]))]) for d in (oh, ow)], axis=0)
            sizes = b.op("Concat", [b.op("Slice", [shp, b.const(i64([0])), b.const(i64([1]))]), hw,
                                    b.op("Slice", [shp, b.const(i64([3])), b.const(i64([4]))])], axis=0)
        return b.op("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode=mode)
    if method == "nearest":
        y = _apply_taps(b, x, 1, _nearest_taps(b, ih, oh, ac, hp), dtype)
        return _apply_taps(b, y, 2, _nearest_taps(b, iw, ow, ac, hp), dtype)
    if method == "bicubic":
        y = _apply_taps(b, x, 1, _bicubic_taps(b, ih, oh, ac, hp), dtype)
        return _apply_taps(b, y, 2, _bicubic_taps(b, iw, ow, ac, hp), dtype)
    iw_idx, iw_w = area_taps(iw, ow, ac)
    ih_idx, ih_w = area_taps(ih, oh, ac)
    y = _apply_taps(b, x, 2, [(b.const(iw_idx[k]), b.const(iw_w[k])) for k in range(iw_idx.shape[0])], dtype)
    y = _apply_taps(b, y, 1, [(b.const(ih_idx[k]), b.const(ih_w[k])) for k in range(ih_idx.shape[0])], dtype)
    return b.op("Mul", [y, b.const(np.array(area_norm(ih, iw, oh, ow, ac), dtype.np))])


_TAPS = {"nearest": 0, "bilinear": 4, "bicubic": 16}


def _resize_flops(node) -> int:
    """Multiply-adds of the taps per output value (2 FLOPs each); nearest copies."""
    a = node.attrs
    if a["method"] == "area":
        _, h, w, _ = node.inputs[0].shape
        oh, ow = a["size"]
        taps = area_taps(h, oh, a["align_corners"])[0].shape[0] * area_taps(w, ow, a["align_corners"])[0].shape[0]
    else:
        taps = _TAPS[a["method"]]
    return 2 * taps * numel1(node.outputs[0].shape)


def _static_sizes(node, what: str):
    x = node.inputs[0]
    _, h, w, _ = x.shape
    if len(node.inputs) > 1 or h is None or w is None:
        raise ShapeError(f"{node.name}: {what} of resize needs static input and output heights and widths, "
                         f"got images {fmt(x.shape)} resized to {fmt(node.outputs[0].shape)}")
    oh, ow = node.attrs["size"]
    return h, w, oh, ow


def resize_matrices(method, size, align_corners, half_pixel_centers, h: int, w: int):
    """The float64 [out, in] matrices of the height and width maps (area's 1/scale factor on the height one)."""
    oh, ow = size
    mh = axis_matrix(method, h, oh, align_corners, half_pixel_centers)
    mw = axis_matrix(method, w, ow, align_corners, half_pixel_centers)
    if method == "area":
        mh = mh * float(area_norm(h, w, oh, ow, align_corners))
    return mh, mw


def _resize_vjp(node, grads):
    if not node.inputs[0].dtype.is_floating:
        return [None] * len(node.inputs)
    _static_sizes(node, "the gradient")
    return [apply_op("resize_grad", [grads[0], node.inputs[0]], **node.attrs)] + [None] * (len(node.inputs) - 1)


register(OpDef("resize", _resize_shape, _resize_lower, _resize_ref, default_name="Resize", vjp=_resize_vjp,
               flops=_resize_flops,
               doc="TF's ResizeBilinear/NearestNeighbor/Bicubic/Area on NHWC images; size static or a [2] tensor"))


# ---- gradient: the transposed linear map, x_grad = Mh^T g Mw


def _resize_grad_shape(specs, method, size, align_corners, half_pixel_centers):
    g, x = specs
    if size is None or x.shape[1] is None or x.shape[2] is None:
        raise ShapeError(f"the gradient of resize needs static heights and widths, got images {fmt(x.shape)} "
                         f"resized to {fmt(g.shape)}")
    return [Spec(tuple(x.shape), g.dtype)]


def _resize_grad_lower(b, node, g, x):
    _, h, w, _ = node.inputs[1].shape
    mh, mw = resize_matrices(h=h, w=w, **node.attrs)
    dt = node.outputs[0].dtype.np
    t = b.op("Einsum", [b.const(mh.astype(dt)), g], equation="oh,nowc->nhwc")
    return b.op("Einsum", [b.const(mw.astype(dt)), t], equation="pw,nhpc->nhwc")


def _resize_grad_ref(g, x, method, size, align_corners, half_pixel_centers):
    _, h, w, _ = x.shape
    mh, mw = resize_matrices(method, size, align_corners, half_pixel_centers, h, w)
    t = np.einsum("oh,nowc->nhwc", mh, g.astype(np.float64))
    return np.einsum("pw,nhpc->nhwc", mw, t).astype(g.dtype)


register(OpDef("resize_grad", _resize_grad_shape, _resize_grad_lower, _resize_grad_ref, default_name="ResizeGrad",
               differentiable=False, flops=lambda node: _resize_flops(node)))


# ------------------------------------------------------------------------------------------
# Front ends with TF's names and arguments


class ResizeMethod:
    """tf.image.ResizeMethod (TF2: strings)."""

    BILINEAR = "bilinear"
    NEAREST_NEIGHBOR = "nearest"
    BICUBIC = "bicubic"
    AREA = "area"
    LANCZOS3 = "lanczos3"
    LANCZOS5 = "lanczos5"
    GAUSSIAN = "gaussian"
    MITCHELLCUBIC = "mitchellcubic"


class ResizeMethodV1:
    """tf.compat.v1.image.ResizeMethod (TF1: ints)."""

    BILINEAR = 0
    NEAREST_NEIGHBOR = 1
    BICUBIC = 2
    AREA = 3


_V1 = {0: "bilinear", 1: "nearest", 2: "bicubic", 3: "area"}
_OUT_OF_REACH = ("lanczos3", "lanczos5", "gaussian", "mitchellcubic")


def _method_name(method) -> str:
    if isinstance(method, (int, np.integer)) and not isinstance(method, bool):
        if int(method) in _V1:
            return _V1[int(method)]
    elif isinstance(method, str):
        m = method.lower()
        if m in METHODS:
            return m
        if m in _OUT_OF_REACH:
            raise InvalidArgumentError(
                f"resize method {method!r} (TF's scale_and_translate kernels) is not available in slimir; use "
                "'bilinear', 'nearest', 'bicubic' or 'area'")
    raise InvalidArgumentError("Resize method is not implemented.")


def _size_arg(size):
    """(static (h, w) or None, size tensor or None) from a list of ints/scalar tensors or a [2] tensor."""
    if isinstance(size, Tensor):
        if not size.dtype.is_integer or tuple(size.shape) != (2,):
            raise ShapeError(f"'size' must be a 1-D int32 Tensor of 2 elements: new_height, new_width; got "
                             f"{size.dtype.name} {fmt(size.shape)}")
        v = constant_value(size)
        return (None, size) if v is None else ((int(v[0]), int(v[1])), None)
    if isinstance(size, np.ndarray):
        size = size.tolist()
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise ShapeError(f"'size' must be a 1-D Tensor of 2 elements: new_height, new_width; got {size!r}")
    static, parts = [], []
    for s in size:
        if isinstance(s, Tensor):
            if not s.dtype.is_integer or len(s.shape) > 1 or (len(s.shape) == 1 and s.shape[0] != 1):
                raise ShapeError(f"'size' entries must be int32 scalars, got {s.dtype.name} {fmt(s.shape)}")
            v = constant_value(s)
            static.append(None if v is None else int(np.asarray(v).reshape(())))
            parts.append(reshape(s, [1]) if v is None else None)
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            static.append(int(s))
            parts.append(None)
        else:
            raise ShapeError(f"'size' must hold 2 ints (or int32 scalar tensors), got {size!r}")
    if None not in static:
        return tuple(static), None
    pieces = [cast(p, _dt.int32) if p is not None and p.dtype is not _dt.int32 else p for p in parts]
    pieces = [constant(np.array([v], np.int32)) if p is None else p for p, v in zip(pieces, static)]
    return None, concat(pieces, axis=0)


def _resize4d(images: Tensor, size, method: str, align_corners: bool, half_pixel_centers: bool,
              name: Optional[str]) -> Tensor:
    static, dyn = _size_arg(size)
    if static is not None:
        return apply_op("resize", [images], name=name or _DEFAULT_NAMES[method], method=method, size=static,
                        align_corners=bool(align_corners), half_pixel_centers=bool(half_pixel_centers))
    return apply_op("resize", [images, dyn], name=name or _DEFAULT_NAMES[method], method=method, size=None,
                    align_corners=bool(align_corners), half_pixel_centers=bool(half_pixel_centers))


def _as_float_images(images: Tensor, method: str) -> Tensor:
    """TF's resize kernels read any real type and compute (and return) float32; nearest keeps the dtype."""
    if method != "nearest" and images.dtype is not _dt.float32:
        return cast(images, _dt.float32)
    return images


def _gen_resize(method: str, images, size, align_corners: bool, half_pixel_centers: bool, name):
    images = convert_to_tensor(images)
    if len(images.shape) != 4:
        raise ShapeError(f"resize_{method}: input must be 4-dimensional, got {fmt(images.shape)}")
    return _resize4d(_as_float_images(images, method), size, method, align_corners, half_pixel_centers, name)


def resize_bilinear(images, size, align_corners: bool = False, half_pixel_centers: bool = False,
                    name: Optional[str] = None) -> Tensor:
    """tf.compat.v1.image.resize_bilinear: float32 result."""
    return _gen_resize("bilinear", images, size, align_corners, half_pixel_centers, name)


def resize_nearest_neighbor(images, size, align_corners: bool = False, half_pixel_centers: bool = False,
                            name: Optional[str] = None) -> Tensor:
    """tf.compat.v1.image.resize_nearest_neighbor: the images' dtype kept."""
    return _gen_resize("nearest", images, size, align_corners, half_pixel_centers, name)


def resize_bicubic(images, size, align_corners: bool = False, half_pixel_centers: bool = False,
                   name: Optional[str] = None) -> Tensor:
    """tf.compat.v1.image.resize_bicubic: Keys' kernel, a=-0.75 (legacy) or a=-0.5 (half_pixel_centers)."""
    return _gen_resize("bicubic", images, size, align_corners, half_pixel_centers, name)


def resize_area(images, size, align_corners: bool = False, name: Optional[str] = None) -> Tensor:
    """tf.compat.v1.image.resize_area: box filter; float32 result."""
    return _gen_resize("area", images, size, align_corners, False, name)


def _resize_common(images, size, method: str, align_corners: bool, half_pixel: bool, preserve_aspect_ratio: bool,
                   name: Optional[str], skip_if_same: bool) -> Tensor:
    if preserve_aspect_ratio:
        raise InvalidArgumentError("resize: preserve_aspect_ratio=True is not available in slimir; compute the "
                                   "target size yourself (scale = min(new_h / h, new_w / w))")
    with name_scope(name, "resize"):
        images = convert_to_tensor(images)
        rank = len(images.shape)
        if rank not in (3, 4):
            raise ShapeError(f"'images' must have either 3 or 4 dimensions, got {fmt(images.shape)}")
        batch = expand_dims(images, 0) if rank == 3 else images
        static, _ = _size_arg(size)
        h, w = batch.shape[1], batch.shape[2]
        if skip_if_same and static is not None and (h, w) == static:
            return images
        out = _resize4d(_as_float_images(batch, method), size, method, align_corners, half_pixel, None)
        return squeeze(out, [0]) if rank == 3 else out


def resize_images(images, size, method=ResizeMethodV1.BILINEAR, align_corners: bool = False,
                  preserve_aspect_ratio: bool = False, name: Optional[str] = None) -> Tensor:
    """tf.compat.v1.image.resize_images (= tf.compat.v1.image.resize): legacy pixel centers, `align_corners`;
    images already of the static target size come back as they are."""
    m = _method_name(method)
    return _resize_common(images, size, m, align_corners, False, preserve_aspect_ratio, name, skip_if_same=True)


def resize_images_v2(images, size, method=ResizeMethod.BILINEAR, preserve_aspect_ratio: bool = False,
                     antialias: bool = False, name: Optional[str] = None) -> Tensor:
    """TF2's tf.image.resize: half-pixel centers (Keys' a=-0.5 bicubic); nearest keeps the dtype, others float32."""
    m = _method_name(method)
    if antialias and m in ("bilinear", "bicubic"):
        raise InvalidArgumentError("resize: antialias=True (TF's scale_and_translate kernels) is not available in "
                                   "slimir")
    return _resize_common(images, size, m, False, m != "area", preserve_aspect_ratio, name, skip_if_same=False)


__all__ = ["METHODS", "ResizeMethod", "ResizeMethodV1", "resize_area", "resize_bicubic", "resize_bilinear",
           "resize_images", "resize_images_v2", "resize_nearest_neighbor", "resize_reference"]
