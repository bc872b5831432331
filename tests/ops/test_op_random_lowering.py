"""Random ops and dropout: ONNX Runtime and the numpy reference draw different numbers, so both are
checked for the same distribution (moments, bounds, keep rate) rather than elementwise.

Bounds are 6 standard errors wide: with fixed seeds a failure is a wrong distribution, not bad luck.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from opcheck import examples, rand, seeds

import slimir as slim
from slimir.ir.reference import evaluate
from slimir.ir.registry import apply_op

N = 20000
TRUNC_STD = 0.8796256610342398  # std of a standard normal truncated to [-2, 2]


def _both(build):
    """(ORT values, reference values) of the tensors build() makes in a fresh graph (no inputs)."""
    g = slim.Graph()
    with g.as_default():
        out = build()
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        with slim.Session(graph=g) as sess:
            got = sess.run(outs)
        want = evaluate(outs)
    for t, x, y in zip(outs, got, want):
        assert x.dtype == y.dtype == t.dtype.np
        assert x.shape == y.shape
    return got, want


def _moments_ok(v, mean, std, what):
    se = std / np.sqrt(v.size)
    assert abs(v.mean() - mean) < 6 * se + 1e-6, f"{what}: mean {v.mean()} vs {mean}"
    assert abs(v.std() - std) < 6 * std / np.sqrt(2 * v.size) + 1e-6, f"{what}: std {v.std()} vs {std}"


@examples(25)
@given(kind=st.sampled_from(["random_normal", "random_uniform", "truncated_normal"]), a=st.floats(-3, 3),
       width=st.floats(0.1, 4), seed=st.one_of(st.none(), st.integers(0, 2**20)),
       shape=st.sampled_from([(N,), (100, 200), (8, 50, 50)]),
       dtype=st.sampled_from([slim.float32, slim.float64]))
def test_random_distributions(kind, a, width, seed, shape, dtype):
    fn = getattr(slim, kind)
    got, want = _both(lambda: fn(shape, a, a + width if kind == "random_uniform" else width, dtype=dtype,
                                 seed=seed))
    for v, who in ((got[0], "onnxruntime"), (want[0], "reference")):
        assert v.shape == shape
        if kind == "random_uniform":
            assert v.min() >= a and v.max() <= a + width, who
            _moments_ok(v, a + width / 2, width / np.sqrt(12), who)
        elif kind == "random_normal":
            _moments_ok(v, a, width, who)
        else:
            assert np.all(np.abs(v - a) <= 2 * width * (1 + 1e-6)), who
            _moments_ok(v, a, TRUNC_STD * width, who)


def test_random_ops_are_stateful_and_seeded():
    """Each run draws afresh; the same op-level seed gives the same sequence in a new session."""
    g = slim.Graph()
    with g.as_default():
        r = slim.random_uniform([50], seed=3)
        with slim.Session(graph=g) as s1:
            a, b = s1.run(r), s1.run(r)
        with slim.Session(graph=g) as s2:
            c = s2.run(r)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@examples(30)
@given(rate=st.floats(0.05, 0.9), shape=st.sampled_from([(N,), (40, 25, 20), (2, 30, 30, 12)]), data=st.data(),
       seed=seeds, dyn=st.booleans())
def test_dropout(rate, shape, data, seed, dyn):
    """Kept values are scaled by 1/(1 - rate), dropped ones are 0, about 1 - rate are kept, noise_shape
    broadcasts the mask (e.g. the same mask for every pixel of a channel)."""
    noise = None
    if data.draw(st.booleans()):
        noise = tuple(data.draw(st.sampled_from([d, 1, None] if dyn else [d, 1])) for d in shape)
    x_val = rand(np.random.default_rng(seed), shape, lo=0.5, hi=2.0)
    ph_shape = [None] + list(shape[1:]) if dyn else list(shape)

    def build():
        x = slim.placeholder(slim.float32, ph_shape, name="x")
        build.x = x
        return apply_op("dropout", [x], rate=rate, seed=seed, noise_shape=noise)

    g = slim.Graph()
    with g.as_default():
        y, mask = build()
        with slim.Session(graph=g) as sess:
            got = sess.run([y, mask], {build.x: x_val})
        want = evaluate([y, mask], {build.x: x_val})
    scale = np.float32(1.0 / (1.0 - rate))
    mask_shape = tuple(s if n is None else n for n, s in zip(noise, shape)) if noise else shape
    for (yv, mv), who in ((got, "onnxruntime"), (want, "reference")):
        assert yv.dtype == mv.dtype == np.float32, who
        assert yv.shape == shape and mv.shape == mask_shape, who
        kept = mv != 0
        np.testing.assert_allclose(mv[kept], scale, rtol=1e-6, err_msg=who)
        np.testing.assert_allclose(yv, x_val * mv, rtol=1e-6, err_msg=who)
        p = 1.0 - rate
        assert abs(kept.mean() - p) < 6 * np.sqrt(p * (1 - p) / kept.size) + 1e-9, f"{who}: keep rate {kept.mean()}"


def test_dropout_rate_zero_is_identity():
    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [3, 4])
        y = slim.nn.dropout(x, rate=0.0)
    assert y.op.type == "identity"
