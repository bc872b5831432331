"""Backward ops on ONNX Runtime vs their numpy references: fixed cases that complement the drawn geometries of
test_op_grad_lowering.py.

- conv2d_backprop_filter through each of its two lowerings, asserted on the lowered model (one im2col Gemm when
  Cin < 8, one Gemm per kernel tap otherwise), at the default tolerance (rtol = atol = 1e-5);
- layer sizes of lenet and cifarnet with an unknown batch dimension (the training graphs' placeholders);
- max_pool_grad with ties: MaxPool's indices must pick the first maximum of each window, as the reference (TF).
"""

from __future__ import annotations

import numpy as np
import pytest
from opcheck import check, layout, rand

import slimir as slim
from slimir.ops.nn_ops import out_len
from slimir.ops.registry import apply_op
from slimir.runtime.lowering import lower

FORMATS = ["NHWC", "NCHW"]


def _out_hw(h, w, k, s, d, padding):
    return tuple(out_len(n, kk, ss, dd, padding, i, "test") for i, (n, kk, ss, dd) in enumerate(zip((h, w), k, s, d)))


def _lowered_ops(build, inputs):
    """ONNX op types of the lowered graph (no session passes), with their counts."""
    g = slim.Graph()
    with g.as_default():
        phs = [slim.placeholder(slim.as_dtype(a.dtype), list(a.shape)) for a in inputs]
        y = build(*phs)
        model = lower(g, [y], phs).model
    counts: dict = {}
    for n in model.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


# geometries: (h, w, kernel, strides, dilations, padding)
GEOMETRIES = [
    (9, 9, (3, 3), (1, 1), (1, 1), "SAME"),
    (9, 8, (3, 3), (2, 2), (1, 1), "SAME"),
    (8, 8, (5, 5), (1, 1), (1, 1), "VALID"),
    (9, 9, (3, 3), (1, 1), (2, 2), "SAME"),
    (10, 7, (3, 2), (3, 2), (1, 1), "VALID"),
    (6, 6, (3, 3), (2, 2), (1, 1), ((1, 1), (0, 2))),
]


@pytest.mark.parametrize("ci", [1, 3, 7, 8, 16])
@pytest.mark.parametrize("df", FORMATS)
@pytest.mark.parametrize("geo", range(len(GEOMETRIES)))
def test_conv2d_backprop_filter_both_lowerings(ci, df, geo):
    h, w, k, s, d, padding = GEOMETRIES[geo]
    oh, ow = _out_hw(h, w, k, s, d, padding)
    rng = np.random.default_rng(geo * 100 + ci)
    x, dy = rand(rng, layout(2, h, w, ci, df)), rand(rng, layout(2, oh, ow, 5, df))

    def build(a, b):
        return apply_op("conv2d_backprop_filter", [a, b], strides=s, dilations=d, padding=padding, data_format=df,
                        filter_shape=k + (ci, 5))

    gemms = _lowered_ops(build, [x, dy]).get("Gemm", 0)
    assert gemms == (1 if ci < 8 else k[0] * k[1]), f"{gemms} Gemm nodes for Cin={ci}, kernel {k}"
    check(build, [x, dy], op="conv2d_backprop_filter", dynamic={0: [0], 1: [0]})


@pytest.mark.parametrize("df", FORMATS)
@pytest.mark.parametrize("geo", range(len(GEOMETRIES)))
def test_conv2d_and_depthwise_backprop_input(df, geo):
    h, w, k, s, d, padding = GEOMETRIES[geo]
    oh, ow = _out_hw(h, w, k, s, d, padding)
    rng = np.random.default_rng(geo)
    for op, ci, co in (("conv2d_backprop_input", 3, 4), ("depthwise_backprop_input", 3, 2)):
        cout = ci * co if op.startswith("depthwise") else co
        dy, f = rand(rng, layout(2, oh, ow, cout, df)), rand(rng, k + (ci, co))
        check(lambda a, b, _op=op: apply_op(_op, [a, b], strides=s, dilations=d, padding=padding, data_format=df,
                                            input_hw=(h, w)), [dy, f], op=op, dynamic={0: [0]})


@pytest.mark.parametrize("df", FORMATS)
@pytest.mark.parametrize("geo", range(len(GEOMETRIES)))
def test_depthwise_backprop_filter(df, geo):
    h, w, k, s, d, padding = GEOMETRIES[geo]
    oh, ow = _out_hw(h, w, k, s, d, padding)
    rng = np.random.default_rng(geo + 50)
    x, dy = rand(rng, layout(2, h, w, 3, df)), rand(rng, layout(2, oh, ow, 6, df))
    check(lambda a, b: apply_op("depthwise_backprop_filter", [a, b], strides=s, dilations=d, padding=padding,
                                data_format=df, filter_shape=k + (3, 2)), [x, dy], op="depthwise_backprop_filter",
          dynamic={0: [0], 1: [0]})


# lenet conv2 and cifarnet conv2 (5x5 SAME, batch unknown when built)
NET_LAYERS = [(14, 32, 64), (16, 64, 64)]


@pytest.mark.parametrize("layer", NET_LAYERS, ids=["lenet_conv2", "cifarnet_conv2"])
def test_net_sized_conv_gradients(layer):
    """atol 1e-4 (not 1e-5): the entries are float32 sums of 400-1600 products (dW over N*H*W, dX over
    25*Cout), of typical size 25-50 and up to ~220; ORT and the float64-accumulated reference differ by up to
    ~4e-5 there, about 1e-6 of the entries' scale (measured: 21 of 51200 dW entries of lenet's conv2 beyond
    1e-5)."""
    hw, ci, co = layer
    rng = np.random.default_rng(hw)
    x, dy, f = rand(rng, (2, hw, hw, ci)), rand(rng, (2, hw, hw, co)), rand(rng, (5, 5, ci, co))
    common = {"strides": (1, 1), "dilations": (1, 1), "padding": "SAME", "data_format": "NHWC"}
    check(lambda a, b: apply_op("conv2d_backprop_filter", [a, b], filter_shape=(5, 5, ci, co), **common), [x, dy],
          op="conv2d_backprop_filter", dynamic={0: [0], 1: [0]}, atol=1e-4)
    check(lambda a, b: apply_op("conv2d_backprop_input", [a, b], input_hw=(hw, hw), **common), [dy, f],
          op="conv2d_backprop_input", dynamic={0: [0]}, atol=1e-4)


# pooling geometries: (h, w, ksize, strides, padding)
POOLS = [
    (6, 6, (2, 2), (2, 2), "VALID"),
    (7, 7, (3, 3), (2, 2), "SAME"),
    (6, 5, (3, 3), (1, 1), "SAME"),
    (7, 7, (2, 2), (3, 3), "SAME"),
    (5, 5, (1, 1), (2, 2), "SAME"),
    (6, 6, (3, 3), (2, 2), ((1, 1), (0, 2))),
]


@pytest.mark.parametrize("df", FORMATS)
@pytest.mark.parametrize("pool", range(len(POOLS)))
@pytest.mark.parametrize("dyn", ["static", "batch", "spatial"])
def test_max_pool_grad_with_ties(df, pool, dyn):
    """Inputs drawn from {0, 1, 2}: most windows hold several maxima, overlapping windows share them. The
    gradient goes to the first maximum of each window in row-major order (TF; the reference)."""
    h, w, k, s, padding = POOLS[pool]
    if dyn == "spatial" and not isinstance(padding, str):
        pytest.skip("explicit padding needs known spatial dimensions")
    oh, ow = _out_hw(h, w, k, s, (1, 1), padding)
    rng = np.random.default_rng(pool)
    x = rng.integers(0, 3, layout(2, h, w, 3, df)).astype(np.float32)
    dy = rand(rng, layout(2, oh, ow, 3, df))
    axes = {"static": [], "batch": [0], "spatial": [1, 2] if df == "NHWC" else [2, 3]}[dyn]
    check(lambda a, b: apply_op("max_pool_grad", [a, b], ksize=k, strides=s, padding=padding, data_format=df),
          [x, dy], op="max_pool_grad", dynamic={0: axes, 1: axes})


def test_max_pool_grad_tie_goes_to_the_first_maximum():
    x = np.array([[1, 3], [3, 3]], np.float32).reshape(1, 2, 2, 1)
    dy = np.full((1, 1, 1, 1), 5.0, np.float32)
    (got,) = check(lambda a, b: apply_op("max_pool_grad", [a, b], ksize=(2, 2), strides=(2, 2), padding="VALID",
                                         data_format="NHWC"), [x, dy], op="max_pool_grad")
    np.testing.assert_array_equal(got.reshape(2, 2), [[0, 5], [0, 0]])


@pytest.mark.parametrize("df", FORMATS)
@pytest.mark.parametrize("pool", range(len(POOLS)))
def test_avg_pool_grad_unknown_batch(df, pool):
    h, w, k, s, padding = POOLS[pool]
    oh, ow = _out_hw(h, w, k, s, (1, 1), padding)
    dy = rand(np.random.default_rng(pool), layout(2, oh, ow, 3, df))
    check(lambda a: apply_op("avg_pool_grad", [a], ksize=k, strides=s, padding=padding, data_format=df,
                             input_shape=layout(None, h, w, 3, df)), [dy], op="avg_pool_grad", dynamic={0: [0]})


@pytest.mark.parametrize("df", FORMATS)
def test_lrn_grad_unknown_batch_and_spatial(df):
    rng = np.random.default_rng(9)
    shape = layout(2, 3, 4, 9, df)
    x, y, dy = (rand(rng, shape) for _ in range(3))
    check(lambda *a: apply_op("lrn_grad", list(a), depth_radius=4, bias=1.0, alpha=0.001 / 9, beta=0.75,
                              data_format=df), [x, y, dy], op="lrn_grad",
          dynamic=[0, 1, 2] if df == "NHWC" else [0, 2, 3])
