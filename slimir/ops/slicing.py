"""Indexing and padding: numpy-style strided slices (`t[1:, ::2, None, ...]`, TF's tf.slice) and tf.pad,
each with its VJP (a slice's gradient is the padding of the output gradient, a constant pad's the slice of it,
a REFLECT/SYMMETRIC pad's mirror_pad_grad, which folds the mirrored borders back)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidArgumentError, ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, numel1, register
from ..shape import fmt
from .array import expand_dims, squeeze
from .lowering_utils import i64
from .static import constant_value, static_ints

# ------------------------------------------------------------------------------------------
# strided slice (numpy-style indexing with int / slice / newaxis / ellipsis)


def _norm_index(shape, key):
    """Resolve an indexing key into (begin, end, step) per axis, axes to squeeze, axes to insert."""
    if not isinstance(key, tuple):
        key = (key,)
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if n_real > len(shape):
        raise ShapeError(f"too many indices ({n_real}) for a tensor of shape {fmt(shape)}")
    out_key = []
    for k in key:
        if k is Ellipsis:
            out_key.extend([slice(None)] * (len(shape) - n_real))
        else:
            out_key.append(k)
    if Ellipsis not in key:
        out_key.extend([slice(None)] * (len(shape) - n_real))
    specs, axis, out_shape = [], 0, []
    for k in out_key:
        if k is None:
            out_shape.append(1)
            specs.append(("new",))
            continue
        dim = shape[axis]
        if isinstance(k, (int, np.integer)):
            k = int(k)
            if dim is not None and not -dim <= k < dim:
                raise ShapeError(f"index {k} is out of bounds for dimension {axis} of size {dim}")
            if dim is None and k < 0:
                raise ShapeError(f"negative index {k} on dimension {axis} of unknown size")
            specs.append(("index", axis, k))
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if step == 0:
                raise ShapeError("slice step cannot be zero")
            if dim is not None:
                start, stop, step = k.indices(dim)
                n = len(range(start, stop, step))
                if n == 0:  # ONNX Slice would read -1 as "the last element"
                    start, stop, step = 0, 0, 1
                elif stop < 0:  # a negative step running past index 0
                    stop = None
            else:
                start, stop = k.start, k.stop
                n = None
                if step > 0 and (start is None or start >= 0) and stop is not None and stop >= 0:
                    n = max(0, (stop - (start or 0) + step - 1) // step)
            specs.append(("slice", axis, start, stop, step))
            out_shape.append(n)
        else:
            raise InvalidArgumentError(f"unsupported index {k!r}: use ints, slices, None or ...")
        axis += 1
    return specs, tuple(out_shape)


def _ss_shape(specs, key):
    return [Spec(_norm_index(specs[0].shape, key)[1], specs[0].dtype)]


_BIG = 2**62


def _ss_lower(b, node, x):
    specs, _ = _norm_index(node.inputs[0].shape, node.attrs["key"])
    starts, ends, axes, steps, squeeze, new = [], [], [], [], [], []
    out_axis = 0
    for s in specs:
        if s[0] == "new":
            new.append(out_axis)
            out_axis += 1
        elif s[0] == "index":
            _, ax, k = s
            starts.append(k)
            ends.append(k + 1 if k != -1 else _BIG)
            axes.append(ax)
            steps.append(1)
            squeeze.append(ax)
        else:
            _, ax, start, stop, step = s
            if start is None:
                start = 0 if step > 0 else -1
            if stop is None:
                stop = _BIG if step > 0 else -_BIG
            starts.append(start)
            ends.append(stop)
            axes.append(ax)
            steps.append(step)
            out_axis += 1
    y = x
    if axes:
        y = b.op("Slice", [y, b.const(np.array(starts, np.int64)), b.const(np.array(ends, np.int64)),
                           b.const(np.array(axes, np.int64)), b.const(np.array(steps, np.int64))])
    if squeeze:
        y = b.op("Squeeze", [y, b.const(np.array(squeeze, np.int64))])
    if new:
        y = b.op("Unsqueeze", [y, b.const(np.array(new, np.int64))])
    if y is x:
        y = b.op("Identity", [x])
    return y


def _freeze_key(key):
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, slice):
            out.append(slice(k.start, k.stop, k.step))
        else:
            out.append(k)
    return tuple(out)


def _slice_vjp(node, grads):
    """Step-1 slices: the output gradient, with index axes restored and new axes dropped, padded back."""
    x, g = node.inputs[0], grads[0]
    specs, _ = _norm_index(x.shape, node.attrs["key"])
    paddings = [(0, 0)] * len(x.shape)
    new_axes, index_axes, out_axis = [], [], 0
    for s in specs:
        if s[0] == "new":
            new_axes.append(out_axis)
            out_axis += 1
            continue
        ax = s[1]
        dim = x.shape[ax]
        if s[0] == "index":
            k = s[2]
            if dim is None:
                raise ShapeError(f"{node.name}: the gradient of indexing needs a known dimension {ax}")
            start = k if k >= 0 else dim + k
            paddings[ax] = (start, dim - start - 1)
            index_axes.append(ax)
            continue
        _, _, start, stop, step = s
        out_axis += 1
        if step != 1:
            raise InvalidArgumentError(f"{node.name}: the gradient of a slice with step {step} is not supported")
        if dim is None:
            if start not in (None, 0) or stop is not None:
                raise ShapeError(f"{node.name}: the gradient of a partial slice needs a known dimension {ax}")
            continue
        start, stop, _ = slice(start, stop, step).indices(dim)
        paddings[ax] = (start, dim - max(stop, start))
    if new_axes:
        g = squeeze(g, new_axes)
    for ax in sorted(index_axes):
        g = expand_dims(g, ax)
    return [pad(g, paddings)]


register(OpDef("strided_slice", _ss_shape, _ss_lower, lambda x, key: np.asarray(x[key]),
               default_name="strided_slice", vjp=_slice_vjp))


def strided_slice_getitem(x: Tensor, key) -> Tensor:
    key = _freeze_key(key)
    for k in key:
        parts = (k.start, k.stop, k.step) if isinstance(k, slice) else (k,)
        if any(isinstance(v, Tensor) for v in parts):
            raise InvalidArgumentError("indexing with tensors is not supported; use static Python ints")
    return apply_op("strided_slice", [x], key=key)


def slice_(x, begin, size, name: Optional[str] = None) -> Tensor:
    """TF's tf.slice(input, begin, size); size -1 means 'to the end'."""
    key = tuple(slice(int(b0), None if int(s) == -1 else int(b0) + int(s)) for b0, s in zip(begin, size))
    return apply_op("strided_slice", [x], name=name or "Slice", key=key)


# ------------------------------------------------------------------------------------------
# pad


def _pad_shape(specs, paddings, mode, constant_values):
    s = specs[0].shape
    if len(paddings) != len(s):
        raise ShapeError(f"pad: {len(paddings)} padding pairs for an input of rank {len(s)}")
    if mode not in ("CONSTANT", "REFLECT", "SYMMETRIC"):
        raise InvalidArgumentError(f"pad: unknown mode {mode!r}")
    limit = {"CONSTANT": None, "REFLECT": 1, "SYMMETRIC": 0}[mode]
    for d, (a, c) in zip(s, paddings):
        if min(a, c) < 0 or (limit is not None and d is not None and max(a, c) > d - limit):
            raise InvalidArgumentError(f"pad: paddings {[list(q) for q in paddings]} do not fit {mode} padding of "
                                       f"an input of shape {fmt(s)}")
    out = tuple(None if d is None else d + a + c for d, (a, c) in zip(s, paddings))
    return [Spec(out, specs[0].dtype)]


def _pad_lower(b, node, x):
    p = node.attrs["paddings"]
    if node.attrs["mode"] == "SYMMETRIC":
        return _symmetric_pad(b, x, p)
    pads = [a for a, _ in p] + [c for _, c in p]
    mode = {"CONSTANT": "constant", "REFLECT": "reflect"}[node.attrs["mode"]]
    ins = [x, b.const(np.array(pads, np.int64))]
    if mode == "constant":
        ins.append(b.const(np.array(node.attrs["constant_values"], node.inputs[0].dtype.np)))
    return b.op("Pad", ins, mode=mode)


def _symmetric_pad(b, x, paddings):
    """SYMMETRIC (edge-inclusive mirror) padding, which ONNX Pad lacks: reversed slices concatenated per axis."""
    y = x
    for ax, (lo, hi) in enumerate(paddings):
        parts = [y]
        if lo:  # x[lo-1::-1]
            parts.insert(0, b.op("Slice", [y, b.const(i64([lo - 1])), b.const(i64([-_BIG])), b.const(i64([ax])),
                                           b.const(i64([-1]))]))
        if hi:  # x[:-hi-1:-1]
            parts.append(b.op("Slice", [y, b.const(i64([-1])), b.const(i64([-hi - 1])), b.const(i64([ax])),
                                        b.const(i64([-1]))]))
        if len(parts) > 1:
            y = b.op("Concat", parts, axis=ax)
    return y if y is not x else b.op("Identity", [x])


def _pad_ref(x, paddings, mode, constant_values):
    m = {"CONSTANT": "constant", "REFLECT": "reflect", "SYMMETRIC": "symmetric"}[mode]
    if m == "constant":
        return np.pad(x, paddings, mode=m, constant_values=constant_values)
    return np.pad(x, paddings, mode=m)


def _pad_vjp(node, grads):
    if node.attrs["mode"] != "CONSTANT":  # the mirrored borders folded back (mirror_pad_grad below)
        return [apply_op("mirror_pad_grad", [grads[0], node.inputs[0]], paddings=node.attrs["paddings"],
                         mode=node.attrs["mode"])]
    x = node.inputs[0]
    key = tuple(slice(a, (a + d) if d is not None else (-c if c else None))
                for (a, c), d in zip(node.attrs["paddings"], x.shape))
    return [apply_op("strided_slice", [grads[0]], key=key)]


register(OpDef("pad", _pad_shape, _pad_lower, _pad_ref, default_name="Pad", vjp=_pad_vjp))


def pad(x, paddings, mode: str = "CONSTANT", name: Optional[str] = None, constant_values=0) -> Tensor:
    """TF's tf.pad: `paddings` [[before, after], ...] as ints, an array, or a tensor known while building."""
    flat = np.asarray(static_ints(paddings, "pad: paddings"), dtype=object).reshape(-1)
    if flat.size % 2 or any(v is None for v in flat):
        raise ShapeError(f"pad: paddings must be [[before, after], ...] pairs of ints, got {paddings!r}")
    paddings = tuple((int(a), int(c)) for a, c in flat.reshape(-1, 2))
    if isinstance(constant_values, Tensor):
        v = constant_value(constant_values)
        if v is None:
            raise InvalidArgumentError(f"pad: constant_values {constant_values.name} must be known while building")
        constant_values = v.reshape(())
    return apply_op("pad", [x], name=name, paddings=paddings, mode=mode.upper(),
                    constant_values=float(constant_values))


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
