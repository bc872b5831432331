"""Fused ops made by the optimisation passes: convolution + bias + activation, and Gemm (+ activation).

Each reuses the base op's shape rule and lowering, adding the bias input of ONNX Conv/Gemm and the
activation right after it (ONNX Runtime fuses Conv + activation itself).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..shape import fmt
from .registry import OpDef, numel1, Spec, get_op, register, same_dtype

# activation name -> (emit(b, y, attrs) -> name, numpy reference(y, attrs))
ACTIVATIONS = {
    "relu": (lambda b, y, a: b.op("Relu", [y]), lambda y, a: np.maximum(y, 0)),
    "relu6": (lambda b, y, a: b.op("Clip", [y, b.const(np.array(0, a["np"])), b.const(np.array(6, a["np"]))]),
              lambda y, a: np.clip(y, 0, 6)),
    "clip": (lambda b, y, a: b.op("Clip", [y, b.const(np.array(a["lo"], a["np"])), b.const(np.array(a["hi"], a["np"]))]),
             lambda y, a: np.clip(y, a["lo"], a["hi"])),
    "leaky_relu": (lambda b, y, a: b.op("LeakyRelu", [y], alpha=float(a["alpha"])),
                   lambda y, a: np.where(y > 0, y, y * a["alpha"])),
    "sigmoid": (lambda b, y, a: b.op("Sigmoid", [y]), lambda y, a: 1.0 / (1.0 + np.exp(-y))),
    "tanh": (lambda b, y, a: b.op("Tanh", [y]), lambda y, a: np.tanh(y)),
    "elu": (lambda b, y, a: b.op("Elu", [y], alpha=1.0), lambda y, a: np.where(y > 0, y, np.expm1(y))),
}

CONV_TYPES = ("conv2d", "depthwise_conv2d", "conv2d_transpose")


def activation_attrs(node) -> dict:
    """The fused-activation attributes of an activation node (its type and parameters)."""
    a = {"activation": node.type, "alpha": 0.0, "lo": 0.0, "hi": 0.0}
    if node.type == "leaky_relu":
        a["alpha"] = float(node.attrs["alpha"])
    if node.type == "clip":
        a["lo"], a["hi"] = float(node.attrs["lo"]), float(node.attrs["hi"])
    return a


def _act_params(attrs, dtype) -> dict:
    return {"alpha": attrs["alpha"], "lo": attrs["lo"], "hi": attrs["hi"], "np": dtype}


def _split_attrs(attrs) -> tuple:
    base = {k: v for k, v in attrs.items() if k not in ("conv", "activation", "alpha", "lo", "hi")}
    return attrs["conv"], base


def _fused_conv_shape(specs, **attrs):
    conv, base = _split_attrs(attrs)
    out = get_op(conv).shape(specs[:2], **base)
    if len(specs) == 3:
        same_dtype(specs)
        b = specs[2]
        c = out[0].shape[1] if base["data_format"] == "NCHW" else out[0].shape[-1]
        if len(b.shape) != 1 or (c is not None and b.shape[0] not in (None, c)):
            raise ShapeError(f"bias {fmt(b.shape)} does not match the {c} output channels")
    if attrs["activation"] and attrs["activation"] not in ACTIVATIONS:
        raise ShapeError(f"unknown fused activation {attrs['activation']!r}")
    return out


class _View:
    """A node seen as its base conv op (attrs without the fusion fields), for the base lowering."""

    def __init__(self, node, attrs):
        self.name, self.inputs, self.outputs, self.attrs = node.name, node.inputs[:2], node.outputs, attrs


def _fused_conv_lower(b, node, x, w, bias=None):
    conv, base = _split_attrs(node.attrs)
    y = get_op(conv).lower(b, _View(node, base), x, w, bias)
    act = node.attrs["activation"]
    if act:
        y = ACTIVATIONS[act][0](b, y, _act_params(node.attrs, node.inputs[0].dtype.np))
    return y


def _fused_conv_ref(x, w, bias=None, **attrs):
    conv, base = _split_attrs(attrs)
    y = get_op(conv).reference(x, w, **base).astype(np.float64)
    if bias is not None:
        shape = (-1, 1, 1) if base["data_format"] == "NCHW" else (-1,)
        y = y + bias.reshape(shape)
    if attrs["activation"]:
        y = ACTIVATIONS[attrs["activation"]][1](y, _act_params(attrs, x.dtype))
    return y.astype(x.dtype)


def _fused_conv_flops(node):
    conv, base = _split_attrs(node.attrs)
    base_flops = get_op(conv).flops(_View(node, base)) if get_op(conv).flops else 0
    n = numel1(node.outputs[0].shape)
    return base_flops + n * (len(node.inputs) == 3) + n * bool(node.attrs["activation"])


def _pre_activation_grad(node, g):
    """d/d(pre-activation) from the fused node's OUTPUT y (the pre-activation itself is not kept)."""
    from . import math_ops as m
    from .array_ops import cast, constant

    act, y, a = node.attrs["activation"], node.outputs[0], node.attrs
    if not act:
        return g

    def c(v):
        return constant(v, dtype=y.dtype)

    def mask(cond):
        return cast(cond, y.dtype)

    if act == "relu":
        return m.mul(g, mask(m.greater(y, c(0.0))))
    if act in ("relu6", "clip"):
        lo, hi = (0.0, 6.0) if act == "relu6" else (a["lo"], a["hi"])
        return m.mul(g, mask(m.logical_and(m.greater(y, c(lo)), m.less(y, c(hi)))))
    if act == "leaky_relu":
        return m.where(m.greater(y, c(0.0)), g, m.mul(g, c(a["alpha"])))
    if act == "sigmoid":
        return m.mul(g, m.mul(y, m.sub(c(1.0), y)))
    if act == "tanh":
        return m.mul(g, m.sub(c(1.0), m.mul(y, y)))
    return m.where(m.greater(y, c(0.0)), g, m.mul(g, m.add(y, c(1.0))))  # elu


def _fused_conv_vjp(node, grads):
    from .math_ops import reduce_sum

    dz = _pre_activation_grad(node, grads[0])
    conv, base = _split_attrs(node.attrs)
    out = list(get_op(conv).vjp(_View(node, base), [dz]))
    if len(node.inputs) == 3:
        cax = 1 if base["data_format"] == "NCHW" else 3
        out.append(reduce_sum(dz, [i for i in range(4) if i != cax]))
    return out


register(OpDef("fused_conv2d", _fused_conv_shape, _fused_conv_lower, _fused_conv_ref, default_name="FusedConv",
               flops=_fused_conv_flops, vjp=_fused_conv_vjp))


# ------------------------------------------------------------------------------------------
# gemm: y = act(a @ w + bias), a of rank 2


def _gemm_shape(specs, transpose_b, activation, alpha, lo, hi):
    a, w, bias = specs
    same_dtype(specs)
    if len(a.shape) != 2 or len(w.shape) != 2:
        raise ShapeError(f"gemm expects rank-2 inputs, got {fmt(a.shape)} and {fmt(w.shape)}")
    k, n = (w.shape[1], w.shape[0]) if transpose_b else (w.shape[0], w.shape[1])
    if a.shape[1] is not None and k is not None and a.shape[1] != k:
        raise ShapeError(f"gemm: inner dimensions differ, {fmt(a.shape)} x {fmt(w.shape)}")
    if len(bias.shape) != 1 or bias.shape[0] not in (None, n):
        raise ShapeError(f"gemm: bias {fmt(bias.shape)} does not match {n} outputs")
    return [Spec((a.shape[0], n), a.dtype)]


def _gemm_lower(b, node, a, w, bias):
    y = b.op("Gemm", [a, w, bias], transB=int(node.attrs["transpose_b"]))
    act = node.attrs["activation"]
    if act:
        y = ACTIVATIONS[act][0](b, y, _act_params(node.attrs, node.inputs[0].dtype.np))
    return y


def _gemm_ref(a, w, bias, transpose_b, activation, alpha, lo, hi):
    w2 = w.T if transpose_b else w
    y = a.astype(np.float64) @ w2.astype(np.float64) + bias
    if activation:
        y = ACTIVATIONS[activation][1](y, {"alpha": alpha, "lo": lo, "hi": hi, "np": a.dtype})
    return y.astype(a.dtype)


def _gemm_flops(node):
    m, k = node.inputs[0].shape
    n = node.outputs[0].shape[1]
    m, k, n = (1 if d is None else d for d in (m, k, n))
    return 2 * m * k * n + 2 * m * n


def _gemm_vjp(node, grads):
    from .math_ops import matmul, reduce_sum

    a, w, _ = node.inputs
    dz = _pre_activation_grad(node, grads[0])
    tb = node.attrs["transpose_b"]
    da = matmul(dz, w, transpose_b=not tb)
    dw = matmul(dz, a, transpose_a=True) if tb else matmul(a, dz, transpose_a=True)
    return [da, dw, reduce_sum(dz, [0])]


register(OpDef("gemm", _gemm_shape, _gemm_lower, _gemm_ref, default_name="Gemm", flops=_gemm_flops, vjp=_gemm_vjp))
