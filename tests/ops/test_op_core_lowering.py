"""TF-core ops that TF-Slim code and tests mix in: "range", "gather"/"gather_grad", integer random_uniform
("random_uniform_int"), random values of a run-time shape ("random_dynamic"), "assert" (tf.Assert) and
Variable.count_up_to, size/rank, ones/zeros with a scalar shape, stack/unstack, Operation.run — each lowering against
its numpy reference and the values TF-Slim's tests expect."""

from __future__ import annotations

import numpy as np
import pytest
from opcheck import check

import slimir as slim
from slimir.errors import InvalidArgumentError, OutOfRangeError
from slimir.ops import array, index, random, state

# ------------------------------------------------------------------------------------------
# range


def test_range_values_and_dtypes():
    with slim.Graph().as_default() as g:
        cases = {
            "n": (slim.range(10), np.arange(10, dtype=np.int32)),
            "float": (slim.range(1, 2.0, 0.25), np.array([1, 1.25, 1.5, 1.75], np.float32)),
            "down": (slim.range(5, 1, -2), np.array([5, 3], np.int32)),
            "empty": (slim.range(3, 3), np.zeros(0, np.int32)),
            "int64": (slim.range(0, 5, 2, dtype=slim.int64), np.array([0, 2, 4], np.int64)),
            "inexact": (slim.range(0.0, 1.0, 0.3), np.array([0, 0.3, 0.6, 0.9], np.float32)),
        }
        assert cases["n"][0].op.name == "range" and cases["n"][0].shape == [10]
        with slim.Session(graph=g) as sess:
            got = sess.run({k: t for k, (t, _) in cases.items()})
    for k, (t, want) in cases.items():
        assert got[k].dtype == want.dtype, k
        np.testing.assert_allclose(got[k], want, rtol=1e-6, err_msg=k)


def test_range_of_tensors_lowering():
    """Run-time bounds (placeholders): the length is only known when it runs."""
    def build(s, lim, d):
        r = array.range_(s, lim, d)
        assert r.shape == [None]
        return r

    check(build, [np.array(2, np.int32), np.array(17, np.int32), np.array(3, np.int32)], op="range")
    check(build, [np.array(1.5, np.float32), np.array(-2.0, np.float32), np.array(-0.5, np.float32)], op="range")


def test_range_errors():
    with slim.Graph().as_default():
        with pytest.raises(InvalidArgumentError, match="Requires delta != 0"):
            slim.range(0, 3, 0)
        with pytest.raises(InvalidArgumentError, match="Requires start <= limit when delta > 0"):
            slim.range(3, 1)
        with pytest.raises(InvalidArgumentError, match="Requires start >= limit when delta < 0"):
            slim.range(1, 3, -1)


def test_range_in_metric_code():
    """TF-Slim's metric tests build inputs with math_ops.range: cast(range(10), float32) + 1."""
    with slim.Graph().as_default() as g:
        v = slim.cast(slim.range(10), slim.float32) + 1.0
        with slim.Session(graph=g) as sess:
            np.testing.assert_array_equal(sess.run(v), np.arange(1, 11, dtype=np.float32))


# ------------------------------------------------------------------------------------------
# size / rank / ones / zeros with scalar shapes


def test_size_rank_and_scalar_shapes():
    with slim.Graph().as_default() as g:
        empty = slim.size(np.array([]).reshape(0, 3))  # TF-Slim's layers_test: size of an empty input is 0
        s = slim.size(slim.placeholder(slim.float32, [None, 3]), out_type=slim.int64)
        ones_i = slim.ones(10, slim.int32)  # metric_ops_test: array_ops.ones(batch_size, dtypes.int32)
        zeros_f = slim.zeros(4)
        r = slim.rank(np.zeros((2, 3, 4)))
        assert ones_i.shape == [10] and ones_i.dtype is slim.int32 and zeros_f.shape == [4]
        with slim.Session(graph=g) as sess:
            vals = sess.run([empty, s, ones_i, zeros_f, r], {g.get_tensor_by_name("Placeholder:0"): np.zeros((5, 3))})
    assert vals[0] == 0 and vals[0].dtype == np.int32
    assert vals[1] == 15 and vals[1].dtype == np.int64
    np.testing.assert_array_equal(vals[2], np.ones(10, np.int32))
    np.testing.assert_array_equal(vals[3], np.zeros(4, np.float32))
    assert vals[4] == 3


# ------------------------------------------------------------------------------------------
# gather


@pytest.mark.parametrize("axis,pshape,ishape", [(0, (5, 3), (4,)), (1, (2, 6, 3), (2, 3)), (-1, (3, 4), ())])
def test_gather_lowering(axis, pshape, ishape):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(pshape).astype(np.float32)
    i = rng.integers(0, pshape[axis], ishape).astype(np.int64)
    check(lambda a, b: index.gather(a, b, axis=axis), [p, i], op="gather", dynamic={0: [0]} if axis else {})


@pytest.mark.parametrize("axis,pshape,ishape", [(0, (5, 3), (4,)), (1, (2, 6, 3), (2, 3))])
def test_gather_grad_lowering(axis, pshape, ishape):
    from slimir.ir.registry import apply_op

    rng = np.random.default_rng(2)
    p = rng.standard_normal(pshape).astype(np.float32)
    i = rng.integers(0, pshape[axis], ishape).astype(np.int32)
    gshape = pshape[:axis] + ishape + pshape[axis + 1:]
    g = rng.standard_normal(gshape).astype(np.float32)
    check(lambda gg, ii, pp: apply_op("gather_grad", [gg, ii, pp], axis=axis), [g, i, p], op="gather_grad")


# ------------------------------------------------------------------------------------------
# random integers and random values of run-time shapes (drawn fresh every run)


def test_random_uniform_int():
    with slim.Graph().as_default() as g:
        a = slim.random_uniform([2000], 0, 10, dtype=slim.int32, seed=1)
        b = slim.random_uniform((10, 3), maxval=3, dtype=slim.int64, seed=2)
        c = slim.random_uniform([3000], -5, 2**40, dtype=slim.int64)
        with slim.Session(graph=g) as sess:
            av, bv, cv = sess.run([a, b, c])
            av2 = sess.run([a, b, c])[0]
    assert av.dtype == np.int32 and bv.dtype == np.int64 and bv.shape == (10, 3)
    assert set(np.unique(av)) == set(range(10)) and abs(av.mean() - 4.5) < 0.3
    assert bv.min() >= 0 and bv.max() <= 2
    assert cv.min() >= -5 and cv.max() < 2**40 and abs(cv.mean() / 2**39 - 1) < 0.1
    assert not np.array_equal(av, av2)  # a stateful op: new values each run


def test_random_uniform_int_needs_maxval():
    with slim.Graph().as_default():
        with pytest.raises(InvalidArgumentError, match="Must specify maxval for integer dtype"):
            slim.random_uniform([3], dtype=slim.int32)
        with pytest.raises(InvalidArgumentError, match="Need minval < maxval"):
            slim.random_uniform([3], 5, 5, dtype=slim.int32)


def test_random_of_run_time_shape():
    """nasnet's drop_path: random_uniform([tf.shape(net)[0], 1, 1, 1])."""
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 4])
        n = slim.shape(x)[0]
        u = slim.random_uniform([n, 1, 1, 1], 2.0, 3.0)
        z = slim.random_normal([n, 2], 1.0, 2.0)
        t = slim.truncated_normal([n, 5000])
        assert u.shape == [None, 1, 1, 1] and z.shape == [None, 2] and u.op.type == "random_dynamic"
        with slim.Session(graph=g) as sess:
            uv, zv, tv = sess.run([u, z, t], {x: np.zeros((3000, 4))})
    assert uv.shape == (3000, 1, 1, 1) and 2.0 <= uv.min() and uv.max() < 3.0 and abs(uv.mean() - 2.5) < 0.03
    assert zv.shape == (3000, 2) and abs(zv.mean() - 1.0) < 0.1 and abs(zv.std() - 2.0) < 0.1
    assert np.abs(tv).max() <= 2.0 and abs(tv.std() - 0.88) < 0.02  # TF's truncation at two standard deviations


def test_random_dynamic_reference_shape():
    from slimir.ir.reference import evaluate

    with slim.Graph().as_default():
        s = slim.placeholder(slim.int32, [2])
        u = random.random_dynamic("uniform", s, [None, None], 0.0, 1.0, seed=3)
        (v,) = evaluate([u], {s: np.array([4, 2], np.int32)})
    assert v.shape == (4, 2) and v.dtype == np.float32


def test_random_int_metric_value_is_idempotent():
    """TF-Slim's metric_ops_test pattern: random int64 predictions and labels, the update run 10 times; the
    accuracy read afterwards is the same on every read."""
    with slim.Graph().as_default() as g:
        predictions = slim.random_uniform((10, 3), maxval=3, dtype=slim.int64, seed=1)
        labels = slim.random_uniform((10, 3), maxval=3, dtype=slim.int64, seed=2)
        accuracy, update_op = slim.metrics.streaming_accuracy(predictions, labels)
        with slim.Session(graph=g) as sess:
            sess.run(slim.local_variables_initializer())
            for _ in range(10):
                sess.run(update_op)
            first = sess.run(accuracy)
            for _ in range(10):
                assert sess.run(accuracy) == first
    assert 0.0 < first < 1.0


# ------------------------------------------------------------------------------------------
# Assert and count_up_to (the run fails before any variable is written)


def test_assert_op():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [3])
        ok = state.make_assert(slim.reduce_min(x) > 0.0, ["x must be positive:", x], summarize=2)
        assert ok.type == "assert"
        with slim.control_dependencies([ok]):
            y = slim.identity(x * 2.0)
        with slim.Session(graph=g) as sess:
            np.testing.assert_array_equal(sess.run(y, {x: [1, 2, 3]}), [2, 4, 6])
            with pytest.raises(InvalidArgumentError, match=r"x must be positive: \[-1.0 2.0...\]"):
                sess.run(y, {x: [-1, 2, 3]})
            with pytest.raises(InvalidArgumentError):
                sess.run(ok, {x: [0, 2, 3]})


def test_assert_lowering():
    check(lambda c, d: state.make_assert(c, [d]).outputs[1], [np.array(True), np.arange(3, dtype=np.float32)],
          op="assert")


def test_count_up_to():
    """TF's semantics: each run returns the value before the increment; at the limit the run raises
    OutOfRangeError and leaves the variable as it was."""
    with slim.Graph().as_default() as g:
        v = slim.Variable(slim.constant(0, dtype=slim.int64), name="examples")  # prefetch_queue_test's counter
        counter = v.count_up_to(3)
        assert counter.dtype is slim.int64 and counter.shape == []
        with slim.Session(graph=g) as sess:
            sess.run(slim.global_variables_initializer())
            assert [sess.run(counter) for _ in range(3)] == [0, 1, 2]
            with pytest.raises(OutOfRangeError, match="Reached limit of 3"):
                sess.run(counter)
            assert sess.run(v) == 3
            with pytest.raises(OutOfRangeError):
                sess.run(counter)
    with slim.Graph().as_default():
        with pytest.raises(slim.errors.DTypeError):
            slim.Variable(1.0).count_up_to(3)


def test_operation_run():
    """TF's Operation.run(): `init_op.run()` and `update_op.run()` in the default session."""
    with slim.Graph().as_default() as g:
        v = slim.Variable(np.float32(1.0))
        inc = slim.assign_add(v, 2.0)
        with slim.Session(graph=g) as sess:
            with sess.as_default():
                slim.global_variables_initializer().run()
                inc.op.run()
                inc.op.run(session=sess)
            assert sess.run(v) == 5.0
    with slim.Graph().as_default():
        with pytest.raises(slim.errors.GraphError, match="no default session"):
            slim.no_op().run()


# ------------------------------------------------------------------------------------------
# stack / unstack


def test_stack_unstack():
    with slim.Graph().as_default() as g:
        a, b = slim.constant([1, 2]), slim.constant([3, 4])
        s0, s1 = slim.tf_args.array.stack([a, b]), array.stack([a, b], axis=1)
        parts = slim.unstack(slim.constant(np.arange(6).reshape(2, 3)), axis=1)
        assert s0.op.name == "stack" and len(parts) == 3 and parts[0].shape == [2]
        with slim.Session(graph=g) as sess:
            v0, v1, *ps = sess.run([s0, s1] + parts)
    np.testing.assert_array_equal(v0, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(v1, [[1, 3], [2, 4]])
    np.testing.assert_array_equal(np.stack(ps, axis=1), np.arange(6).reshape(2, 3))


# ------------------------------------------------------------------------------------------
# the gradient of REFLECT / SYMMETRIC padding ("mirror_pad_grad"), which cyclegan's and pix2pix's pads need


@pytest.mark.parametrize("mode", ["REFLECT", "SYMMETRIC"])
@pytest.mark.parametrize("paddings", [[[0, 0], [2, 1], [1, 3], [0, 0]], [[1, 0], [0, 0], [3, 3], [2, 2]]])
def test_mirror_pad_grad_lowering(mode, paddings):
    from slimir.ir.registry import apply_op

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    g = rng.standard_normal(np.pad(x, paddings).shape).astype(np.float32)
    pads = tuple(tuple(p) for p in paddings)
    out = check(lambda gg, xx: apply_op("mirror_pad_grad", [gg, xx], paddings=pads, mode=mode), [g, x],
                op="mirror_pad_grad", dynamic={1: [0]} if paddings[0] == [0, 0] else {})
    with slim.Graph().as_default():  # a padded axis of unknown size cannot be folded back
        xs = slim.placeholder(slim.float32, [None, 4])
        with pytest.raises(slim.errors.ShapeError, match="known size of axis 0"):
            apply_op("mirror_pad_grad", [slim.placeholder(slim.float32, [None, 4]), xs], paddings=((1, 1), (0, 0)),
                     mode=mode)
    # the adjoint of numpy's mirror padding: <pad(x), g> == <x, grad>
    np.testing.assert_allclose(np.sum(np.pad(x, paddings, mode=mode.lower()) * g), np.sum(x * out[0]), rtol=1e-4)
