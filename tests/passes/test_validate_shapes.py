"""validate_shapes: every needed node's recorded shape/dtype agrees with its op's shape rule; a graph whose
records disagree raises a slimir ShapeError naming the node. It never rewrites anything."""

from __future__ import annotations

import pytest
from passcheck import node_types

import slimir as slim
import slimir.passes as P
from slimir import errors
from slimir.shape import Shape


def _net(g):
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        net = slim.conv2d(x, 4, [3, 3], scope="conv1")
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        return slim.fully_connected(slim.flatten(net), 5, scope="fc")


def test_a_consistent_graph_validates_unchanged():
    g = slim.Graph()
    y = _net(g)
    res = P.run(g, ["validate_shapes"], [y])
    rep = res.reports[0]
    assert rep.nodes_before == rep.nodes_after and not rep.changes
    assert node_types(res.graph) == node_types(g)


def test_a_wrong_recorded_shape_is_reported_with_the_node():
    g = slim.Graph()
    y = _net(g)
    pool = g.get_operation_by_name("pool1/MaxPool")
    pool.outputs[0]._shape = Shape([None, 3, 3, 4])  # corrupt the record (the rule gives 4x4)
    with pytest.raises(errors.ShapeError, match="pool1/MaxPool"):
        P.run(g, ["validate_shapes"], [y], inplace=True)


def test_a_wrong_recorded_dtype_is_reported():
    g = slim.Graph()
    y = _net(g)
    node = g.get_operation_by_name("conv1/Relu")
    node.outputs[0].dtype = slim.float64
    with pytest.raises(errors.ShapeError, match="conv1/Relu"):
        P.run(g, ["validate_shapes"], [y], inplace=True)
