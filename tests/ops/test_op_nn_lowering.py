"""Convolutions, pooling, bias_add, LRN and batch norm: ONNX lowering on ONNX Runtime vs numpy reference.

Geometry is drawn widely: SAME/VALID (and explicit pads), strides 1-3, dilation 1-2 (only with stride 1,
as TF), kernels 1-5, odd and even sizes, NHWC and NCHW, and spatial dims unknown until run time.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from opcheck import check, conv_geometry, examples, hw_axes, layout, rand, seeds

import slimir as slim
from slimir.ir.registry import apply_op
from slimir.ops import nn_ops
from slimir.ops.nn_ops import transposed_out_len


@examples(40)
@given(geo=conv_geometry(), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2), ci=st.integers(1, 3),
       co=st.integers(1, 3), seed=seeds, dyn=st.booleans())
def test_conv2d(geo, df, n, ci, co, seed, dyn):
    h, w, k, s, d, padding = geo
    rng = np.random.default_rng(seed)
    x, f = rand(rng, layout(n, h, w, ci, df)), rand(rng, k + (ci, co))
    check(lambda a, b: slim.nn.conv2d(a, b, s, padding, data_format=df, dilations=d), [x, f], op="conv2d",
          dynamic={0: hw_axes(df)} if dyn else {})


@examples(30)
@given(geo=conv_geometry(explicit=False), df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2),
       ci=st.integers(1, 3), dm=st.integers(1, 3), seed=seeds, dyn=st.booleans())
def test_depthwise_conv2d(geo, df, n, ci, dm, seed, dyn):
    h, w, k, s, d, padding = geo
    rng = np.random.default_rng(seed)
    x, f = rand(rng, layout(n, h, w, ci, df)), rand(rng, k + (ci, dm))
    check(lambda a, b: slim.nn.depthwise_conv2d(a, b, s, padding, data_format=df, dilations=d), [x, f],
          op="depthwise_conv2d", dynamic={0: hw_axes(df)} if dyn else {})


def _transposed_lengths(size, k, s, padding):
    """Every output length whose forward conv gives `size` (tf.nn.conv2d_transpose accepts each)."""
    if padding == "SAME":
        return [o for o in range((size - 1) * s + 1, size * s + 1)]
    return [o for o in range((size - 1) * s + k, size * s + k) if o >= k]


@examples(40)
@given(h=st.integers(1, 6), w=st.integers(1, 6), k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["SAME", "VALID", "explicit"]),
       df=st.sampled_from(["NHWC", "NCHW"]), n=st.integers(1, 2), ci=st.integers(1, 3), co=st.integers(1, 3),
       data=st.data(), seed=seeds, dyn=st.booleans())
def test_conv2d_transpose(h, w, k, s, padding, df, n, ci, co, data, seed, dyn):
    """tf.nn.conv2d_transpose with any output size the forward conv maps back to the input size."""
    if padding == "explicit":
        padding = tuple((data.draw(st.integers(0, kk - 1)), data.draw(st.integers(0, kk - 1))) for kk in k)
        oh, ow = ((size - 1) * ss + kk - a - b for size, ss, kk, (a, b) in zip((h, w), s, k, padding))
        assume(oh > 0 and ow > 0)
    else:
        oh = data.draw(st.sampled_from(_transposed_lengths(h, k[0], s[0], padding)))
        ow = data.draw(st.sampled_from(_transposed_lengths(w, k[1], s[1], padding)))
    rng = np.random.default_rng(seed)
    x, f = rand(rng, layout(n, h, w, ci, df)), rand(rng, k + (co, ci))
    out_shape = layout(n, oh, ow, co, df)
    check(lambda a, b: slim.nn.conv2d_transpose(a, b, out_shape, s, padding, data_format=df), [x, f],
          op="conv2d_transpose", dynamic={0: hw_axes(df)} if dyn else {})


@examples(30)
@given(h=st.integers(1, 6), w=st.integers(1, 6), k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)), padding=st.sampled_from(["SAME", "VALID"]),
       df=st.sampled_from(["NHWC", "NCHW"]), ci=st.integers(1, 3), co=st.integers(1, 3), seed=seeds,
       dyn=st.booleans())
def test_conv2d_transpose_layer_geometry(h, w, k, s, padding, df, ci, co, seed, dyn):
    """What slim.conv2d_transpose builds: output size from transposed_out_len, or unknown with the input."""
    rng = np.random.default_rng(seed)
    x, f = rand(rng, layout(2, h, w, ci, df)), rand(rng, k + (co, ci))
    out_hw = (None, None) if dyn else (transposed_out_len(h, k[0], s[0], padding),
                                       transposed_out_len(w, k[1], s[1], padding))
    got = check(lambda a, b: apply_op("conv2d_transpose", [a, b], strides=s, padding=padding, data_format=df,
                                      output_hw=out_hw),
                [x, f], op="conv2d_transpose", dynamic={0: hw_axes(df)} if dyn else {})
    want_hw = [transposed_out_len(n_, kk, ss, padding) for n_, kk, ss in zip((h, w), k, s)]
    assert [got[0].shape[a] for a in hw_axes(df)] == want_hw


@examples(40)
@given(geo=conv_geometry(dilation=False), df=st.sampled_from(["NHWC", "NCHW"]),
       kind=st.sampled_from(["max_pool", "avg_pool"]), n=st.integers(1, 2), c=st.integers(1, 3), seed=seeds,
       dyn=st.booleans())
def test_pool(geo, df, kind, n, c, seed, dyn):
    h, w, k, s, _, padding = geo
    x = rand(np.random.default_rng(seed), layout(n, h, w, c, df))
    fn = getattr(nn_ops, kind)
    check(lambda a: fn(a, k, s, padding, data_format=df), [x], op=kind,
          dynamic=hw_axes(df) if dyn and isinstance(padding, str) else [])


@examples(25)
@given(rank=st.integers(2, 5), df=st.sampled_from(["NHWC", "NCHW"]), data=st.data(), seed=seeds, dyn=st.booleans())
def test_bias_add(rank, df, data, seed, dyn):
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    c = shape[1] if df == "NCHW" else shape[-1]
    rng = np.random.default_rng(seed)
    check(lambda a, b: nn_ops.bias_add(a, b, data_format=df), [rand(rng, shape), rand(rng, (c,))], op="bias_add",
          dynamic={0: [i for i in range(rank) if i != (1 if df == "NCHW" else rank - 1)]} if dyn else {})


@examples(30)
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 8)),
       radius=st.integers(0, 3), bias=st.floats(0.5, 2.0), alpha=st.floats(1e-4, 1.0), beta=st.floats(0.1, 1.0),
       seed=seeds, dyn=st.booleans())
def test_lrn(shape, radius, bias, alpha, beta, seed, dyn):
    x = rand(np.random.default_rng(seed), shape)
    check(lambda a: nn_ops.lrn(a, radius, bias, alpha, beta), [x], op="lrn", dynamic=range(4) if dyn else [])


@examples(40)
@given(rank=st.integers(2, 5), channels_first=st.booleans(), is_training=st.booleans(), bessel=st.booleans(),
       eps=st.sampled_from([1e-3, 1e-5, 0.1]), data=st.data(), seed=seeds, dyn=st.booleans())
def test_fused_batch_norm(rank, channels_first, is_training, bessel, eps, data, seed, dyn):
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(rank))
    axis = 1 if channels_first else -1
    c = shape[axis]
    rng = np.random.default_rng(seed)
    inputs = [rand(rng, shape, lo=-3, hi=3), rand(rng, (c,), lo=0.5, hi=2), rand(rng, (c,)), rand(rng, (c,)),
              rand(rng, (c,), lo=0.1, hi=2)]
    check(lambda *a: nn_ops.fused_batch_norm(*a, epsilon=eps, axis=axis, is_training=is_training, bessel=bessel),
          inputs, op="fused_batch_norm", rtol=1e-4 if is_training else 1e-5,
          dynamic={0: range(rank)} if dyn else {})


# ------------------------------------------------------------------------------------------
# TF-Slim's documented shapes, through the ops


def test_tf_slim_documented_conv_shape():
    """input (5, 6, 8, 3), conv 3x3, 32 outputs, stride 2, SAME -> [5, 3, 4, 32]."""
    rng = np.random.default_rng(7)
    (y,) = check(lambda a, b: slim.nn.conv2d(a, b, 2, "SAME"), [rand(rng, (5, 6, 8, 3)), rand(rng, (3, 3, 3, 32))],
                 op="conv2d")
    assert y.shape == (5, 3, 4, 32)


def test_tf_slim_documented_conv2d_transpose_shape():
    """input (5, 9, 11, 3), conv2d_transpose 3x3, 32 outputs, stride 2, VALID -> [5, 19, 23, 32]."""
    rng = np.random.default_rng(8)
    out_hw = (transposed_out_len(9, 3, 2, "VALID"), transposed_out_len(11, 3, 2, "VALID"))
    assert out_hw == (19, 23)
    (y,) = check(lambda a, b: apply_op("conv2d_transpose", [a, b], strides=(2, 2), padding="VALID",
                                       data_format="NHWC", output_hw=out_hw),
                 [rand(rng, (5, 9, 11, 3)), rand(rng, (3, 3, 32, 3))], op="conv2d_transpose")
    assert y.shape == (5, 19, 23, 32)
