"""Shared helpers for the op tests: run a small graph on ONNX Runtime and on the numpy reference, compare.

`check(build, inputs, op=...)` builds `build(*placeholders)` in a fresh graph, runs it through
`slimir.Session` (ONNX Runtime) and through `slimir.reference.evaluate`, and asserts they agree.
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, Optional, Sequence, Union

import numpy as np
from hypothesis import assume, settings
from hypothesis import strategies as st

import slimir as slim
from slimir.reference import evaluate

RTOL = 1e-5
ATOL = 1e-5
#: SLIMIR_OP_EXAMPLES_SCALE=20 multiplies every max_examples, for a long hunt outside CI.
SCALE = int(os.environ.get("SLIMIR_OP_EXAMPLES_SCALE", "1"))
#: SLIMIR_OP_OPSET=13 lowers at another ONNX opset (the default is the runtime's, 18).
OPSET = int(os.environ["SLIMIR_OP_OPSET"]) if os.environ.get("SLIMIR_OP_OPSET") else None


def examples(n: int) -> settings:
    """Hypothesis settings: `n` examples (times SCALE), no deadline (the first ORT session is slow)."""
    return settings(max_examples=n * SCALE, deadline=None)


def check(build: Callable, inputs: Sequence[np.ndarray], *, op: str, rtol: float = RTOL, atol: float = ATOL,
          dynamic: Union[Iterable[int], dict] = (), variables: Optional[dict] = None) -> list:
    """Run `build(*placeholders)` on ORT and on the reference; assert equal shapes, dtypes and values.

    op: the op type under test; it must appear in the built graph (so no builder silently
        degrades to identity).
    dynamic: axes given as None in every placeholder's static shape (run-time sizes), or a dict
        {input index: axes} for some of the placeholders.
    Returns the ORT outputs.
    """
    g = slim.Graph()
    dyn = dynamic if isinstance(dynamic, dict) else {i: dynamic for i in range(len(inputs))}
    with g.as_default():
        phs = []
        for i, a in enumerate(inputs):
            a = np.asarray(a)
            axes = set(dyn.get(i, ()))
            shape = [None if k in axes else d for k, d in enumerate(a.shape)]
            phs.append(slim.placeholder(slim.as_dtype(a.dtype), shape, name=f"in{i}"))
        out = build(*phs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        assert any(n.type == op for n in g.get_operations()), f"{op} not in the graph built"
        feed = {p: np.asarray(a) for p, a in zip(phs, inputs)}
        with slim.Session(graph=g, **({"opset": OPSET} if OPSET else {})) as sess:
            for v, val in (variables or {}).items():
                sess.set_variable_value(v, val)
            got = sess.run(outs, feed)
        want = evaluate(outs, feed, variables)
    for t, x, y in zip(outs, got, want):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == t.dtype.np, f"{t.name}: ORT dtype {x.dtype}, static {t.dtype.name}"
        assert y.dtype == t.dtype.np, f"{t.name}: reference dtype {y.dtype}, static {t.dtype.name}"
        assert x.shape == y.shape, f"{t.name}: ORT shape {x.shape}, reference {y.shape}"
        assert len(t.shape) == x.ndim and all(s is None or s == d for s, d in zip(t.shape, x.shape)), \
            f"{t.name}: static shape {t.shape}, run-time {x.shape}"
        if x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=t.name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=t.name)
    return got


def rand(rng: np.random.Generator, shape, dtype=np.float32, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    """Random values of `dtype` (uniform floats in [lo, hi), ints in [lo, hi], random bools)."""
    shape = tuple(shape)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(int(lo), int(hi) + 1, size=shape).astype(dt)
    return rng.uniform(lo, hi, size=shape).astype(dt)


seeds = st.integers(0, 2**31 - 1)


@st.composite
def shapes(draw, min_rank: int = 0, max_rank: int = 4, min_side: int = 1, max_side: int = 5) -> tuple:
    """A small array shape."""
    rank = draw(st.integers(min_rank, max_rank))
    return tuple(draw(st.integers(min_side, max_side)) for _ in range(rank))


@st.composite
def broadcastable_pair(draw, max_rank: int = 4) -> tuple:
    """Two shapes that broadcast under numpy rules (dims dropped or set to 1 on either side)."""
    full = draw(shapes(0, max_rank, 1, 4))
    a, b = [], []
    for d in full:
        which = draw(st.sampled_from(["both", "a1", "b1"]))
        a.append(1 if which == "a1" else d)
        b.append(1 if which == "b1" else d)
    a = a[draw(st.integers(0, len(a))):]
    b = b[draw(st.integers(0, len(b))):]
    return tuple(a), tuple(b)


def layout(n, h, w, c, df) -> tuple:
    """An NHWC or NCHW shape."""
    return (n, h, w, c) if df == "NHWC" else (n, c, h, w)


def hw_axes(df) -> list:
    """The spatial axes of a 4-D layout."""
    return [1, 2] if df == "NHWC" else [2, 3]


@st.composite
def conv_geometry(draw, dilation: bool = True, explicit: bool = True):
    """(h, w, kernel, strides, dilations, padding) with a valid output, TF's constraints respected."""
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (1, 1)
    if dilation and s == (1, 1):
        d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    choices = ["SAME", "VALID"] + (["explicit"] if explicit else [])
    padding = draw(st.sampled_from(choices))
    if padding == "explicit":
        padding = tuple((draw(st.integers(0, kk - 1)), draw(st.integers(0, kk - 1))) for kk in k)
    if padding == "VALID":
        assume(h >= (k[0] - 1) * d[0] + 1 and w >= (k[1] - 1) * d[1] + 1)
    elif not isinstance(padding, str):
        assume(all(n + a + b >= (kk - 1) * dd + 1 for n, (a, b), kk, dd in zip((h, w), padding, k, d)))
    return h, w, k, s, d, padding
