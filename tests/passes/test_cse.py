"""cse: identical computations (same op, same inputs, same attributes) are merged; random and stateful ops
(dropout, random_uniform) never are, nor are nodes that differ in an attribute."""

from __future__ import annotations

import numpy as np
from passcheck import new_session, node_types, pass_numerics

import slimir as slim
import slimir.passes as P

RNG = np.random.default_rng(4)
X = RNG.standard_normal((2, 5, 5, 3)).astype(np.float32)


def _x():
    return slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")


def test_duplicate_elementwise_ops_are_merged():
    with slim.Graph().as_default() as g:
        x = _x()
        y = slim.nn.relu(x) + slim.nn.relu(x) * slim.nn.relu(x)
        res, fr = pass_numerics([y], new_session(g), [X], ["cse"])
    assert node_types(fr.graph, fr.outputs)["relu"] == 3
    assert node_types(res.graph, res.outputs)["relu"] == 1
    assert len(res.reports[0].changes) == 2


def test_duplicate_convolutions_sharing_weights_are_merged_transitively():
    with slim.Graph().as_default() as g:
        x = _x()
        w = slim.constant(RNG.standard_normal((3, 3, 3, 4)).astype(np.float32))
        a = slim.nn.relu(slim.nn.conv2d(x, w, 1, "SAME"))
        b = slim.nn.relu(slim.nn.conv2d(x, w, 1, "SAME"))
        res, _ = pass_numerics([a - b, a], new_session(g), [X], ["cse"])
    after = node_types(res.graph, res.outputs)
    assert after["conv2d"] == 1 and after["relu"] == 1


def test_equal_small_constants_are_merged():
    with slim.Graph().as_default() as g:
        x = _x()
        y = x * slim.constant(np.float32(2.0)) + x * slim.constant(np.float32(2.0))
        res, _ = pass_numerics([y], new_session(g), [X], ["cse"])
    after = node_types(res.graph, res.outputs)
    assert after["const"] == 1 and after["mul"] == 1


def test_different_attributes_are_not_merged():
    with slim.Graph().as_default() as g:
        x = _x()
        y = slim.nn.leaky_relu(x, 0.1) + slim.nn.leaky_relu(x, 0.2)
        z = slim.reduce_sum(x, [1]) + slim.reduce_sum(x, [2])
        res, fr = pass_numerics([y, z], new_session(g), [X], ["cse"])
    assert node_types(res.graph, res.outputs) == node_types(fr.graph, fr.outputs)


def test_two_dropouts_are_not_merged():
    with slim.Graph().as_default() as g:
        x = _x()
        a = slim.dropout(x, 0.5, is_training=True, scope="d1")
        b = slim.dropout(x, 0.5, is_training=True, scope="d2")
        c = slim.nn.dropout(x, rate=0.5, seed=7)
        d = slim.nn.dropout(x, rate=0.5, seed=7)
        res = P.run(g, ["cse"], [a + b, c - d])
    assert node_types(res.graph, res.outputs)["dropout"] == 4
    assert not res.reports[0].changes


def test_two_random_uniforms_are_not_merged():
    with slim.Graph().as_default() as g:
        u1 = slim.random_uniform([3, 4], seed=1)
        u2 = slim.random_uniform([3, 4], seed=1)
        n1 = slim.random_normal([3, 4])
        n2 = slim.random_normal([3, 4])
        res = P.run(g, ["cse"], [u1 - u2, n1 - n2])
    after = node_types(res.graph, res.outputs)
    assert after["random_uniform"] == 2 and after["random_normal"] == 2


def test_frozen_weights_with_equal_values_stay_apart():
    """Two layers whose (initial) weights happen to be equal keep their own named weights."""
    with slim.Graph().as_default() as g:
        x = _x()
        init = slim.constant_initializer(0.5)
        a = slim.conv2d(x, 2, [1, 1], weights_initializer=init, scope="a")
        b = slim.conv2d(x, 2, [1, 1], weights_initializer=init, scope="b")
        res, _ = pass_numerics([a, b], new_session(g, randomize=False), [X], ["cse"])
    names = {n.name for n in res.graph.nodes if n.type == "const"}
    assert {"a/weights", "b/weights"} <= names
