"""The backward ops the VJPs emit (slimir/ops/grad_ops.py): ONNX lowering vs numpy reference.

Each is fed the shapes its forward op gives: dy of the forward output's shape for the geometry drawn.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opcheck import broadcastable_pair, check, conv_geometry, examples, hw_axes, layout, rand, seeds, shapes

import slimir as slim
from slimir.ops.nn_ops import out_len
from slimir.ops.registry import apply_op, registered_ops

pytestmark = pytest.mark.skipif("conv2d_backprop_input" not in registered_ops(), reason="no backward ops")


def _out_hw(h, w, k, s, d, padding):
    return tuple(out_len(n, kk, ss, dd, padding, i, "test") for i, (n, kk, ss, dd) in enumerate(zip((h, w), k, s, d)))


@examples(30)
@given(geo=conv_geometry(), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2), ci=st.integers(1, 3),
       co=st.integers(1, 3), depthwise=st.booleans(), seed=seeds)
def test_conv_backprop_input(geo, df, n, ci, co, depthwise, seed):
    """co is the channel multiplier for the depthwise op."""
    h, w, k, s, d, padding = geo
    oh, ow = _out_hw(h, w, k, s, d, padding)
    rng = np.random.default_rng(seed)
    cout = ci * co if depthwise else co
    dy, f = rand(rng, layout(n, oh, ow, cout, df)), rand(rng, k + (ci, co))
    op = "depthwise_backprop_input" if depthwise else "conv2d_backprop_input"
    check(lambda a, b: apply_op(op, [a, b], strides=s, dilations=d, padding=padding, data_format=df,
                                input_hw=(h, w)), [dy, f], op=op)


@examples(30)
@given(geo=conv_geometry(), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2), ci=st.integers(1, 9),
       co=st.integers(1, 3), depthwise=st.booleans(), seed=seeds)
def test_conv_backprop_filter(geo, df, n, ci, co, depthwise, seed):
    """ci up to 9 covers both of conv2d_backprop_filter's lowerings (im2col below 8 channels)."""
    h, w, k, s, d, padding = geo
    oh, ow = _out_hw(h, w, k, s, d, padding)
    rng = np.random.default_rng(seed)
    cout = ci * co if depthwise else co
    x, dy = rand(rng, layout(n, h, w, ci, df)), rand(rng, layout(n, oh, ow, cout, df))
    op = "depthwise_backprop_filter" if depthwise else "conv2d_backprop_filter"
    check(lambda a, b: apply_op(op, [a, b], strides=s, dilations=d, padding=padding, data_format=df,
                                filter_shape=k + (ci, co)), [x, dy], op=op, rtol=1e-4)


@examples(30)
@given(geo=conv_geometry(dilation=False), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2),
       c=st.integers(1, 3), seed=seeds, dyn=st.booleans())
def test_max_pool_grad(geo, df, n, c, seed, dyn):
    h, w, k, s, _, padding = geo
    oh, ow = _out_hw(h, w, k, s, (1, 1), padding)
    rng = np.random.default_rng(seed)
    x, dy = rand(rng, layout(n, h, w, c, df)), rand(rng, layout(n, oh, ow, c, df))
    check(lambda a, b: apply_op("max_pool_grad", [a, b], ksize=k, strides=s, padding=padding, data_format=df),
          [x, dy], op="max_pool_grad", dynamic={0: hw_axes(df), 1: hw_axes(df)} if dyn else {})


@examples(30)
@given(geo=conv_geometry(dilation=False), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2),
       c=st.integers(1, 3), seed=seeds, ties=st.booleans())
def test_max_pool_argmax_and_its_gradient(geo, df, n, c, seed, ties):
    """max_pool_argmax (ONNX MaxPool's Indices: flat NCHW index of each window's first maximum) and the
    scatter of dY at it; `ties` draws inputs from {0, 1, 2} so that most windows hold several maxima."""
    from slimir.ops.grad_ops import max_pool_argmax_reference

    h, w, k, s, _, padding = geo
    oh, ow = _out_hw(h, w, k, s, (1, 1), padding)
    rng = np.random.default_rng(seed)
    shape = layout(n, h, w, c, df)
    x = rng.integers(0, 3, shape).astype(np.float32) if ties else rand(rng, shape)
    dy = rand(rng, layout(n, oh, ow, c, df))
    attrs = dict(ksize=k, strides=s, padding=padding, data_format=df)
    (idx,) = check(lambda a: apply_op("max_pool_argmax", [a], **attrs), [x], op="max_pool_argmax")
    assert idx.dtype == np.int64
    # the pooled maximum sits at the index
    xc = x if df == "NCHW" else np.transpose(x, (0, 3, 1, 2))
    np.testing.assert_array_equal(xc.reshape(-1)[idx], apply_op_ref_max(x, attrs))
    argmax = max_pool_argmax_reference(x, **attrs)
    check(lambda a, b, i: apply_op("max_pool_grad_argmax", [a, b, i], **attrs), [x, dy, argmax],
          op="max_pool_grad_argmax")


def apply_op_ref_max(x, attrs):
    from slimir.ops.registry import get_op

    return get_op("max_pool").reference(x, **attrs)


@examples(30)
@given(geo=conv_geometry(dilation=False), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2),
       c=st.integers(1, 3), seed=seeds)
def test_avg_pool_grad(geo, df, n, c, seed):
    h, w, k, s, _, padding = geo
    oh, ow = _out_hw(h, w, k, s, (1, 1), padding)
    dy = rand(np.random.default_rng(seed), layout(n, oh, ow, c, df))
    check(lambda a: apply_op("avg_pool_grad", [a], ksize=k, strides=s, padding=padding, data_format=df,
                             input_shape=layout(n, h, w, c, df)), [dy], op="avg_pool_grad")


@examples(25)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 8)),
       radius=st.integers(0, 3), bias=st.floats(0.5, 2.0), alpha=st.floats(1e-4, 1.0), beta=st.floats(0.1, 1.0),
       df=st.sampled_from(["NHWC", "NCHW"]), seed=seeds)
def test_lrn_grad(shape, radius, bias, alpha, beta, df, seed):
    rng = np.random.default_rng(seed)
    x, y, dy = (rand(rng, shape) for _ in range(3))
    check(lambda *a: apply_op("lrn_grad", list(a), depth_radius=radius, bias=bias, alpha=alpha, beta=beta,
                              data_format=df), [x, y, dy], op="lrn_grad", rtol=1e-4)


@examples(30)
@given(pair=broadcastable_pair(), seed=seeds, dyn=st.booleans())
def test_sum_to_and_broadcast_like(pair, seed, dyn):
    """sum_to reduces a broadcast result back to an operand's shape; broadcast_like is its adjoint."""
    small, other = pair
    full = np.broadcast_shapes(small, other)
    rng = np.random.default_rng(seed)
    g = rand(rng, full)
    check(lambda a: apply_op("sum_to", [a], shape=small), [g], op="sum_to", dynamic=range(len(full)) if dyn else [])
    check(lambda a, b: apply_op("broadcast_like", [a, b]), [rand(rng, small), g], op="broadcast_like",
          dynamic={1: range(len(full))} if dyn else {})


@examples(25)
@given(shape=shapes(1, 4), data=st.data(), seed=seeds, dtype=st.sampled_from([slim.float32, slim.int64]),
       dyn=st.booleans())
def test_reshape_like_and_num_elements(shape, data, seed, dtype, dyn):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape)
    like = rand(rng, data.draw(st.permutations(shape)))
    dims = range(len(shape)) if dyn else []
    check(lambda a, b: apply_op("reshape_like", [a, b]), [x, like], op="reshape_like", dynamic=dims)
    axes = data.draw(st.one_of(st.none(), st.lists(st.integers(0, len(shape) - 1), unique=True)))
    check(lambda a: apply_op("num_elements", [a], axes=None if axes is None else tuple(axes), dtype=dtype), [x],
          op="num_elements", dynamic=dims)


@examples(25)
@given(shape=shapes(min_rank=1, max_rank=3, max_side=4), data=st.data(), seed=seeds, dyn=st.booleans())
def test_tile_grad(shape, data, seed, dyn):
    """tile_grad sums the tiles of g back onto x's shape, with x's dims read at run time."""
    mult = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape), max_size=len(shape))))
    rng = np.random.default_rng(seed)
    x = rand(rng, shape)
    g = rand(rng, tuple(d * m for d, m in zip(shape, mult)))
    check(lambda a, b: apply_op("tile_grad", [a, b], multiples=mult), [g, x], op="tile_grad",
          dynamic={1: [0]} if dyn else [])


@pytest.mark.parametrize("k, padding, df", [(3, "SAME", "NHWC"), (5, "SAME", "NCHW"), (3, "VALID", "NHWC"),
                                            (1, "VALID", "NCHW"), (4, "SAME", "NHWC")])
def test_conv_backprop_input_on_large_maps(k, padding, df):
    h = w = 20
    oh, ow = _out_hw(h, w, (k, k), (1, 1), (1, 1), padding)
    rng = np.random.default_rng(k)
    dy, f = rand(rng, layout(2, oh, ow, 5, df)), rand(rng, (k, k, 3, 5))
    check(lambda a, b: apply_op("conv2d_backprop_input", [a, b], strides=(1, 1), dilations=(1, 1), padding=padding,
                                data_format=df, input_hw=(h, w)), [dy, f], op="conv2d_backprop_input", atol=1e-4)


@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
def test_max_pool_grad_without_overlap_uses_unpooling_with_first_index_ties(df):
    rng = np.random.default_rng(0)
    x = np.round(rand(rng, layout(2, 8, 6, 3, df)))  # many ties
    dy = rand(rng, layout(2, 4, 3, 3, df))
    check(lambda a, b: apply_op("max_pool_grad", [a, b], ksize=(2, 2), strides=(2, 2), padding="VALID",
                                data_format=df), [x, dy], op="max_pool_grad")
