"""The fused ops the optimisation passes create (fused_conv2d, gemm): ONNX lowering vs numpy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check, conv_geometry, examples, hw_axes, layout, rand, seeds

from slimir.ops.nn_ops import transposed_out_len
from slimir.ops.registry import apply_op, registered_ops

pytestmark = pytest.mark.skipif("fused_conv2d" not in registered_ops(), reason="no fused ops registered")

if "fused_conv2d" in registered_ops():
    from slimir.ops.fused_ops import ACTIVATIONS
else:  # pragma: no cover
    ACTIVATIONS = {}

activations = st.sampled_from([None] + sorted(ACTIVATIONS))


def _act_attrs(act, draw):
    lo = draw(st.floats(-2, 0))
    return dict(activation=act, alpha=draw(st.floats(0, 1)), lo=lo, hi=lo + draw(st.floats(0, 3)))


@examples(40)
@given(conv=st.sampled_from(["conv2d", "depthwise_conv2d", "conv2d_transpose"]), geo=conv_geometry(explicit=False),
       df=st.sampled_from(["NHWC", "NCHW"]), ci=st.integers(1, 3), m=st.integers(1, 3), act=activations,
       with_bias=st.booleans(), data=st.data(), seed=seeds, dyn=st.booleans())
def test_fused_conv2d(conv, geo, df, ci, m, act, with_bias, data, seed, dyn):
    h, w, k, s, d, padding = geo
    rng = np.random.default_rng(seed)
    x = rand(rng, layout(2, h, w, ci, df))
    if conv == "conv2d_transpose":
        f, co = rand(rng, k + (m, ci)), m
        base = dict(strides=s, padding=padding, data_format=df,
                    output_hw=(None, None) if dyn else tuple(transposed_out_len(n, kk, ss, padding)
                                                             for n, kk, ss in zip((h, w), k, s)))
    else:
        f, co = rand(rng, k + (ci, m)), (m if conv == "conv2d" else ci * m)
        base = dict(strides=s, dilations=d, padding=padding, data_format=df)
    inputs = [x, f] + ([rand(rng, (co,))] if with_bias else [])
    check(lambda *a: apply_op("fused_conv2d", list(a), conv=conv, **base, **_act_attrs(act, data.draw)),
          inputs, op="fused_conv2d", dynamic={0: hw_axes(df)} if dyn else {})


@examples(30)
@given(m=st.integers(1, 5), k=st.integers(1, 5), n=st.integers(1, 5), tb=st.booleans(), act=activations,
       data=st.data(), seed=seeds, dyn=st.booleans())
def test_gemm(m, k, n, tb, act, data, seed, dyn):
    rng = np.random.default_rng(seed)
    a, w, bias = rand(rng, (m, k)), rand(rng, (n, k) if tb else (k, n)), rand(rng, (n,))
    check(lambda *x: apply_op("gemm", list(x), transpose_b=tb, **_act_attrs(act, data.draw)), [a, w, bias],
          op="gemm", dynamic={0: [0]} if dyn else {})
