"""dead_code_elimination: nodes the requested outputs do not need are removed; needed ones stay."""

from __future__ import annotations

import numpy as np
from passcheck import node_types

import slimir as slim
import slimir.passes as P


def _graph():
    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        y = slim.nn.relu(x) * 2.0
        dead = slim.nn.sigmoid(x) + slim.constant(np.ones(4, np.float32))
        other = slim.tanh(dead)
    return g, x, y, dead, other


def test_unreachable_nodes_are_removed_in_place():
    g, x, y, _, _ = _graph()
    n0 = len(g.nodes)
    outs = [y]
    rep = P.run(g, ["dead_code_elimination"], outs, inplace=True).reports[0]
    assert rep.nodes_before == n0 and rep.nodes_after == len(g.nodes) < n0
    assert {n.type for n in g.nodes} == {"placeholder", "relu", "const", "mul"}
    assert rep.changes and str(n0 - len(g.nodes)) in rep.changes[0]
    with slim.Session(graph=g) as sess:
        np.testing.assert_allclose(sess.run(y, {x: np.array([[-1, 0, 1, 2]], np.float32)}), [[0, 0, 2, 4]])


def test_everything_needed_stays():
    g, _x, y, _dead, other = _graph()
    before = node_types(g)
    rep = P.run(g, ["dead_code_elimination"], [y, other], inplace=True).reports[0]
    assert node_types(g) == before and not rep.changes


def test_copy_mode_leaves_the_users_graph_alone():
    g, _x, y, _, _ = _graph()
    before = [n.name for n in g.nodes]
    res = P.run(g, ["dead_code_elimination"], [y])
    assert [n.name for n in g.nodes] == before
    assert res.graph is not g and "sigmoid" not in node_types(res.graph)
