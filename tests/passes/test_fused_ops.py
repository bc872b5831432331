"""The ops the fusion passes create, run through slim.Session (their ONNX lowering on ONNX Runtime), against
numpy: `fused_conv2d` for each base convolution, with and without bias, each activation, NHWC and NCHW;
`gemm` with and without transpose_b, each activation."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import slimir as slim
from slimir.ir.registry import apply_op, get_op
from slimir.ops.activation import fusable_activations
from slimir.ops.conv import CONV_TYPES, transposed_out_len

RTOL = ATOL = 1e-5

#: what each activation computes, written out here independently of the op module
NUMPY_ACTS = {
    "": lambda y, a: y,
    "relu": lambda y, a: np.maximum(y, 0),
    "relu6": lambda y, a: np.minimum(np.maximum(y, 0), 6),
    "clip": lambda y, a: np.minimum(np.maximum(y, a["lo"]), a["hi"]),
    "leaky_relu": lambda y, a: np.where(y >= 0, y, a["alpha"] * y),
    "sigmoid": lambda y, a: 1 / (1 + np.exp(-y)),
    "tanh": lambda y, a: np.tanh(y),
    "elu": lambda y, a: np.where(y > 0, y, np.exp(y) - 1),
    "selu": lambda y, a: 1.0507009873554805 * np.where(y > 0, y, 1.6732632423543772 * (np.exp(y) - 1)),
}
ACTIVATIONS = fusable_activations()
ACT_NAMES = [""] + sorted(ACTIVATIONS)


def test_every_fused_activation_has_a_numpy_check():
    assert set(ACTIVATIONS) <= set(NUMPY_ACTS), set(ACTIVATIONS) - set(NUMPY_ACTS)


def _own_attrs(act) -> dict:
    """The activation op's own attributes in these cases."""
    return {"leaky_relu": {"alpha": 0.15}, "clip": {"lo": -0.4, "hi": 0.9}}.get(act, {})


def _act_attrs(act):
    return {"activation": act, "act_attrs": tuple(sorted(_own_attrs(act).items()))}


def _conv_case(conv, df, rng, stride, padding):
    """Input, filter, attrs and channel count for one fused_conv2d case (input 2x7x6x3 in NHWC terms)."""
    n, h, w, ci = 2, 7, 6, 3
    x = rng.standard_normal((n, ci, h, w) if df == "NCHW" else (n, h, w, ci)).astype(np.float32)
    if conv == "conv2d":
        f = rng.standard_normal((3, 2, ci, 4)).astype(np.float32)
        attrs = {"strides": (stride, stride), "dilations": (1, 1), "padding": padding, "data_format": df}
        co = 4
    elif conv == "depthwise_conv2d":
        f = rng.standard_normal((3, 3, ci, 2)).astype(np.float32)
        attrs = {"strides": (stride, stride), "dilations": (1, 1), "padding": padding, "data_format": df}
        co = ci * 2
    else:
        f = rng.standard_normal((3, 2, 5, ci)).astype(np.float32)  # [kh, kw, out, in]
        out_hw = (transposed_out_len(h, 3, stride, padding), transposed_out_len(w, 2, stride, padding))
        attrs = {"strides": (stride, stride), "padding": padding, "data_format": df, "output_hw": out_hw}
        co = 5
    return x, f, attrs, co


@pytest.mark.parametrize("conv", CONV_TYPES)
@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("act", ACT_NAMES)
def test_fused_conv2d_matches_numpy(conv, df, with_bias, act):
    rng = np.random.default_rng(zlib.crc32(repr((conv, df, with_bias, act)).encode()))
    stride, padding = (2, "SAME") if with_bias else (1, "VALID")
    x, f, attrs, co = _conv_case(conv, df, rng, stride, padding)
    bias = rng.standard_normal(co).astype(np.float32)
    aa = _act_attrs(act)
    g = slim.Graph()
    with g.as_default():
        xp = slim.placeholder(slim.float32, [None] + list(x.shape[1:]), name="x")
        ins = [xp, slim.constant(f)] + ([slim.constant(bias)] if with_bias else [])
        y = apply_op("fused_conv2d", ins, conv=conv, **attrs, **aa)
        with slim.Session() as sess:
            got = sess.run(y, {xp: x})
    # numpy: the base convolution's reference, the bias along the channel axis, then the activation
    base = get_op(conv).reference(x, f, **attrs).astype(np.float64)
    if with_bias:
        base = base + (bias.reshape(-1, 1, 1) if df == "NCHW" else bias)
    want = NUMPY_ACTS[act](base, _own_attrs(act))
    assert got.shape == want.shape
    assert tuple(y.shape[1:]) == want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # and the op's own registered reference agrees
    ref = get_op("fused_conv2d").reference(x, f, *([bias] if with_bias else []), conv=conv, **attrs, **aa)
    np.testing.assert_allclose(ref, want, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("transpose_b", [False, True])
@pytest.mark.parametrize("act", ACT_NAMES)
def test_gemm_matches_numpy(transpose_b, act):
    rng = np.random.default_rng(zlib.crc32(repr((transpose_b, act)).encode()))
    a = rng.standard_normal((5, 7)).astype(np.float32)
    w = rng.standard_normal((3, 7) if transpose_b else (7, 3)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    aa = _act_attrs(act)
    with slim.Graph().as_default():
        ap = slim.placeholder(slim.float32, [None, 7], name="a")
        y = apply_op("gemm", [ap, slim.constant(w), slim.constant(bias)], transpose_b=transpose_b, **aa)
        assert tuple(y.shape) == (None, 3)
        with slim.Session() as sess:
            got = sess.run(y, {ap: a})
    want = NUMPY_ACTS[act](a.astype(np.float64) @ (w.T if transpose_b else w).astype(np.float64) + bias,
                           _own_attrs(act))
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    ref = get_op("gemm").reference(a, w, bias, transpose_b=transpose_b, **aa)
    np.testing.assert_allclose(ref, want, rtol=RTOL, atol=ATOL)


def test_fused_conv2d_rejects_a_bias_of_the_wrong_length():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        w = slim.constant(np.zeros((3, 3, 3, 4), np.float32))
        with pytest.raises(slim.errors.ShapeError, match="bias"):
            apply_op(
                "fused_conv2d",
                [x, w, slim.constant(np.zeros(5, np.float32))],
                conv="conv2d",
                strides=(1, 1),
                dilations=(1, 1),
                padding="SAME",
                data_format="NHWC",
                **_act_attrs("relu"),
            )
        with pytest.raises(slim.errors.ShapeError, match="activation"):
            apply_op(
                "fused_conv2d",
                [x, w],
                conv="conv2d",
                strides=(1, 1),
                dilations=(1, 1),
                padding="SAME",
                data_format="NHWC",
                **_act_attrs("softplus"),
            )
