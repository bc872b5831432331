"""Tests of slim.losses and the tf.nn cross-entropy functions, run through slim.Session.

Expected values: numpy references written here, and the numbers TF-Slim's own loss tests document
(tf_slim/losses/loss_ops_test.py), checked to TF's tolerance (3 places) or tighter.
"""

import numpy as np
import pytest

import slimir as slim
from slimir import losses, nn_losses
from slimir.errors import DTypeError, InvalidArgumentError, ShapeError

RTOL = 1e-5
ATOL = 1e-5
TF_ATOL = 1e-3  # assertAlmostEqual(..., 3) in TF-Slim's tests


@pytest.fixture(autouse=True)
def _fresh_graph():
    with slim.Graph().as_default() as g:
        yield g


def _run(*tensors, feed_dict=None):
    with slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        out = sess.run(list(tensors), feed_dict=feed_dict)
    return out[0] if len(out) == 1 else out


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=rtol, atol=atol)


def _c(value, dtype=None, shape=None):
    return slim.constant(value, dtype=dtype, shape=shape)


# ----------------------------------------------------------------------------------------- numpy references


def np_weighted_mean(per_element, weights):
    """TF-Slim weighting, written independently: tile the weights over the trailing dimensions of the
    per-element losses, then sum(losses * w) / count_nonzero(w) (0 when every weight is 0)."""
    x = np.asarray(per_element, np.float64)
    w = np.asarray(weights, np.float64)
    if w.ndim > 1 and w.shape[-1] == 1:
        w = w[..., 0]
    w = w.reshape(w.shape + (1,) * (x.ndim - w.ndim)) * np.ones_like(x)
    n = np.count_nonzero(w)
    return 0.0 if n == 0 else float((x * w).sum() / n)


def np_log_softmax(x, axis=-1):
    x = np.asarray(x, np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_softmax_xent(labels, logits, axis=-1):
    return -(np.asarray(labels, np.float64) * np_log_softmax(logits, axis)).sum(axis=axis)


def np_sigmoid_xent(labels, logits):
    x, z = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    return np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x)))


def np_huber(pred, lab, delta):
    e = np.abs(np.asarray(pred, np.float64) - np.asarray(lab, np.float64))
    return np.where(e <= delta, 0.5 * e**2, 0.5 * delta**2 + delta * (e - delta))


def np_pairwise(pred, lab, weights=1.0):
    """Sum over examples of w_b * mean over all ordered pairs (i, j) of ((p_i - p_j) - (l_i - l_j))**2."""
    p = np.asarray(pred, np.float64).reshape(len(pred), -1)
    q = np.asarray(lab, np.float64).reshape(len(lab), -1)
    w = np.broadcast_to(np.asarray(weights, np.float64).reshape(-1), (len(p),))
    total = 0.0
    for b in range(len(p)):
        d = (p[b][:, None] - p[b][None, :]) - (q[b][:, None] - q[b][None, :])
        total += w[b] * (d**2).sum() / d.size
    return total


# -------------------------------------------------------------------------------------- absolute_difference


class TestAbsoluteDifference:
    P = np.array([4, 8, 12, 8, 1, 3], np.float32).reshape(2, 3)
    L = np.array([1, 9, 2, -5, -2, 6], np.float32).reshape(2, 3)

    def _loss(self, weights=1.0):
        return losses.absolute_difference(_c([4, 8, 12, 8, 1, 3], shape=(2, 3)),
                                          _c([1, 9, 2, -5, -2, 6], shape=(2, 3)), weights)

    def test_weights_none_raises_value_error(self):
        with pytest.raises(ValueError):
            losses.absolute_difference(_c(self.P), _c(self.P), weights=None)

    def test_all_correct(self):
        _close(_run(losses.absolute_difference(_c(self.P), _c(self.P))), 0.0)

    @pytest.mark.parametrize("weights, expected", [
        (1.0, 5.5),
        (2.3, 5.5 * 2.3),
        ("tensor 2.3", 5.5 * 2.3),
        (np.array([1.2, 0.0], np.float32), 5.6),               # per batch, one row absent
        (np.array([[1.2], [0.0]], np.float32), 5.6),           # [batch, 1]
        (np.array([3, 6, 5, 0, 4, 2], np.float32).reshape(2, 3), 16.6),  # per element
        (np.array([0, 0, 0, 0, 0, 2], np.float32).reshape(2, 3), 6.0),
        (np.zeros((2, 3), np.float32), 0.0),
    ])
    def test_tf_slim_values(self, weights, expected):
        if isinstance(weights, str):
            weights = _c(2.3)
        elif isinstance(weights, np.ndarray):
            weights = _c(weights)
        loss = self._loss(weights)
        assert loss.shape.as_list() == []
        assert loss.dtype is slim.float32
        _close(_run(loss), expected)

    def test_int_inputs_are_cast_and_name(self):
        loss = self._loss()
        assert loss.op.name == "absolute_difference/value"
        assert losses.get_losses() == [loss]

    def test_incompatible_shapes_name_both(self):
        with pytest.raises(ShapeError, match=r"\[2, 3\].*\[3, 2\]"):
            losses.absolute_difference(_c(self.P), _c(self.P.reshape(3, 2)))

    def test_weights_that_do_not_fit_raise(self):
        with pytest.raises(ShapeError, match=r"weights of shape \[3\].*losses of shape \[2, 3\]"):
            losses.absolute_difference(_c(self.P), _c(self.L), _c([1.0, 2.0, 3.0]))
        with pytest.raises(ShapeError):
            losses.absolute_difference(_c(self.P), _c(self.L), _c(np.ones((2, 3, 4), np.float32)))


# --------------------------------------------------------------------------------------- weighting (random)


class TestWeightingAgainstNumpy:
    SHAPE = (4, 3, 5)

    @pytest.mark.parametrize("wshape", [(), (4,), (4, 1), (4, 3), (4, 3, 1), (4, 3, 5)])
    @pytest.mark.parametrize("zeros", [False, True])
    def test_mean_squared_error(self, wshape, zeros):
        rng = np.random.default_rng(hash((wshape, zeros)) % 2**32)
        p = rng.normal(size=self.SHAPE).astype(np.float32)
        lab = rng.normal(size=self.SHAPE).astype(np.float32)
        w = rng.uniform(0.5, 2.0, size=wshape).astype(np.float32)
        if zeros and w.ndim:
            w.reshape(-1)[::2] = 0.0  # every other weight absent: the denominator counts non-zero weights
        loss = losses.mean_squared_error(_c(p), _c(lab), _c(w))
        _close(_run(loss), np_weighted_mean((p.astype(np.float64) - lab) ** 2, w))

    def test_scalar_zero_weight_gives_zero(self):
        ones, zeros = _c(np.ones((2, 3), np.float32)), _c(np.zeros((2, 3), np.float32))
        loss = losses.mean_squared_error(ones, zeros, 0.0)
        _close(_run(loss), 0.0)

    def test_all_zero_per_batch_weights_give_zero(self):
        loss = losses.log_loss(_c(np.full((2, 3), 0.3, np.float32)), _c(np.ones((2, 3), np.float32)),
                               _c([0.0, 0.0]))
        _close(_run(loss), 0.0)

    def test_dynamic_batch_and_dynamic_weights(self):
        rng = np.random.default_rng(0)
        p = rng.normal(size=(6, 4)).astype(np.float32)
        lab = rng.normal(size=(6, 4)).astype(np.float32)
        w = np.array([1.0, 0.0, 2.0, 0.0, 0.5, 3.0], np.float32)
        pp = slim.placeholder(slim.float32, [None, 4], name="p")
        lp = slim.placeholder(slim.float32, [None, 4], name="l")
        wp = slim.placeholder(slim.float32, [None], name="w")
        scalar = losses.absolute_difference(pp, lp)
        per_batch = losses.absolute_difference(pp, lp, wp)
        got = _run(scalar, per_batch, feed_dict={pp: p, lp: lab, wp: w})
        _close(got[0], np.abs(p.astype(np.float64) - lab).mean())
        _close(got[1], np_weighted_mean(np.abs(p.astype(np.float64) - lab), w))

    def test_dynamic_trailing_dims(self):
        rng = np.random.default_rng(1)
        p = rng.normal(size=(2, 3, 4)).astype(np.float32)
        lab = rng.normal(size=(2, 3, 4)).astype(np.float32)
        w = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]], np.float32)
        pp = slim.placeholder(slim.float32, [None, None, None], name="p")
        loss = losses.mean_squared_error(pp, _c(lab), _c(w))
        _close(_run(loss, feed_dict={pp: p}), np_weighted_mean((p.astype(np.float64) - lab) ** 2, w))

    def test_float64_losses_keep_their_dtype(self):
        x = np.array([[1.0, 2.0], [3.0, 4.0]])
        loss = losses.compute_weighted_loss(_c(x, dtype=slim.float64), _c([1.0, 0.0]))
        assert loss.dtype is slim.float64
        _close(_run(loss), 1.5)

    def test_single_element_weight_vector_follows_tf_slim_formula(self):
        # TF-Slim's _num_present counts a shape-[1] weight as one batch row of prod(shape[1:]) elements,
        # so the sum over the whole batch is divided by 3 here, not by 6 (a scalar weight divides by 6).
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        vec = losses.compute_weighted_loss(_c(x), _c([2.0]))
        scalar = losses.compute_weighted_loss(_c(x), 2.0)
        _close(_run(vec), 2.0 * x.sum() / 3)
        _close(_run(scalar), 2.0 * x.sum() / 6)

    def test_compute_weighted_loss_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.compute_weighted_loss(_c([1.0, 2.0]), weights=None)

    def test_compute_weighted_loss_scope_and_collection(self):
        loss = losses.compute_weighted_loss(_c([1.0, 2.0, 3.0]), scope="mine")
        assert loss.op.name == "mine/value"
        assert losses.get_losses() == [loss]
        _close(_run(loss), 2.0)
        default = losses.compute_weighted_loss(_c([1.0, 2.0, 3.0]))
        assert default.op.name == "weighted_loss/value"


# --------------------------------------------------------------------------------------- mean_squared_error


class TestMeanSquaredError:
    def _pl(self):
        return _c([4, 8, 12, 8, 1, 3], shape=(2, 3)), _c([1, 9, 2, -5, -2, 6], shape=(2, 3))

    def test_weights_none_raises(self):
        p, _ = self._pl()
        with pytest.raises(ValueError):
            losses.mean_squared_error(p, p, weights=None)

    @pytest.mark.parametrize("weights, expected", [
        (None, 49.5),
        (2.3, 49.5 * 2.3),
        (np.array([1.2, 3.4], np.float32), 767.8 / 6.0),
        (np.array([[1.2], [3.4]], np.float32), 767.8 / 6.0),
        (np.array([3, 6, 5, 0, 4, 2], np.float32).reshape(2, 3), 587 / 5.0),
        (np.array([0, 0, 0, 0, 0, 2], np.float32).reshape(2, 3), 18.0),
        (np.zeros((2, 3), np.float32), 0.0),
    ])
    def test_tf_slim_values(self, weights, expected):
        p, lab = self._pl()
        if weights is None:
            loss = losses.mean_squared_error(p, lab)
        else:
            w = _c(weights) if isinstance(weights, np.ndarray) else weights
            loss = losses.mean_squared_error(p, lab, w)
        _close(_run(loss), expected)

    def test_sum_of_squares_is_the_same_loss(self):
        p, lab = self._pl()
        loss = losses.sum_of_squares(p, lab)
        assert loss.op.name == "mean_squared_error/value"
        _close(_run(loss), 49.5)


# ----------------------------------------------------------------------------------------------- softmax CE

LOGITS = [[10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]
RIGHT = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
WRONG = [[0, 0, 1], [1, 0, 0], [0, 1, 0]]


class TestSoftmaxCrossEntropy:
    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.softmax_cross_entropy(_c(LOGITS), _c(RIGHT), weights=None)

    def test_all_correct_and_name(self):
        loss = losses.softmax_cross_entropy(_c(LOGITS), _c(RIGHT))
        assert loss.op.name == "softmax_cross_entropy_loss/value"
        _close(_run(loss), 0.0, atol=TF_ATOL)

    def test_all_wrong(self):
        loss = losses.softmax_cross_entropy(_c(LOGITS), _c(WRONG))
        _close(_run(loss), 10.0, rtol=1e-4)
        _close(_run(loss), np_softmax_xent(WRONG, LOGITS).mean())

    @pytest.mark.parametrize("weights, expected", [
        (2.3, 2.3 * 10.0),
        ("tensor 2.3", 2.3 * 10.0),
        ([1.2, 3.4, 5.6], (1.2 + 3.4 + 5.6) * 10.0 / 3.0),
        ([0.0, 0.0, 0.0], 0.0),
        ([1.2, 0.0, 0.0], 12.0),
    ])
    def test_weights(self, weights, expected):
        w = _c(2.3) if isinstance(weights, str) else (_c(weights) if isinstance(weights, list) else weights)
        loss = losses.softmax_cross_entropy(_c(LOGITS), _c(WRONG), w)
        _close(_run(loss), expected, rtol=1e-4, atol=TF_ATOL)

    def test_measurement_specific_weights_raise(self):
        w = _c([[3, 4, 5], [2, 6, 0], [8, 0, 1]])
        with pytest.raises(ValueError, match=r"\[3, 3\].*\[3\]"):
            losses.softmax_cross_entropy(_c(LOGITS), _c(RIGHT), weights=w)

    def test_label_smoothing(self):
        loss = losses.softmax_cross_entropy(_c([[100.0, -100.0, -100.0]]), _c([[1, 0, 0]]),
                                            label_smoothing=0.1)
        assert loss.op.name == "softmax_cross_entropy_loss/value"
        _close(_run(loss), 400.0 * 0.1 / 3.0, rtol=1e-5)

    def test_label_smoothing_dynamic_classes(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(4, 5)).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[[0, 3, 1, 4]]
        xp = slim.placeholder(slim.float32, [None, None], name="x")
        yp = slim.placeholder(slim.float32, [None, None], name="y")
        loss = losses.softmax_cross_entropy(xp, yp, label_smoothing=0.2)
        ys = y * 0.8 + 0.2 / 5
        _close(_run(loss, feed_dict={xp: x, yp: y}), np_softmax_xent(ys, x).mean())

    @pytest.mark.parametrize("shape, weights", [([None], [2.3, 2.4, 2.5]),
                                                ([None, None], [[2.3], [2.4], [2.5]])])
    def test_dynamically_shaped_weights(self, shape, weights):
        wp = slim.placeholder(slim.float32, shape, name="w")
        loss = losses.softmax_cross_entropy(_c(LOGITS), _c(WRONG), wp)
        _close(_run(loss, feed_dict={wp: weights}), np.average(weights) * 10.0, rtol=1e-4)

    def test_random_against_numpy(self):
        rng = np.random.default_rng(3)
        x = (rng.normal(size=(8, 7)) * 4).astype(np.float32)
        y = rng.dirichlet(np.ones(7), size=8).astype(np.float32)
        w = rng.uniform(size=8).astype(np.float32)
        w[[1, 5]] = 0
        loss = losses.softmax_cross_entropy(_c(x), _c(y), _c(w))
        _close(_run(loss), np_weighted_mean(np_softmax_xent(y, x), w))

    def test_shape_mismatch_raises(self):
        with pytest.raises(ShapeError, match=r"logits of shape \[3, 3\].*onehot_labels of shape \[3, 2\]"):
            losses.softmax_cross_entropy(_c(LOGITS), _c([[1, 0], [0, 1], [1, 0]]))


# ---------------------------------------------------------------------------------------- sparse softmax CE


class TestSparseSoftmaxCrossEntropy:
    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.sparse_softmax_cross_entropy(_c(LOGITS), _c([[0], [1], [2]]), weights=None)

    @pytest.mark.parametrize("labels, expected", [
        (([[0], [1], [2]], slim.int32), 0.0),
        (([[0], [1], [2]], slim.int64), 0.0),
        (([0, 1, 2], None), 0.0),
        (([[2], [0], [1]], slim.int32), 10.0),
        (([[2], [0], [1]], slim.int64), 10.0),
        (([2, 0, 1], None), 10.0),
    ])
    def test_tf_slim_values(self, labels, expected):
        loss = losses.sparse_softmax_cross_entropy(_c(LOGITS), _c(labels[0], dtype=labels[1]))
        assert loss.op.name == "sparse_softmax_cross_entropy_loss/value"
        _close(_run(loss), expected, rtol=1e-4, atol=TF_ATOL)

    @pytest.mark.parametrize("weights, expected", [
        (2.3, 23.0),
        ("tensor 2.3", 23.0),
        ([1.2, 3.4, 5.6], (1.2 + 3.4 + 5.6) * 10.0 / 3.0),
        ([[1.2], [3.4], [5.6]], (1.2 + 3.4 + 5.6) * 10.0 / 3.0),
        ([0.0, 0.0, 0.0], 0.0),
        ([1.2, 0.0, 0.0], 12.0),
    ])
    def test_weights(self, weights, expected):
        w = _c(2.3) if isinstance(weights, str) else (_c(weights) if isinstance(weights, list) else weights)
        loss = losses.sparse_softmax_cross_entropy(_c(LOGITS), _c([[2], [0], [1]]), w)
        _close(_run(loss), expected, rtol=1e-4, atol=TF_ATOL)

    @pytest.mark.parametrize("logits, labels, weights", [
        (np.full((3, 3), 100.0, np.float32), [[0], [1], [2]], [[3, 4, 5], [2, 6, 0], [8, 0, 1]]),  # per elt
        (np.full((3, 3), 100.0, np.float32), [[0], [1], [2]], [1.2, 3.4, 5.6, 7.8]),  # too many weights
        (np.full((3, 3), 100.0, np.float32), [[0], [1], [2], [3]], [1.2, 3.4, 5.6]),  # too many labels
        (np.full((4, 4), 100.0, np.float32), [[0], [1], [2], [3]], [[1.2, 3.4], [5.6, 7.8]]),  # weight shape
        (np.full((4, 4), 100.0, np.float32), [[0, 1], [2, 3]], [1.2, 3.4, 5.6, 7.8]),  # label shape
    ])
    def test_inconsistent_shapes_raise(self, logits, labels, weights):
        with pytest.raises(ValueError):
            losses.sparse_softmax_cross_entropy(_c(logits), _c(labels), weights=_c(weights))

    @pytest.mark.parametrize("shape, weights", [([None], [2.3, 2.4, 2.5]),
                                                ([None, None], [[2.3], [2.4], [2.5]])])
    def test_dynamically_shaped_weights(self, shape, weights):
        wp = slim.placeholder(slim.float32, shape, name="w")
        loss = losses.sparse_softmax_cross_entropy(_c(LOGITS), _c([2, 0, 1]), wp)
        _close(_run(loss, feed_dict={wp: weights}), np.average(weights) * 10.0, rtol=1e-4)

    def test_random_against_numpy_with_dynamic_batch(self):
        rng = np.random.default_rng(4)
        x = (rng.normal(size=(9, 6)) * 3).astype(np.float32)
        y = rng.integers(0, 6, size=(9, 1)).astype(np.int64)
        xp = slim.placeholder(slim.float32, [None, 6], name="x")
        yp = slim.placeholder(slim.int64, [None, 1], name="y")
        loss = losses.sparse_softmax_cross_entropy(xp, yp)
        expected = -np_log_softmax(x)[np.arange(9), y[:, 0]].mean()
        _close(_run(loss, feed_dict={xp: x, yp: y}), expected)

    def test_float_labels_raise(self):
        with pytest.raises(DTypeError):
            losses.sparse_softmax_cross_entropy(_c(LOGITS), _c([0.0, 1.0, 2.0]))


# ----------------------------------------------------------------------------------------------- sigmoid CE

BIG = [[100.0, -100.0, -100.0], [-100.0, 100.0, -100.0], [-100.0, -100.0, 100.0]]


class TestSigmoidCrossEntropy:
    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.sigmoid_cross_entropy(_c(BIG), _c(RIGHT), weights=None)

    def test_all_correct(self):
        loss = losses.sigmoid_cross_entropy(_c(BIG), _c(RIGHT))
        assert loss.op.name == "sigmoid_cross_entropy_loss/value"
        _close(_run(loss), 0.0, atol=TF_ATOL)

    @pytest.mark.parametrize("n", [1, 2])
    def test_placeholders_and_ones_like_weights(self, n):
        x = slim.placeholder(slim.float32, [None, n], name="x")
        y = slim.placeholder(slim.float32, [None, n], name="y")
        loss = losses.sigmoid_cross_entropy(x, y, slim.ones_like(x))
        got = _run(loss, feed_dict={x: np.ones((32, n)), y: np.ones((32, n))})
        _close(got, 0.313, atol=TF_ATOL)
        _close(got, np.log1p(np.exp(-1.0)))

    def test_all_wrong(self):
        loss = losses.sigmoid_cross_entropy(_c(BIG), _c(WRONG))
        _close(_run(loss), 600.0 / 9.0)

    def test_all_wrong_measurement_specific_weights(self):
        loss = losses.sigmoid_cross_entropy(_c(BIG), _c(WRONG), _c([[3, 4, 5], [2, 6, 0], [8, 0, 1]]))
        _close(_run(loss), 1700.0 / 7.0)

    def test_multi_correct(self):
        logits = [[100.0, -100.0, 100.0], [100.0, 100.0, -100.0], [-100.0, 100.0, 100.0]]
        labels = [[1, 0, 1], [1, 1, 0], [0, 1, 1]]
        _close(_run(losses.sigmoid_cross_entropy(_c(logits), _c(labels))), 0.0, atol=TF_ATOL)

    def test_label_smoothing(self):
        loss = losses.sigmoid_cross_entropy(_c([[100.0, -100.0, -100.0]]), _c([[1, 0, 1]]),
                                            label_smoothing=0.1)
        _close(_run(loss), (100.0 + 50.0 * 0.1) / 3.0)

    def test_label_smoothing_equals_two_class_softmax(self):
        sig = losses.sigmoid_cross_entropy(_c([[100.0, -100.0, -100.0]]), _c([[1, 0, 1]]),
                                           label_smoothing=0.1)
        soft = losses.softmax_cross_entropy(_c([[0.0, 100.0], [100.0, 0.0], [100.0, 0.0]]),
                                            _c([[0, 1], [1, 0], [0, 1]]), label_smoothing=0.1)
        a, b = _run(sig, soft)
        _close(a, b, rtol=1e-5)

    def test_random_against_numpy(self):
        rng = np.random.default_rng(5)
        x = (rng.normal(size=(5, 4)) * 6).astype(np.float32)
        z = rng.uniform(size=(5, 4)).astype(np.float32)
        w = rng.uniform(size=(5, 4)).astype(np.float32)
        w[w < 0.3] = 0
        loss = losses.sigmoid_cross_entropy(_c(x), _c(z), _c(w))
        _close(_run(loss), np_weighted_mean(np_sigmoid_xent(z, x), w))


# ------------------------------------------------------------------------------------------------- log_loss


class TestLogLoss:
    P = np.asarray([.9, .2, .2, .8, .4, .6]).reshape((2, 3))
    L = np.asarray([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).reshape((2, 3))
    EXPECTED = L * np.log(P + 1e-7) + (1 - L) * np.log(1 - P + 1e-7)  # (negated) per-element losses

    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.log_loss(_c(self.L), _c(self.L), weights=None)

    def test_all_correct(self):
        _close(_run(losses.log_loss(_c(self.L), _c(self.L))), 0.0, atol=TF_ATOL)
        pp = slim.placeholder(slim.float32, [2, 3], name="p")
        _close(_run(losses.log_loss(pp, _c(self.L)), feed_dict={pp: self.L}), 0.0, atol=TF_ATOL)

    def test_non_zero(self):
        _close(_run(losses.log_loss(_c(self.P), _c(self.L))), -self.EXPECTED.sum() / 6.0)

    @pytest.mark.parametrize("ph_shape", [None, [2, 3], [None, None]])
    def test_scalar_weights(self, ph_shape):
        if ph_shape is None:
            pred, feed = _c(self.P), None
        else:
            pred = slim.placeholder(slim.float32, ph_shape, name="p")
            feed = {pred: self.P}
        loss = losses.log_loss(pred, _c(self.L), _c(2.3))
        _close(_run(loss, feed_dict=feed), 2.3 * -self.EXPECTED.sum() / 6.0)

    @pytest.mark.parametrize("weights, w_full, denom", [
        ([1.2, 3.4], [1.2, 1.2, 1.2, 3.4, 3.4, 3.4], 6.0),
        ([1.2, 0.0], [1.2, 1.2, 1.2, 0, 0, 0], 3.0),
        ([[1.2], [0.0]], [1.2, 1.2, 1.2, 0, 0, 0], 3.0),
        (np.array([3, 6, 5, 0, 4, 2]).reshape(2, 3), [3, 6, 5, 0, 4, 2], 5.0),
        (np.array([0, 0, 0, 0, 0, 2]).reshape(2, 3), [0, 0, 0, 0, 0, 2], 1.0),
    ])
    def test_tf_slim_weights(self, weights, w_full, denom):
        expected = -(self.EXPECTED * np.asarray(w_full, np.float64).reshape(2, 3)).sum() / denom
        loss = losses.log_loss(_c(self.P), _c(self.L), _c(np.asarray(weights, np.float32)))
        _close(_run(loss), expected)
        pp = slim.placeholder(slim.float32, [2, 3], name="p")
        loss = losses.log_loss(pp, _c(self.L), _c(np.asarray(weights, np.float32)))
        _close(_run(loss, feed_dict={pp: self.P}), expected)

    def test_weights_same_rank_wrong_shape_raise(self):
        with pytest.raises(ValueError):
            losses.log_loss(_c(self.P), _c(self.L), _c(np.random.normal(size=(2, 4))))

    def test_all_zero_weights(self):
        _close(_run(losses.log_loss(_c(self.P), _c(self.L), slim.zeros((2, 3)))), 0.0)


# ----------------------------------------------------------------------------------------------- hinge_loss


class TestHingeLoss:
    def test_incompatible_shapes(self):
        with pytest.raises(ValueError):
            losses.hinge_loss(_c([[-1.0], [2.1]]), _c([0.0, 1.0]))

    def test_all_outside_margin(self):
        loss = losses.hinge_loss(_c([1.2, -1.4, -1.0, 2.1]), _c([1.0, 0.0, 0.0, 1.0]))
        _close(_run(loss), [0.0, 0.0, 0.0, 0.0])

    def test_some_inside_margin(self):
        loss = losses.hinge_loss(_c([[-0.7], [-1.4], [1.4], [0.6]]), _c([[0.0], [0.0], [1.0], [1.0]]))
        _close(_run(loss), [[0.3], [0.0], [0.0], [0.4]])

    def test_some_misclassified(self):
        loss = losses.hinge_loss(_c([[[1.2], [0.4], [-1.0], [-1.1]]]), _c([[[1.0], [0.0], [0.0], [1.0]]]))
        _close(_run(loss), [[[0.0], [1.4], [0.0], [2.1]]])

    def test_not_collected_until_weighted(self):
        per_element = losses.hinge_loss(_c([1.2, 0.4, -1.0, -1.1]), _c([1.0, 0.0, 0.0, 1.0]))
        assert losses.get_losses() == []
        loss = losses.compute_weighted_loss(per_element)
        assert losses.get_losses() == [loss]
        got = _run(per_element, loss)
        _close(got[0], [0.0, 1.4, 0.0, 2.1])
        _close(got[1], 3.5 / 4.0)


# ----------------------------------------------------------------------------------------------- huber_loss


class TestHuberLoss:
    @pytest.mark.parametrize("delta", [1.0, 0.5, 2.5])
    def test_against_numpy(self, delta):
        rng = np.random.default_rng(6)
        p = (rng.normal(size=(6, 4)) * 2).astype(np.float32)
        lab = (rng.normal(size=(6, 4)) * 2).astype(np.float32)
        loss = losses.huber_loss(_c(p), _c(lab), delta=delta)
        assert loss.op.name == "huber_loss/value"
        assert losses.get_losses() == [loss]
        _close(_run(loss), np_huber(p, lab, delta).mean())

    def test_default_delta_is_one(self):
        loss = losses.huber_loss(_c([0.0, 0.0, 0.0, 0.0]), _c([0.5, -1.0, 2.0, -3.0]))
        _close(_run(loss), (0.125 + 0.5 + 1.5 + 2.5) / 4)

    def test_symmetric_in_labels_and_predictions(self):
        a = losses.huber_loss(_c([0.3, 4.0]), _c([1.0, -2.0]))
        b = losses.huber_loss(labels=_c([0.3, 4.0]), predictions=_c([1.0, -2.0]))
        got = _run(a, b)
        _close(got[0], got[1])

    @pytest.mark.parametrize("wshape", [(6, 1), (6, 4), (1, 4), ()])
    def test_weights_broadcast_as_tf_losses(self, wshape):
        rng = np.random.default_rng(7)
        p = rng.normal(size=(6, 4)).astype(np.float32) * 3
        lab = rng.normal(size=(6, 4)).astype(np.float32)
        w = rng.uniform(0.5, 1.5, size=wshape).astype(np.float32)
        if w.ndim:
            w.reshape(-1)[0] = 0.0
        loss = losses.huber_loss(_c(p), _c(lab), _c(w))
        full = np.broadcast_to(w, (6, 4)).astype(np.float64)
        expected = (np_huber(p, lab, 1.0) * full).sum() / max(np.count_nonzero(full), 1)
        _close(_run(loss), expected)

    def test_weights_of_other_rank_raise(self):
        with pytest.raises(ShapeError, match=r"\[6\].*\[6, 4\]"):
            losses.huber_loss(_c(np.zeros((6, 4))), _c(np.zeros((6, 4))), _c(np.ones(6)))

    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.huber_loss(_c([1.0]), _c([2.0]), weights=None)

    def test_loss_collection(self):
        a = losses.huber_loss(_c([1.0]), _c([2.0]), loss_collection=None)
        b = losses.huber_loss(_c([1.0]), _c([2.0]), loss_collection="aux")
        assert losses.get_losses() == []
        assert losses.get_losses(loss_collection="aux") == [b]
        _close(_run(a), 0.5)


# -------------------------------------------------------------------------------------------- mean_pairwise


class TestMeanPairwiseSquaredError:
    P = np.array([[4, 8, 12], [8, 1, 3]])
    L = np.array([[1, 9, 2], [-5, -5, 7]])

    def _expected(self):
        out = np.zeros((2, 1))
        for b in range(2):
            for i in range(3):
                for j in range(3):
                    x = self.P[b, i] - self.P[b, j]
                    y = self.L[b, i] - self.L[b, j]
                    out[b] += (x - y) ** 2
        return out / 9.0

    def test_reference_matches_tf_slim_manual_loop(self):
        _close(np_pairwise(self.P, self.L), self._expected().sum())

    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.mean_pairwise_squared_error(_c(self.L), _c(self.L), weights=None)

    def test_all_correct(self):
        _close(_run(losses.mean_pairwise_squared_error(_c(self.L), _c(self.L))), 0.0)

    @pytest.mark.parametrize("weights, factor", [
        (None, [1.0, 1.0]),
        (2.3, [2.3, 2.3]),
        ("tensor 2.3", [2.3, 2.3]),
        ("tensor 0", [0.0, 0.0]),
        ([2.0, 1.0], [2.0, 1.0]),
        ([0.0, 0.0], [0.0, 0.0]),
        ([[1.2], [3.4]], [1.2, 3.4]),
    ])
    def test_tf_slim_values(self, weights, factor):
        p, lab = _c(self.P), _c(self.L)
        if weights is None:
            loss = losses.mean_pairwise_squared_error(p, lab)
        elif isinstance(weights, str):
            loss = losses.mean_pairwise_squared_error(p, lab, _c(float(weights.split()[1])))
        elif isinstance(weights, list):
            loss = losses.mean_pairwise_squared_error(p, lab, _c(np.asarray(weights, np.float32)))
        else:
            loss = losses.mean_pairwise_squared_error(p, lab, weights)
        assert losses.get_losses() == [loss]
        _close(_run(loss), (np.asarray(factor)[:, None] * self._expected()).sum())

    def test_placeholders_and_int_labels(self):
        pp = slim.placeholder(slim.float32, [2, 3], name="p")
        lp = slim.placeholder(slim.int32, [2, 3], name="l")
        loss = losses.mean_pairwise_squared_error(pp, lp, _c([1.2, 3.4]))
        got = _run(loss, feed_dict={pp: self.P, lp: self.L})
        _close(got, (np.array([[1.2], [3.4]]) * self._expected()).sum())

    def test_associative_across_batch(self):
        rng = np.random.default_rng(8)
        a = [rng.uniform(size=(1, 3, 4, 1)).astype(np.float32) for _ in range(4)]
        l0 = losses.mean_pairwise_squared_error(_c(a[0]), _c(a[1]))
        l1 = losses.mean_pairwise_squared_error(_c(a[2]), _c(a[3]))
        l01 = losses.mean_pairwise_squared_error(slim.concat([_c(a[0]), _c(a[2])], 0),
                                                 slim.concat([_c(a[1]), _c(a[3])], 0))
        v0, v1, v01 = _run(l0, l1, l01)
        assert v0 > 0 and v1 > 0
        _close(v0 + v1, v01)
        _close(v0, np_pairwise(a[0], a[1]))

    def test_dynamic_shapes_against_numpy(self):
        rng = np.random.default_rng(9)
        p = rng.normal(size=(5, 2, 3)).astype(np.float32)
        lab = rng.normal(size=(5, 2, 3)).astype(np.float32)
        w = np.array([1.0, 0.0, 2.0, 0.5, 0.0], np.float32)
        pp = slim.placeholder(slim.float32, [None, None, None], name="p")
        wp = slim.placeholder(slim.float32, [None], name="w")
        loss = losses.mean_pairwise_squared_error(pp, _c(lab), wp)
        _close(_run(loss, feed_dict={pp: p, wp: w}), np_pairwise(p, lab, w))

    def test_per_element_weights_raise(self):
        with pytest.raises(ShapeError):
            losses.mean_pairwise_squared_error(_c(self.P), _c(self.L), _c(np.ones((2, 3), np.float32)))


# ------------------------------------------------------------------------------------------ cosine_distance


class TestCosineDistance:
    P = np.asarray([[1, 0, 0], [0, 0, -1], [1, 0, 0], [1, 0, 0], [0, 0, -1], [1, 0, 0]]).reshape((3, 2, 3))
    L = np.asarray([[1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]]).reshape((3, 2, 3))

    def test_weights_none_raises(self):
        with pytest.raises(ValueError):
            losses.cosine_distance(_c(self.L), _c(self.L), dim=2, weights=None)

    def test_axis_required(self):
        with pytest.raises(ValueError, match="axis"):
            losses.cosine_distance(_c(self.L), _c(self.L))
        with pytest.raises(ValueError, match="both"):
            losses.cosine_distance(_c(self.L), _c(self.L), axis=1, dim=2)
        with pytest.raises(ValueError, match="both"):
            losses.cosine_distance(_c(self.L), _c(self.L), axis=2, dim=2)

    def test_all_correct(self):
        _close(_run(losses.cosine_distance(_c(self.L), _c(self.L), dim=2)), 0.0)

    def test_partially_correct_integer_values(self):
        loss = losses.cosine_distance(_c(self.P), _c(self.L), axis=2)
        assert loss.op.name == "cosine_distance_loss/value"
        _close(_run(loss), 1.0)

    def test_partially_correct_floats(self):
        p = np.array([[0.819031913261206, 0.567041924552012, 0.087465312324590],
                      [-0.665139432070255, -0.739487441769973, -0.103671883216994],
                      [0.707106781186548, -0.707106781186548, 0]]).reshape(3, 1, 3)
        lab = np.array([[0.819031913261206, 0.567041924552012, 0.087465312324590],
                        [0.665139432070255, 0.739487441769973, 0.103671883216994],
                        [0.707106781186548, 0.707106781186548, 0]]).reshape(3, 1, 3)
        loss = losses.cosine_distance(_c(p, dtype=slim.float32), _c(lab, dtype=slim.float32), dim=2)
        _close(_run(loss), 1.0)

    @pytest.mark.parametrize("weights, expected", [
        ([1, 0, 0], 1.0),
        (np.array([1, 0, 0, 1, 1, 1]).reshape(3, 2), 3.0 / 4.0),
        (np.zeros(3), 0.0),
        (np.zeros((3, 2)), 0.0),
    ])
    def test_weights(self, weights, expected):
        w = _c(np.asarray(weights, np.float32))
        loss = losses.cosine_distance(_c(self.P), _c(self.L), dim=2, weights=w)
        _close(_run(loss), expected)

    def test_placeholder_with_shape(self):
        pp = slim.placeholder(slim.float32, [3, 2, 3], name="p")
        loss = losses.cosine_distance(pp, _c(self.L), dim=2, weights=_c([1, 0, 0, 1, 1, 1], shape=(3, 2)))
        _close(_run(loss, feed_dict={pp: self.P}), 0.75)

    def test_negative_axis(self):
        _close(_run(losses.cosine_distance(_c(self.P), _c(self.L), axis=-1)), 1.0)


# ---------------------------------------------------------------------------------------------- collections


class TestCollections:
    def test_add_external_loss_and_total(self):
        per_element = losses.hinge_loss(_c([[1.2, 0.4, -1.0, -1.1]]), _c([[1.0, 0.0, 0.0, 1.0]]))
        assert not losses.get_losses()
        losses.add_loss(slim.reduce_mean(per_element))
        assert losses.get_losses()
        total = losses.get_total_loss()
        assert total.op.name == "total_loss"
        _close(_run(total), 3.5 / 4.0)

    def test_none_loss_collection(self):
        per_element = losses.hinge_loss(_c([[1.2, 0.4, -1.0, -1.1]]), _c([[1.0, 0.0, 0.0, 1.0]]))
        losses.add_loss(slim.reduce_mean(per_element), loss_collection=None)
        assert not losses.get_losses()

    def test_custom_loss_collection(self):
        x = slim.reduce_mean(_c([1.0, 2.0]))
        losses.add_loss(x, loss_collection="my_losses")
        assert losses.get_losses() == []
        assert losses.get_losses(loss_collection="my_losses") == [x]

    @pytest.mark.parametrize("batch", [1, 2])
    def test_arg_scope_turns_collection_off(self, batch):
        logits = _c([[1.2, 0.4, -1.0, -1.1]] * batch)
        labels = _c([[1.0, 0.0, 0.0, 1.0]] * batch)
        with slim.arg_scope([losses.add_loss], loss_collection=None):
            losses.absolute_difference(logits, labels)
            losses.log_loss(logits, labels)
            losses.mean_squared_error(logits, labels)
            losses.sigmoid_cross_entropy(logits, labels)
            losses.softmax_cross_entropy(logits, labels)
            losses.huber_loss(logits, labels)
        assert not losses.get_losses()

    def test_get_losses_by_scope(self):
        with slim.name_scope("scene"):
            a = losses.softmax_cross_entropy(_c(LOGITS), _c(RIGHT))
        with slim.name_scope("depth"):
            b = losses.sum_of_squares(_c([1.0, 2.0]), _c([1.5, 2.0]))
        c = losses.absolute_difference(_c([1.0]), _c([0.0]), scope="pose")
        assert a.op.name == "scene/softmax_cross_entropy_loss/value"
        assert b.op.name == "depth/mean_squared_error/value"
        assert c.op.name == "pose/value"
        assert losses.get_losses() == [a, b, c]
        assert losses.get_losses(scope="scene") == [a]
        assert losses.get_losses(scope="depth") == [b]
        assert losses.get_losses(scope="pose") == [c]

    def test_readme_multi_task_total_loss(self):
        rng = np.random.default_rng(10)
        scene = rng.normal(size=(4, 5)).astype(np.float32)
        scene_labels = np.eye(5, dtype=np.float32)[[1, 0, 4, 2]]
        depth = rng.normal(size=(4, 3)).astype(np.float32)
        depth_labels = rng.normal(size=(4, 3)).astype(np.float32)
        classification_loss = losses.softmax_cross_entropy(_c(scene), _c(scene_labels))
        sum_of_squares_loss = losses.sum_of_squares(_c(depth), _c(depth_labels))
        total1 = classification_loss + sum_of_squares_loss
        total2 = losses.get_total_loss(add_regularization_losses=False)
        v1, v2 = _run(total1, total2)
        _close(v1, v2)
        _close(v2, np_softmax_xent(scene_labels, scene).mean() + ((depth - depth_labels) ** 2).mean())

    def test_total_loss_with_regularization(self):
        rng = np.random.default_rng(11)
        x = rng.normal(size=(3, 4)).astype(np.float32)
        net = slim.fully_connected(_c(x), 2, weights_regularizer=slim.l2_regularizer(0.1), scope="fc")
        net = slim.fully_connected(net, 3, activation_fn=None, weights_regularizer=slim.l1_regularizer(0.05),
                                   scope="logits")
        xent = losses.softmax_cross_entropy(net, _c(np.eye(3, dtype=np.float32)))
        reg = losses.get_regularization_losses()
        assert len(reg) == 2
        assert losses.get_regularization_losses(scope="fc") == [reg[0]]
        with_reg = losses.get_total_loss()
        without = losses.get_total_loss(add_regularization_losses=False, name="data_loss")
        assert with_reg.op.name == "total_loss"
        assert without.op.name == "data_loss"
        gvars = {v.op.name: v for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)}
        w1, w2 = gvars["fc/weights"], gvars["logits/weights"]
        t, d, x_val, r, v1, v2 = _run(with_reg, without, xent, slim.add_n(reg), w1, w2)
        _close(d, x_val)
        _close(r, 0.1 * (v1.astype(np.float64) ** 2).sum() / 2 + 0.05 * np.abs(v2.astype(np.float64)).sum())
        _close(t, x_val + r)

    def test_total_loss_without_losses_raises(self):
        with pytest.raises(ValueError, match="no losses"):
            losses.get_total_loss()


# ---------------------------------------------------------------------------------------- slim.nn functions


class TestNnCrossEntropy:
    def test_softmax_with_logits(self):
        rng = np.random.default_rng(12)
        x = (rng.normal(size=(3, 4, 5)) * 5).astype(np.float32)
        y = rng.dirichlet(np.ones(5), size=(3, 4)).astype(np.float32)
        out = nn_losses.softmax_cross_entropy_with_logits(labels=_c(y), logits=_c(x))
        assert out.shape.as_list() == [3, 4]
        _close(_run(out), np_softmax_xent(y, x))

    def test_softmax_with_logits_other_axis(self):
        rng = np.random.default_rng(13)
        x = rng.normal(size=(5, 3)).astype(np.float32)
        y = rng.dirichlet(np.ones(5), size=3).T.astype(np.float32)
        out = nn_losses.softmax_cross_entropy_with_logits(labels=_c(y), logits=_c(x), axis=0)
        assert out.shape.as_list() == [3]
        _close(_run(out), np_softmax_xent(y, x, axis=0))
        out = nn_losses.softmax_cross_entropy_with_logits(labels=_c(y), logits=_c(x), dim=0, name="xent")
        assert out.op.name == "xent"
        _close(_run(out), np_softmax_xent(y, x, axis=0))

    def test_softmax_is_stable_for_large_logits(self):
        out = nn_losses.softmax_cross_entropy_with_logits(labels=_c([[0.0, 1.0]]),
                                                          logits=_c([[1000.0, -1000.0]]))
        _close(_run(out), [2000.0])

    def test_sparse_with_logits(self):
        rng = np.random.default_rng(14)
        x = (rng.normal(size=(2, 3, 6)) * 4).astype(np.float32)
        y = rng.integers(0, 6, size=(2, 3)).astype(np.int32)
        out = nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c(y), logits=_c(x))
        assert out.shape.as_list() == [2, 3]
        expected = -np.take_along_axis(np_log_softmax(x), y[..., None].astype(np.int64), -1)[..., 0]
        _close(_run(out), expected)

    def test_sparse_out_of_range_label_is_an_error_or_nan_unchecked(self):
        with pytest.raises(InvalidArgumentError, match=r"label value of 3 which is outside the valid range of \[0, 3"):
            nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c([0, 3, -1]), logits=_c(LOGITS))
        out = nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c([0, 3, -1]), logits=_c(LOGITS),
                                                                 check_labels=False)
        got = _run(out)
        assert np.isfinite(got[0]) and np.isnan(got[1]) and np.isnan(got[2])

    def test_sparse_shape_errors(self):
        with pytest.raises(ShapeError, match="rank"):
            nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c([[0], [1], [2]]), logits=_c(LOGITS))
        with pytest.raises(ShapeError, match=r"\[4\].*\[3, 3\]"):
            nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c([0, 1, 2, 0]), logits=_c(LOGITS))
        x = slim.placeholder(slim.float32, [None, None], name="x")
        with pytest.raises(ShapeError, match="number of classes"):
            nn_losses.sparse_softmax_cross_entropy_with_logits(labels=_c([0]), logits=x)

    def test_sigmoid_with_logits(self):
        x = np.array([[-200.0, -30.0, -5.0, -0.5, 0.0], [0.5, 5.0, 12.0, 30.0, 200.0]], np.float32)
        z = np.array([[0.0, 1.0, 0.3, 1.0, 0.5], [0.0, 1.0, 0.0, 0.7, 1.0]], np.float32)
        out = nn_losses.sigmoid_cross_entropy_with_logits(labels=_c(z), logits=_c(x))
        _close(_run(out), np_sigmoid_xent(z, x), rtol=1e-6, atol=1e-6)

    def test_sigmoid_default_name_and_numpy_labels(self):
        out = nn_losses.sigmoid_cross_entropy_with_logits(labels=[1.0, 0.0], logits=_c([2.0, 2.0]))
        assert out.op.name == "logistic_loss"
        _close(_run(out), np_sigmoid_xent([1.0, 0.0], [2.0, 2.0]))

    @pytest.mark.parametrize("fn", [nn_losses.softmax_cross_entropy_with_logits,
                                    nn_losses.sparse_softmax_cross_entropy_with_logits,
                                    nn_losses.sigmoid_cross_entropy_with_logits])
    def test_named_arguments_only(self, fn):
        with pytest.raises(InvalidArgumentError, match="named arguments"):
            fn(_c(LOGITS), _c(LOGITS))

    def test_shape_and_dtype_mismatch(self):
        with pytest.raises(ShapeError, match=r"\[3, 3\].*\[1, 3\]"):
            nn_losses.sigmoid_cross_entropy_with_logits(labels=_c([[1.0, 0.0, 0.0]]), logits=_c(LOGITS))
        with pytest.raises(DTypeError):
            nn_losses.softmax_cross_entropy_with_logits(labels=_c(RIGHT), logits=_c(LOGITS))
        with pytest.raises(DTypeError):
            nn_losses.sigmoid_cross_entropy_with_logits(labels=_c([1, 0]), logits=_c([1, 2]))


# --------------------------------------------------------------------------------------------- gradients

_X = np.random.default_rng(20).normal(size=(4, 5)).astype(np.float32)
_Y = np.random.default_rng(21).uniform(0.05, 0.95, size=(4, 5)).astype(np.float32)
_W = np.array([1.0, 0.0, 2.0, 0.5], np.float32)
_GRAD_CASES = {
    "absolute_difference": lambda x, y: losses.absolute_difference(x, y, _W),
    "mean_squared_error": lambda x, y: losses.mean_squared_error(x, y, _W),
    "log_loss": lambda x, y: losses.log_loss(slim.sigmoid(x), y, _W),
    "huber_loss": lambda x, y: losses.huber_loss(x, y),
    "mean_pairwise_squared_error": lambda x, y: losses.mean_pairwise_squared_error(x, y, _W),
    "sigmoid_cross_entropy": lambda x, y: losses.sigmoid_cross_entropy(x, y, _W, label_smoothing=0.1),
    "softmax_cross_entropy": lambda x, y: losses.softmax_cross_entropy(x, y / 3, _W, label_smoothing=0.1),
    "sparse_softmax_cross_entropy": lambda x, y: losses.sparse_softmax_cross_entropy(x, _c([0, 3, 1, 4]), _W),
    "cosine_distance": lambda x, y: losses.cosine_distance(x, y, axis=1, weights=_W),
}


@pytest.mark.skipif(not hasattr(slim, "gradients"), reason="slim.gradients is not available")
class TestGradients:
    @pytest.mark.parametrize("name", sorted(_GRAD_CASES))
    def test_against_central_differences(self, name):
        x = slim.placeholder(slim.float32, [None, 5], name="x")
        loss = _GRAD_CASES[name](x, _c(_Y))
        (grad,) = slim.gradients(loss, [x])
        eps = 1e-2
        with slim.Session() as sess:
            got = sess.run(grad, {x: _X})
            fd = np.zeros(_X.shape)
            for idx in np.ndindex(_X.shape):
                hi, lo = _X.copy(), _X.copy()
                hi[idx] += eps
                lo[idx] -= eps
                fd[idx] = (float(sess.run(loss, {x: hi})) - float(sess.run(loss, {x: lo}))) / (2 * eps)
        _close(got, fd, rtol=1e-3, atol=5e-4)

    @pytest.mark.parametrize("name", ["mean_pairwise_squared_error", "mean_squared_error",
                                      "softmax_cross_entropy"])
    def test_zero_weights_give_finite_zero_gradients(self, name):
        # TF-Slim's testGradientWithZeroWeight: the masked division keeps NaN out of the gradients.
        x = slim.placeholder(slim.float32, [None, 5], name="x")
        y = _c(_Y)
        if name == "softmax_cross_entropy":
            loss = losses.softmax_cross_entropy(x, y, weights=0.0)
        else:
            loss = getattr(losses, name)(x, x if name == "mean_pairwise_squared_error" else y, 0.0)
        (grad,) = slim.gradients(loss, [x])
        got = _run(grad, feed_dict={x: _X})
        assert np.isfinite(got).all()
        _close(got, np.zeros_like(_X))
