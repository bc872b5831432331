"""Property tests on random slim networks (see netgen.py): the optimised export computes what the unoptimised
one computes in ONNX Runtime and passes the full ONNX checker; every single pass preserves the outputs; and
running any pass a second time changes nothing."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from netgen import build_net
from passcheck import export_pair, frozen_copy, new_session, pass_numerics

import slimir as slim
import slimir.passes as P

#: examples per property; SLIMIR_PASS_EXAMPLES=500 for a longer hunt
N = int(os.environ.get("SLIMIR_PASS_EXAMPLES", "60"))
#: passes that extend the graph rather than rewrite it (gradients appends d(loss)/d(vars) to the outputs)
NOT_REWRITES = {"gradients"}
REWRITES = sorted(set(P.PASSES) - NOT_REWRITES)
SETTINGS = settings(
    max_examples=N,
    deadline=None,
    derandomize=True,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _build(data, seed, side_outputs=True):
    g = slim.Graph()
    with g.as_default():
        net = build_net(data.draw, with_side_output=side_outputs)
    sess = new_session(g, seed)
    n, h, w, c = net.shape
    n = n or 2
    shape = (n, c, h, w) if net.data_format == "NCHW" else (n, h, w, c)
    xv = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return net, sess, xv


def _describe(net) -> str:
    return " | ".join(net.log)


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), nchw_input=st.booleans())
def test_optimised_export_equals_unoptimised(data, seed, nchw_input):
    net, sess, xv = _build(data, seed)
    fmt = "NCHW" if nchw_input and net.data_format == "NHWC" else "NHWC"
    try:
        export_pair(net.outputs, sess, [xv], input_format=fmt)  # also runs check_model(full_check=True)
    except AssertionError as e:
        raise AssertionError(f"{_describe(net)} (input_format={fmt}): {e}") from None


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1), name=st.sampled_from(REWRITES))
def test_each_pass_preserves_outputs(data, seed, name):
    net, sess, xv = _build(data, seed)
    try:
        pass_numerics(net.outputs, sess, [xv], [name])
    except AssertionError as e:
        raise AssertionError(f"{name} on {_describe(net)}: {e}") from None


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_pipeline_prefixes_preserve_outputs(data, seed):
    """Each prefix of the inference pipeline (what the later passes see) computes the same outputs."""
    net, sess, xv = _build(data, seed)
    k = data.draw(st.integers(1, len(P.INFERENCE_PIPELINE)))
    try:
        pass_numerics(net.outputs, sess, [xv], P.INFERENCE_PIPELINE[:k])
    except AssertionError as e:
        raise AssertionError(f"{P.INFERENCE_PIPELINE[:k]} on {_describe(net)}: {e}") from None


@SETTINGS
@given(data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_every_pass_is_idempotent(data, seed):
    net, sess, _ = _build(data, seed)
    fr = frozen_copy(net.outputs, sess)
    bad = []
    for name in REWRITES:
        first = P.run(fr.graph, [name], fr.outputs, feeds=fr.feeds)
        n1 = len(first.graph.nodes)
        second = P.run(first.graph, [name], first.outputs, feeds=first.feeds, inplace=True).reports[0]
        if second.changes or second.nodes_before != second.nodes_after or second.nodes_after != n1:
            bad.append(str(second))
    # the whole pipeline, run again on its own result
    first = P.run(fr.graph, P.INFERENCE_PIPELINE, fr.outputs, feeds=fr.feeds)
    again = P.run(first.graph, P.INFERENCE_PIPELINE, first.outputs, feeds=first.feeds, inplace=True)
    if any(r.changes for r in again.reports):
        bad.append("pipeline:\n" + str(again))
    assert not bad, f"{_describe(net)}\n" + "\n".join(bad)
