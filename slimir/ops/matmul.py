"""Matrix products: matmul (TF's tf.matmul, with transposes and batch broadcasting) and gemm, the fused
y = act(a @ w + bias) that the fuse_gemm pass makes (ONNX Gemm with its C input). Also installs `@`."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ShapeError
from ..ir.graph import Tensor
from ..ir.registry import OpDef, Spec, apply_op, numel1, register, same_dtype
from ..shape import broadcast, fmt
from .activation import check_activation, lower_activation, pre_activation_grad, reference_activation
from .array import reshape
from .elementwise import _coerce_pair, unbroadcast

# ------------------------------------------------------------------------------------------
# matmul


def _matmul_shape(specs, transpose_a, transpose_b):
    a, b = specs
    dt = same_dtype(specs)
    if len(a.shape) < 2 or len(b.shape) < 2:
        raise ShapeError(f"matmul expects inputs of rank >= 2, got {fmt(a.shape)} and {fmt(b.shape)}")
    m, ka = (a.shape[-1], a.shape[-2]) if transpose_a else (a.shape[-2], a.shape[-1])
    kb, n = (b.shape[-1], b.shape[-2]) if transpose_b else (b.shape[-2], b.shape[-1])
    if ka is not None and kb is not None and ka != kb:
        raise ShapeError(f"matmul: inner dimensions differ, {fmt(a.shape)} x {fmt(b.shape)}"
                         f"{' (transpose_a)' if transpose_a else ''}{' (transpose_b)' if transpose_b else ''}")
    batch = broadcast(a.shape[:-2], b.shape[:-2])
    if batch is None:
        raise ShapeError(f"matmul: batch dimensions do not broadcast, {fmt(a.shape)} x {fmt(b.shape)}")
    return [Spec(tuple(batch) + (m, n), dt)]


def _swap_last(b, x, rank):
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return b.op("Transpose", [x], perm=perm)


def _matmul_lower(b, node, x, y):
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    ra, rb = len(node.inputs[0].shape), len(node.inputs[1].shape)
    if ra == 2 and rb == 2 and (ta or tb):
        return b.op("Gemm", [x, y], transA=int(ta), transB=int(tb))
    if ta:
        x = _swap_last(b, x, ra)
    if tb:
        y = _swap_last(b, y, rb)
    return b.op("MatMul", [x, y])


def _matmul_ref(x, y, transpose_a, transpose_b):
    if transpose_a:
        x = np.swapaxes(x, -1, -2)
    if transpose_b:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)


def _matmul_flops(node):
    a = node.inputs[0].shape
    k = a[-2] if node.attrs["transpose_a"] else a[-1]
    return 2 * numel1(node.outputs[0].shape) * (k or 1)


def _matmul_vjp(node, grads):
    a, b = node.inputs
    g = grads[0]
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    if len(b.shape) == 2 and len(a.shape) > 2 and not ta:
        k = a.shape[-1]
        n = g.shape[-1]
        a2, g2 = reshape(a, [-1, k]), reshape(g, [-1, n])
        da = matmul(g, b, transpose_b=not tb)
        db = matmul(g2, a2, transpose_a=True) if tb else matmul(a2, g2, transpose_a=True)
        return [da, db]
    if not ta and not tb:
        da, db = matmul(g, b, transpose_b=True), matmul(a, g, transpose_a=True)
    elif ta and not tb:
        da, db = matmul(b, g, transpose_b=True), matmul(a, g)
    elif not ta and tb:
        da, db = matmul(g, b), matmul(g, a, transpose_a=True)
    else:
        da, db = matmul(b, g, transpose_a=True, transpose_b=True), matmul(g, a, transpose_a=True, transpose_b=True)
    return [unbroadcast(da, a), unbroadcast(db, b)]


register(OpDef("matmul", _matmul_shape, _matmul_lower, _matmul_ref, default_name="MatMul",
               flops=_matmul_flops, vjp=_matmul_vjp))


def matmul(a, b, transpose_a: bool = False, transpose_b: bool = False, name: Optional[str] = None) -> Tensor:
    """a @ b, optionally transposing the last two axes of either (TF's tf.matmul)."""
    a, b = _coerce_pair(a, b)
    return apply_op("matmul", [a, b], name=name, transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))


Tensor.__matmul__ = lambda s, o: matmul(s, o)
Tensor.__rmatmul__ = lambda s, o: matmul(o, s)


# ------------------------------------------------------------------------------------------
# gemm: y = act(a @ w + bias), a of rank 2


def _gemm_shape(specs, transpose_b, activation, act_attrs):
    a, w, bias = specs
    same_dtype(specs)
    if len(a.shape) != 2 or len(w.shape) != 2:
        raise ShapeError(f"gemm expects rank-2 inputs, got {fmt(a.shape)} and {fmt(w.shape)}")
    k, n = (w.shape[1], w.shape[0]) if transpose_b else (w.shape[0], w.shape[1])
    if a.shape[1] is not None and k is not None and a.shape[1] != k:
        raise ShapeError(f"gemm: inner dimensions differ, {fmt(a.shape)} x {fmt(w.shape)}")
    if len(bias.shape) != 1 or bias.shape[0] not in (None, n):
        raise ShapeError(f"gemm: bias {fmt(bias.shape)} does not match {n} outputs")
    check_activation(activation)
    return [Spec((a.shape[0], n), a.dtype)]


def _gemm_lower(b, node, a, w, bias):
    return lower_activation(b, node, b.op("Gemm", [a, w, bias], transB=int(node.attrs["transpose_b"])))


def _gemm_ref(a, w, bias, transpose_b, activation, act_attrs):
    w2 = w.T if transpose_b else w
    y = a.astype(np.float64) @ w2.astype(np.float64) + bias
    return reference_activation(y, activation, act_attrs).astype(a.dtype)


def _gemm_flops(node):
    m, k = node.inputs[0].shape
    n = node.outputs[0].shape[1]
    m, k, n = (1 if d is None else d for d in (m, k, n))
    return 2 * m * k * n + 2 * m * n


def _gemm_vjp(node, grads):
    a, w, _ = node.inputs
    dz = pre_activation_grad(node, grads[0])
    tb = node.attrs["transpose_b"]
    da = matmul(dz, w, transpose_b=not tb)
    dw = matmul(dz, a, transpose_a=True) if tb else matmul(a, dz, transpose_a=True)
    return [da, dw, apply_op("reduce_sum", [dz], axis=(0,), keepdims=False)]


register(OpDef("gemm", _gemm_shape, _gemm_lower, _gemm_ref, default_name="Gemm", flops=_gemm_flops, vjp=_gemm_vjp))
