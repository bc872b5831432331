"""constant_folding: variable-free subgraphs become constants; anything reading a placeholder, random ops and
stateful ops are left alone (the stateful ones are listed in the report)."""

from __future__ import annotations

import numpy as np
from passcheck import export_pair, frozen_copy, new_session, node_types, onnx_types, pass_numerics

import slimir as slim
import slimir.passes as P

RNG = np.random.default_rng(3)
X = RNG.standard_normal((2, 5, 5, 3)).astype(np.float32)


def test_constant_expressions_are_folded():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        a = slim.constant(RNG.standard_normal(3).astype(np.float32))
        b = slim.constant(RNG.standard_normal(3).astype(np.float32))
        k = slim.sqrt(slim.abs(a * b) + 1.0) - slim.reduce_sum(b)
        y = x * k
        res, fr = pass_numerics([y], new_session(g), [X], ["constant_folding"])
    before, after = node_types(fr.graph, fr.outputs), node_types(res.graph, res.outputs)
    assert before["mul"] == 2 and before["sqrt"] == 1
    assert after == {"placeholder": 1, "const": 1, "mul": 1}
    assert len(res.reports[0].changes) >= 5


def test_batch_norm_folding_expressions_become_plain_weights():
    """fold_batch_norm writes new weights as IR expressions of the frozen variables; folding computes them."""
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        y = slim.conv2d(
            x,
            4,
            [3, 3],
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": False, "scale": True},
            scope="conv",
        )
        res, _ = pass_numerics([y], new_session(g, seed=1), [X], ["fold_batch_norm", "constant_folding"])
    after = node_types(res.graph, res.outputs)
    assert after == {"placeholder": 1, "const": 2, "conv2d": 1, "bias_add": 1, "relu": 1}
    assert {n.name for n in res.graph.nodes if n.type == "const"} >= {"conv/weights"}


def test_nodes_reading_a_placeholder_are_not_folded():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        y = slim.nn.relu(x * 2.0 + 1.0)
        res, fr = pass_numerics([y], new_session(g), [X], ["constant_folding"])
    assert node_types(res.graph, res.outputs) == node_types(fr.graph, fr.outputs)
    assert not res.reports[0].changes


def test_random_ops_are_not_folded():
    with slim.Graph().as_default() as g:
        u = slim.random_uniform([3, 4], seed=1)
        n = slim.random_normal([3, 4], seed=2)
        t = slim.truncated_normal([3, 4], seed=3)
        y = (u + n) * t + slim.constant(np.ones((3, 4), np.float32)) * 2.0
        res = P.run(g, ["constant_folding"], [y])
    after = node_types(res.graph, res.outputs)
    assert after["random_uniform"] == 1 and after["random_normal"] == 1 and after["truncated_normal"] == 1
    assert after["add"] == 2 and after["mul"] == 1  # ones * 2 folded, the rest kept


def test_dropout_of_a_constant_is_left_alone_and_reported():
    with slim.Graph().as_default() as g:
        c = slim.constant(np.ones((4, 4), np.float32))
        d = slim.dropout(c, 0.5, is_training=True, scope="drop")
        res = P.run(g, ["constant_folding"], [d])
    assert node_types(res.graph, res.outputs)["dropout"] == 1
    assert any("dropout" in s for s in res.reports[0].skipped), str(res.reports[0])


def test_folded_export_matches_and_keeps_variable_names():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        y = slim.conv2d(
            x,
            4,
            [3, 3],
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": False, "scale": True},
            scope="conv1",
        )
        y = slim.fully_connected(slim.flatten(y), 3, scope="fc")
        _raw, opt, _, _ = export_pair([y], new_session(g, seed=4), [X])
    inits = {i.name for i in opt.graph.initializer}
    assert {"conv1/weights", "fc/weights", "fc/biases"} <= inits
    assert not {"Mul", "Sqrt", "Reciprocal", "Sub", "Reshape"} & set(onnx_types(opt))


def test_variables_kept_as_variables_are_not_folded():
    """Without freezing, variables are state: nothing that reads one may be folded."""
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        y = slim.conv2d(
            x,
            4,
            [3, 3],
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": False, "scale": True},
            scope="conv",
        )
        res = P.run(g, ["fold_batch_norm", "constant_folding"], [y])
    after = node_types(res.graph, res.outputs)
    assert after["variable"] == 5 and after["rsqrt"] == 1 and not res.reports[1].changes


def test_frozen_copy_helper_really_freezes():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [None, 5, 5, 3], name="x")
        y = slim.conv2d(x, 4, [3, 3])
        fr = frozen_copy([y], new_session(g))
    assert "variable" not in node_types(fr.graph, fr.outputs)
