"""slimir/ops/index.py: top_k, gather, boolean_mask, cumsum and unsorted_segment_sum lowered to ONNX and run
on ONNX Runtime agree with their numpy references (and with plain numpy), data-dependent sizes included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check, examples, rand, seeds, shapes

import slimir as slim
from slimir import errors
from slimir.ir.reference import evaluate
from slimir.ops import index

FEW = examples(25)


# ------------------------------------------------------------------------------------------
# top_k


@FEW
@given(shape=shapes(1, 3, 1, 6), seed=seeds, dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]),
       ties=st.booleans(), dyn=st.booleans())
def test_top_k_static_k(shape, seed, dtype, ties, dyn):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape, dtype, -3, 3)
    if ties:
        x = np.round(x).astype(dtype)  # many equal values: the lower index must come first
    k = int(rng.integers(0, shape[-1] + 1))
    values, indices = check(lambda a: index.top_k(a, k), [x], op="top_k", dynamic=[0] if dyn else [])
    want = np.argsort(-x.astype(np.float64), axis=-1, kind="stable")[..., :k]
    np.testing.assert_array_equal(indices, want)
    np.testing.assert_array_equal(values, np.take_along_axis(x, want, axis=-1))


@FEW
@given(n=st.integers(0, 40), seed=seeds)
def test_top_k_run_time_k_sorts_everything(n, seed):
    """k given as a tensor (the number of entries, known at run time only): a full stable descending sort."""
    x = np.round(rand(np.random.default_rng(seed), (n,), np.float64, -4, 4), 1)
    values, indices = check(lambda a, k: index.top_k(a, k), [x, np.int32(n)], op="top_k", dynamic={0: [0]})
    np.testing.assert_array_equal(indices, np.argsort(-x, kind="stable"))
    np.testing.assert_array_equal(values, np.sort(x)[::-1])


def test_top_k_errors():
    with slim.Graph().as_default():
        with pytest.raises(errors.InvalidArgumentError, match="at least k=4 columns"):
            index.top_k(slim.zeros([2, 3]), 4)
        with pytest.raises(errors.ShapeError, match="rank >= 1"):
            index.top_k(slim.constant(1.0), 1)
        with pytest.raises(errors.DTypeError):
            index.top_k(slim.constant([True, False]), 1)
        with pytest.raises(errors.ShapeError, match="integer scalar"):
            index.top_k(slim.zeros([3]), slim.constant([1, 2]))


# ------------------------------------------------------------------------------------------
# gather


@FEW
@given(shape=shapes(1, 3, 1, 5), seed=seeds, idx_shape=shapes(0, 2, 0, 4), negative=st.booleans())
def test_gather(shape, seed, idx_shape, negative):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape)
    axis = int(rng.integers(-len(shape), len(shape)))
    n = shape[axis]
    lo = -n if negative else 0
    idx = rng.integers(lo, n, size=idx_shape).astype(np.int32)
    (got,) = check(lambda a, i: index.gather(a, i, axis=axis), [x, idx], op="gather")
    np.testing.assert_array_equal(got, np.take(x, idx, axis=axis))


def test_gather_needs_integer_indices():
    with slim.Graph().as_default(), pytest.raises(errors.DTypeError, match="indices must be integers"):
        index.gather(slim.zeros([3]), slim.constant([0.0, 1.0]))


# ------------------------------------------------------------------------------------------
# boolean_mask


@FEW
@given(shape=shapes(1, 3, 0, 5), seed=seeds, p=st.sampled_from([0.0, 0.5, 1.0]))
def test_boolean_mask(shape, seed, p):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape, np.float64)
    m = rng.random(shape[0]) < p
    (got,) = check(lambda a, b: index.boolean_mask(a, b), [x, m], op="boolean_mask", dynamic=[0])
    np.testing.assert_array_equal(got, x[m])


def test_boolean_mask_of_several_dimensions_and_errors():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    m = np.array([[True, False, True], [False, False, True]])
    (got,) = check(lambda a, b: index.boolean_mask(a, b), [x, m], op="boolean_mask")
    np.testing.assert_array_equal(got, x[m])
    with slim.Graph().as_default():
        with pytest.raises(errors.DTypeError, match="must be bool"):
            index.boolean_mask(slim.zeros([3]), slim.constant([1, 0, 1]))
        with pytest.raises(errors.ShapeError, match="does not fit"):
            index.boolean_mask(slim.zeros([3]), slim.constant([True, False]))


# ------------------------------------------------------------------------------------------
# cumsum


@FEW
@given(shape=shapes(1, 3, 0, 5), seed=seeds, dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]),
       exclusive=st.booleans(), reverse=st.booleans(), dyn=st.booleans())
def test_cumsum(shape, seed, dtype, exclusive, reverse, dyn):
    rng = np.random.default_rng(seed)
    x = rand(rng, shape, dtype, -5, 5)
    axis = int(rng.integers(-len(shape), len(shape)))
    (got,) = check(lambda a: index.cumsum(a, axis, exclusive=exclusive, reverse=reverse), [x], op="cumsum",
                   dynamic=[0] if dyn else [])
    flip = (lambda v: np.flip(v, axis)) if reverse else (lambda v: v)
    want = flip(np.cumsum(flip(x), axis=axis))
    if exclusive:
        want = want - x
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------
# unsorted_segment_sum


@FEW
@given(n=st.integers(0, 30), rest=shapes(0, 2, 1, 3), seed=seeds, segments=st.integers(1, 6),
       dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
def test_unsorted_segment_sum(n, rest, seed, segments, dtype):
    rng = np.random.default_rng(seed)
    data = rand(rng, (n,) + rest, dtype, -5, 5)
    ids = rng.integers(-2, segments + 2, size=n).astype(np.int32)  # ids outside [0, segments) are dropped
    (got,) = check(lambda d, i: index.unsorted_segment_sum(d, i, segments), [data, ids],
                   op="unsorted_segment_sum", dynamic=[0])
    want = np.zeros((segments,) + rest, np.float64)
    for j, s in enumerate(ids):
        if 0 <= s < segments:
            want[s] += data[j]
    np.testing.assert_allclose(got, want.astype(dtype), rtol=1e-5, atol=1e-5)


def test_unsorted_segment_sum_2d_ids_and_opset_13():
    """ids of rank 2 over [2, 3, 2] data; opset 13 has no scatter reduction: the one-hot matmul lowering."""
    data = np.arange(12, dtype=np.float64).reshape(2, 3, 2)
    ids = np.array([[0, 2, 2], [1, 9, 0]], np.int64)
    want = np.array([[0 + 10, 1 + 11], [6, 7], [2 + 4, 3 + 5]], np.float64)  # id 9 is dropped
    for opset in (18, 13):
        with slim.Graph().as_default():
            d = slim.placeholder(slim.float64, [2, 3, 2])
            i = slim.placeholder(slim.int64, [2, 3])
            y = index.unsorted_segment_sum(d, i, 3)
            with slim.Session(opset=opset) as sess:
                np.testing.assert_array_equal(sess.run(y, {d: data, i: ids}), want)
            np.testing.assert_array_equal(evaluate([y], {d: data, i: ids})[0], want)
    with slim.Graph().as_default(), pytest.raises(errors.ShapeError, match="prefix"):
        index.unsorted_segment_sum(slim.zeros([3, 2]), slim.constant([[0, 1]]), 2)
