"""remove_identity: identity, inference dropout, stop_gradient, Print, same-shape reshape, identity transpose,
same-dtype cast are bypassed; a reshape that changes the shape (or cannot be proven not to) stays."""

from __future__ import annotations

import numpy as np
from passcheck import new_session, node_types, pass_numerics

import slimir as slim

RNG = np.random.default_rng(5)
X = RNG.standard_normal((2, 4, 4, 3)).astype(np.float32)


def _x(batch=2):
    return slim.placeholder(slim.float32, [batch, 4, 4, 3], name="x")


def _run(outputs, names=("remove_identity",)):
    res, fr = pass_numerics(outputs, new_session(outputs[0].graph), [X], list(names))
    return node_types(fr.graph, fr.outputs), node_types(res.graph, res.outputs), res.reports[-1]


def test_identity_like_ops_are_bypassed():
    with slim.Graph().as_default():
        x = _x()
        y = slim.identity(slim.nn.relu(x))
        y = slim.dropout(y, 0.5, is_training=False)
        y = slim.stop_gradient(y)
        y = slim.reshape(y, [2, 4, 4, 3])
        y = slim.transpose(y, [0, 1, 2, 3])
        y = slim.cast(y, slim.float32)
        y = slim.sigmoid(y)
        before, after, rep = _run([y])
    assert before["identity"] >= 2 and before["reshape"] == 1 and before["transpose"] == 1
    assert after == {"placeholder": 1, "relu": 1, "sigmoid": 1}
    assert len(rep.changes) == sum(before.values()) - 3


def test_print_is_bypassed():
    with slim.Graph().as_default():
        x = _x()
        y = slim.Print(slim.nn.relu(x), [x], "value: ")
        _, after, _ = _run([slim.nn.tanh(y)])
    assert "print" not in after


def test_reshape_that_changes_the_shape_stays():
    with slim.Graph().as_default():
        x = _x()
        y = slim.reshape(x, [2, 48])
        z = slim.reshape(x, [2, 4, 12])
        before, after, rep = _run([y, z])
    assert after == before and after["reshape"] == 2 and not rep.changes


def test_a_real_transpose_and_cast_stay():
    with slim.Graph().as_default():
        x = _x()
        y = slim.transpose(x, [0, 2, 1, 3])
        z = slim.cast(x, slim.int32)
        before, after, _ = _run([y, z])
    assert after == before


def test_identity_as_graph_output():
    with slim.Graph().as_default():
        x = _x()
        r = slim.nn.relu(x)
        y = slim.identity(r)
        _, after, _ = _run([y, r])
    assert "identity" not in after
