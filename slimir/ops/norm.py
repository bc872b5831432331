"""Normalisation: fused_batch_norm (training mode returns what its VJP reuses) and local response
normalisation (TF's tf.nn.lrn, over the channel axis) with its gradient op."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import ShapeError
from ..ir.graph import Tensor
from ..ir.registry import (
    Layout,
    OpDef,
    Spec,
    apply_op,
    data_format_layout,
    expect_float,
    expect_rank,
    normalize_axis,
    numel1,
    register,
)
from ..shape import fmt
from .array import constant, reshape
from .elementwise import add, div, mul, rsqrt, sub
from .geometry import check_data_format
from .lowering_utils import from_nchw, i64, sum_reduce, to_nchw
from .reduce import reduce_sum

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


def _bn_vjp(node, grads):
    """Gradients of y for x, scale and offset (the moving statistics get none). In training mode the forward's
    saved x_hat and inv_std are reused: dx = scale * inv_std * (g - mean(g) - x_hat * mean(g * x_hat))."""
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


def _bn_to_nchw(node):
    """Channels-last 4-D batch norm -> the channel axis 1 (batch statistics stay per channel)."""
    if len(node.inputs[0].shape) != 4 or node.attrs["axis"] % 4 != 3:
        return None
    return dict(node.attrs, axis=1)


register(OpDef("fused_batch_norm", _bn_shape, _bn_lower, batch_norm_reference, default_name="FusedBatchNorm",
               flops=lambda node: 2 * (numel1(node.outputs[0].shape)), vjp=_bn_vjp,
               layout=Layout((0,), (0, 3), _bn_to_nchw)))  # y and, in training mode, the saved x_hat


def fused_batch_norm(x, scale, offset, mean, variance, epsilon: float = 0.001, axis: int = -1,
                     is_training: bool = True, bessel: bool = True, name: Optional[str] = None):
    """Batch normalisation over all axes but `axis`; returns (y, batch_mean, batch_variance).

    In training mode the returned variance carries Bessel's correction when `bessel` (TF's fused kernel).
    """
    out = apply_op("fused_batch_norm", [x, scale, offset, mean, variance], name=name, epsilon=float(epsilon),
                   axis=int(axis), is_training=bool(is_training), bessel=bool(bessel))
    return out[:3]


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


def _lrn_vjp(node, grads):
    return [apply_op("lrn_grad", [node.inputs[0], node.outputs[0], grads[0]], **node.attrs)]


register(OpDef("lrn", _lrn_shape, _lrn_lower, _lrn_ref, default_name="LRN", vjp=_lrn_vjp, layout=data_format_layout(),
               flops=lambda node: (2 * node.attrs["depth_radius"] + 4) * numel1(node.outputs[0].shape)))


def lrn(input, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0, beta: float = 0.5,
        name: Optional[str] = None) -> Tensor:
    """Local response normalisation across channels (TF's tf.nn.local_response_normalization)."""
    return apply_op("lrn", [input], name=name, depth_radius=int(depth_radius), bias=float(bias),
                    alpha=float(alpha), beta=float(beta))


local_response_normalization = lrn


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
               differentiable=False, layout=data_format_layout((0, 1, 2), (0,))))
