"""Tests for slim regularizers and their interplay with variables and layers.

Reference semantics: tf_slim/layers/regularizers.py (TF-Slim 1.1.0) and TF1
get_variable, which applies a regularizer once, when the variable is created, and
adds the result to GraphKeys.REGULARIZATION_LOSSES.
"""

import numpy as np
import pytest

import slimir as slim
from slimir.errors import SlimirError

VALUES = np.array([1.0, -1.0, 4.0, 2.0], np.float32)


@pytest.fixture(autouse=True)
def _fresh_graph():
    with slim.Graph().as_default() as g:
        yield g


def _reg_losses():
    return slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)


def _evaluate(*tensors, feed_dict=None):
    with slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        return sess.run(list(tensors), feed_dict=feed_dict)


# --------------------------------------------------------------------------
# Values.
# --------------------------------------------------------------------------


def test_l1_regularizer_value():
    w = slim.constant(VALUES)
    loss = slim.l1_regularizer(0.5)(w)
    assert loss.shape.as_list() == []
    (val,) = _evaluate(loss)
    np.testing.assert_allclose(val, 0.5 * np.abs(VALUES).sum(), rtol=1e-6)


def test_l2_regularizer_value_is_half_sum_of_squares():
    w = slim.constant(VALUES)
    loss = slim.l2_regularizer(0.42)(w)
    assert loss.shape.as_list() == []
    (val,) = _evaluate(loss)
    np.testing.assert_allclose(val, 0.42 * np.square(VALUES).sum() / 2.0, rtol=1e-6)


def test_l1_l2_regularizer_value():
    w = slim.constant(np.ones((5, 5, 5), np.float32))
    n = 125
    both = slim.l1_l2_regularizer(1.0, 1.0)(w)
    only_l2 = slim.l1_l2_regularizer(0.0, 1.0)(w)
    only_l1 = slim.l1_l2_regularizer(1.0, 0.0)(w)
    weighted = slim.l1_l2_regularizer(0.25, 3.0)(slim.constant(VALUES))
    b, l2, l1, wv = _evaluate(both, only_l2, only_l1, weighted)
    np.testing.assert_allclose(b, n + n / 2.0, rtol=1e-6)
    np.testing.assert_allclose(l2, n / 2.0, rtol=1e-6)
    np.testing.assert_allclose(l1, n, rtol=1e-6)
    expected = 0.25 * np.abs(VALUES).sum() + 3.0 * np.square(VALUES).sum() / 2.0
    np.testing.assert_allclose(wv, expected, rtol=1e-6)


def test_sum_regularizer_value():
    values = np.array([-3.0, 0.5], np.float32)
    w = slim.constant(values)
    l1 = slim.l1_regularizer(0.1)
    l2 = slim.l2_regularizer(0.2)
    only_l1 = slim.sum_regularizer([l1])(w)
    with_none = slim.sum_regularizer([l1, None])(w)
    with_zero = slim.sum_regularizer([l1, slim.l2_regularizer(0.0)])(w)
    both = slim.sum_regularizer([l1, l2])(w)
    r1, r2, r3, r4 = _evaluate(only_l1, with_none, with_zero, both)
    l1_expected = 0.1 * np.abs(values).sum()
    np.testing.assert_allclose(r1, l1_expected, rtol=1e-6)
    np.testing.assert_allclose(r2, l1_expected, rtol=1e-6)
    np.testing.assert_allclose(r3, l1_expected, rtol=1e-6)
    np.testing.assert_allclose(r4, l1_expected + 0.2 * np.square(values).sum() / 2.0, rtol=1e-6)


# --------------------------------------------------------------------------
# Scale validation and disabled regularizers.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: slim.l1_regularizer(-1.0),
        lambda: slim.l2_regularizer(-0.5),
        # An integer scale is rejected, even a valid-looking one.
        lambda: slim.l1_regularizer(0),
        lambda: slim.l2_regularizer(1),
        lambda: slim.l1_l2_regularizer(-1.0, 0.5),
        lambda: slim.l1_l2_regularizer(0.5, -1.0),
        lambda: slim.l1_l2_regularizer(0, 0.5),
        lambda: slim.l1_l2_regularizer(0.5, 0),
    ],
)
def test_invalid_scales_raise_value_error(make):
    with pytest.raises(ValueError) as excinfo:
        make()
    assert isinstance(excinfo.value, SlimirError)


def test_zero_scale_gives_a_regularizer_that_returns_none():
    # Scale 0.0 does not return None itself: it returns a function yielding None.
    w = slim.constant(VALUES)
    l1 = slim.l1_regularizer(0.0)
    l2 = slim.l2_regularizer(0.0)
    assert callable(l1) and callable(l2)
    assert l1(w) is None
    assert l2(w) is None
    assert l2(None) is None
    assert slim.l1_l2_regularizer(0.0, 0.0)(w) is None


def test_sum_regularizer_of_nothing_is_none():
    assert slim.sum_regularizer([]) is None
    assert slim.sum_regularizer([None]) is None
    assert slim.sum_regularizer([slim.l1_regularizer(0.0)])(slim.constant(VALUES)) is None


# --------------------------------------------------------------------------
# Op names.
# --------------------------------------------------------------------------


def test_regularizer_op_names():
    w = slim.constant(VALUES, name="w")
    l2 = slim.l2_regularizer(0.1)
    first = l2(w)
    second = l2(w)
    l1 = slim.l1_regularizer(0.1)(w)
    both = slim.l1_l2_regularizer(1.0, 1.0)(w)
    l2_only = slim.l1_l2_regularizer(0.0, 1.0)(w)
    scoped = slim.l2_regularizer(0.1, scope="decay")(w)
    with slim.name_scope("foo"):
        nested = slim.l1_l2_regularizer(1.0, 1.0, scope="l1_l2")(w)
    assert first.op.name == "l2_regularizer"
    assert second.op.name == "l2_regularizer_1"
    assert l1.op.name == "l1_regularizer"
    assert both.op.name == "l1_l2_regularizer"
    assert l2_only.op.name == "l1_l2_regularizer_1"
    assert scoped.op.name == "decay"
    assert nested.op.name == "foo/l1_l2"


# --------------------------------------------------------------------------
# apply_regularization.
# --------------------------------------------------------------------------


def test_apply_regularization_sums_and_collects():
    arrays = [
        np.array([1.5], np.float32),
        np.array([2.0, 3.0, 4.2], np.float32),
        np.array([10.0, 42.0, 666.6], np.float32),
    ]
    weights = [slim.constant(a) for a in arrays]
    total = slim.apply_regularization(lambda x: slim.reduce_sum(2.0 * x), weights)
    assert total.shape.as_list() == []
    assert _reg_losses() == [total]
    assert total.op.name == "get_regularization_penalty"
    (val,) = _evaluate(total)
    np.testing.assert_allclose(val, sum(2.0 * a.sum() for a in arrays), rtol=1e-5)


def test_apply_regularization_with_l2_on_variables():
    w1 = slim.variable("w1", initializer=np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    w2 = slim.variable("w2", initializer=np.array([-1.0, 0.5], np.float32))
    total = slim.apply_regularization(slim.l2_regularizer(0.1), [w1, w2])
    (val,) = _evaluate(total)
    np.testing.assert_allclose(val, 0.1 * (30.0 + 1.25) / 2.0, rtol=1e-6)
    assert len(_reg_losses()) == 1


def test_apply_zero_regularization_is_zero():
    weights = [slim.constant(np.array([1.5, -2.0], np.float32)), slim.constant(np.array([3.0], np.float32))]
    total = slim.apply_regularization(slim.l2_regularizer(0.0), weights)
    (val,) = _evaluate(total)
    assert float(val) == 0.0


def test_apply_regularization_rejects_non_scalar_penalty():
    weights = [slim.constant(np.array([1.5, 2.0], np.float32))]
    with pytest.raises(ValueError):
        slim.apply_regularization(lambda x: x * 2.0, weights)


def test_apply_regularization_without_weights_raises():
    with pytest.raises(ValueError):
        slim.apply_regularization(slim.l2_regularizer(0.1), [])


# --------------------------------------------------------------------------
# Regularizers attached to variables and layers.
# --------------------------------------------------------------------------


def test_variable_regularizer_added_once_and_not_on_reuse():
    init = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    with slim.variable_scope("A"):
        a = slim.variable("a", initializer=init, regularizer=slim.l2_regularizer(0.05))
    losses = _reg_losses()
    assert len(losses) == 1
    assert losses[0].op.name == "A/a/Regularizer/l2_regularizer"
    with slim.variable_scope("A", reuse=True):
        again = slim.variable("a", [2, 2], regularizer=slim.l2_regularizer(0.05))
    assert again is a
    assert len(_reg_losses()) == 1
    (val,) = _evaluate(losses[0])
    np.testing.assert_allclose(val, 0.05 * np.square(init).sum() / 2.0, rtol=1e-6)


def test_model_variable_regularizer():
    m = slim.model_variable(
        "m", [3], initializer=slim.constant_initializer(2.0), regularizer=slim.l1_regularizer(0.5)
    )
    losses = _reg_losses()
    assert len(losses) == 1
    val, m_val = _evaluate(losses[0], m)
    np.testing.assert_allclose(m_val, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(val, 0.5 * 6.0, rtol=1e-6)


def test_zero_scale_regularizer_adds_nothing():
    slim.variable("v", [2], regularizer=slim.l2_regularizer(0.0))
    x = slim.placeholder(slim.float32, [None, 4], name="x")
    slim.fully_connected(x, 3, weights_regularizer=slim.l2_regularizer(0.0))
    assert _reg_losses() == []


def test_layer_without_regularizer_adds_nothing():
    x = slim.placeholder(slim.float32, [None, 7, 9, 3], name="x")
    slim.conv2d(x, 8, [3, 3])
    assert _reg_losses() == []


def test_conv2d_weights_regularizer_one_entry_and_value():
    x = slim.placeholder(slim.float32, [None, 7, 9, 3], name="x")
    slim.conv2d(x, 8, [3, 3], weights_regularizer=slim.l2_regularizer(0.01), scope="conv1")
    losses = _reg_losses()
    assert len(losses) == 1
    assert losses[0].shape.as_list() == []
    weights = slim.get_unique_variable("conv1/weights")
    loss_val, w_val = _evaluate(losses[0], weights)
    np.testing.assert_allclose(loss_val, 0.01 * np.square(w_val).sum() / 2.0, rtol=1e-5)


def test_layer_reuse_adds_no_regularization_loss():
    x = slim.placeholder(slim.float32, [None, 7, 9, 3], name="x")
    with slim.arg_scope([slim.conv2d], weights_regularizer=slim.l2_regularizer(0.01)):
        slim.conv2d(x, 8, [3, 3], scope="conv1")
        assert len(slim.get_variables()) == 2
        assert len(_reg_losses()) == 1
        slim.conv2d(x, 8, [3, 3], scope="conv1", reuse=True)
        assert len(slim.get_variables()) == 2
        assert len(_reg_losses()) == 1


def test_fully_connected_reuse_in_outer_scope_adds_no_loss():
    x = slim.placeholder(slim.float32, [None, 27], name="x")

    def reg(w):
        return slim.reduce_sum(w) * 1e-3

    slim.fully_connected(x, 32, scope="fc1", weights_regularizer=reg)
    assert len(_reg_losses()) == 1
    slim.fully_connected(x, 32, scope="fc1", weights_regularizer=reg, reuse=True)
    assert len(_reg_losses()) == 1
    with slim.variable_scope("outer", reuse=False):
        slim.fully_connected(x, 32, weights_regularizer=reg)
    assert len(_reg_losses()) == 2
    with slim.variable_scope("outer", reuse=True):
        slim.fully_connected(x, 32, weights_regularizer=reg)
    assert len(_reg_losses()) == 2


def test_weights_and_biases_regularizers_via_arg_scope():
    x = slim.placeholder(slim.float32, [None, 6], name="x")
    with slim.arg_scope(
        [slim.fully_connected],
        weights_regularizer=slim.l2_regularizer(0.5),
        biases_regularizer=slim.l1_regularizer(0.25),
        biases_initializer=slim.constant_initializer(-2.0),
    ):
        slim.fully_connected(x, 4, scope="fc")
    losses = _reg_losses()
    assert len(losses) == 2
    weights = slim.get_unique_variable("fc/weights")
    values = _evaluate(weights, *losses)
    w_val, loss_vals = values[0], sorted(float(v) for v in values[1:])
    expected = sorted([0.5 * float(np.square(w_val).sum()) / 2.0, 0.25 * 4 * 2.0])
    np.testing.assert_allclose(loss_vals, expected, rtol=1e-5)
