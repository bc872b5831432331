"""The pass infrastructure: the registry, `run` (copy or in place, outputs in order), the inference pipeline
and its reports; bad input: unknown pass names, and reports that say what a pass left alone."""

from __future__ import annotations

import re

import numpy as np
import pytest
from passcheck import export_pair, new_session, node_types

import slimir as slim
import slimir.passes as P
from slimir import errors
from slimir.runtime.export import build_model

X = np.random.default_rng(6).standard_normal((2, 8, 8, 3)).astype(np.float32)


def _net(g, is_training=False):
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        net = slim.conv2d(
            x,
            4,
            [3, 3],
            scope="conv1",
            normalizer_fn=slim.batch_norm,
            normalizer_params={"is_training": is_training, "scale": True},
        )
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        net = slim.conv2d(net, 6, [3, 3], scope="conv2", activation_fn=slim.nn.relu6)
        net = slim.flatten(net, scope="flatten")
        net = slim.dropout(net, 0.5, is_training=is_training, scope="dropout")
        return x, slim.fully_connected(net, 5, activation_fn=None, scope="logits")


def test_registry_holds_the_inference_pipeline():
    assert set(P.INFERENCE_PIPELINE) <= set(P.PASSES)
    assert {
        "validate_shapes",
        "remove_identity",
        "fold_batch_norm",
        "layout_nchw",
        "fuse_conv_bias_act",
        "fuse_gemm",
        "constant_folding",
        "cse",
        "dead_code_elimination",
    } <= set(P.PASSES)
    for name, p in P.PASSES.items():
        assert p.name == name and p.doc, name


# ------------------------------------------------------------------------------------------
# bad input


def test_unknown_pass_names_the_known_ones():
    g = slim.Graph()
    _, y = _net(g)
    with pytest.raises(errors.SlimirError) as ei:
        P.run(g, ["no_such_pass"], [y])
    msg = str(ei.value)
    assert "no_such_pass" in msg
    for name in P.PASSES:
        assert name in msg, name
    assert isinstance(ei.value, ValueError)


def test_unknown_pass_fails_before_any_pass_runs():
    g = slim.Graph()
    _, y = _net(g)
    before = [(n.name, n.type) for n in g.nodes]
    with pytest.raises(errors.SlimirError):
        P.run(g, ["fuse_conv_bias_act", "fuse_conv_bias_act_typo"], [y], inplace=True)
    assert [(n.name, n.type) for n in g.nodes] == before


def test_reports_list_what_a_pass_left_alone():
    """conv1's raw output has two readers (batch norm in training mode keeps it, plus a side output): the
    fusion pass leaves it alone and says so; the printed report shows it."""
    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 8, 8, 3], name="x")
        w = slim.constant(np.ones((3, 3, 3, 4), np.float32))
        c = slim.nn.conv2d(x, w, 1, "SAME", name="conv")
        y = slim.nn.relu(slim.nn.bias_add(c, slim.constant(np.zeros(4, np.float32))))
        z = slim.reduce_mean(c, [1, 2])
    res = P.run(g, ["fuse_conv_bias_act"], [y, z])
    rep = res.reports[0]
    assert rep.skipped and any("conv" in s for s in rep.skipped)
    assert "(left alone)" in str(rep) and "(left alone)" in str(res)


# ------------------------------------------------------------------------------------------
# run: copy vs in place, outputs, feeds


def test_run_copies_by_default_and_keeps_output_order():
    g = slim.Graph()
    _x, y = _net(g)
    mid = g.get_operation_by_name("pool1/MaxPool").outputs[0]
    before = [(n.name, n.type) for n in g.nodes]
    res = P.run(g, P.INFERENCE_PIPELINE, [y, mid])
    assert [(n.name, n.type) for n in g.nodes] == before  # the user's graph is untouched
    assert res.graph is not g
    assert [tuple(t.shape) for t in res.outputs] == [tuple(y.shape), tuple(mid.shape)]
    assert all(t.graph is res.graph for t in res.outputs)
    assert [r.name for r in res.reports] == P.INFERENCE_PIPELINE
    for a, b in zip(res.reports, res.reports[1:]):
        assert a.nodes_after == b.nodes_before


def test_run_in_place_rewrites_the_graph_and_the_outputs_list():
    g = slim.Graph()
    _x, y = _net(g)
    outs = [y]
    res = P.run(g, ["fuse_gemm"], outs, inplace=True)
    assert res.graph is g
    assert outs[0].op.type == "gemm" and res.outputs[0] is outs[0]


def test_default_outputs_are_the_unread_tensors():
    g = slim.Graph()
    with g.as_default():
        x = slim.placeholder(slim.float32, [None, 4], name="x")
        slim.nn.relu(x)
        slim.nn.tanh(x)
    res = P.run(g, ["cse"])
    assert sorted(t.op.type for t in res.outputs) == ["relu", "tanh"]


def test_feeds_cut_the_graph():
    g = slim.Graph()
    _x, y = _net(g)
    mid = g.get_operation_by_name("pool1/MaxPool").outputs[0]
    res = P.run(g, ["dead_code_elimination"], [y], feeds=[mid])
    assert len(res.feeds) == 1 and res.feeds[0].op.type == "placeholder"
    assert "fused_batch_norm" not in node_types(res.graph)


def test_optimize_for_inference_updates_outputs_in_place():
    g = slim.Graph()
    x, y = _net(g)
    sess = new_session(g)
    from slimir.passes import clone

    cl = clone(
        g,
        [y],
        [x],
        variables="freeze",
        var_values={v: sess.variable_value(v) for v in g.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)},
    )
    outs = cl.outputs
    reports = P.optimize_for_inference(cl.graph, outs)
    assert [r.name for r in reports] == P.INFERENCE_PIPELINE
    assert outs[0].op.type == "gemm"


def test_export_reports_every_pipeline_pass():
    g = slim.Graph()
    _x, y = _net(g)
    sess = new_session(g)
    raw, opt, reports, _ = export_pair([y], sess, [X])
    assert [r.name for r in reports] == P.INFERENCE_PIPELINE
    changed = {r.name for r in reports if r.changes}
    assert {
        "remove_identity",
        "fold_batch_norm",
        "layout_nchw",
        "fuse_conv_bias_act",
        "fuse_gemm",
        "constant_folding",
    } <= changed
    assert len(opt.graph.node) < len(raw.graph.node)


def test_export_without_optimize_runs_no_pass():
    g = slim.Graph()
    _x, y = _net(g)
    reports: list = []
    build_model([y], optimize=False, reports=reports)
    assert reports == []


def test_report_lines_name_the_layers_not_internal_renames():
    """What a pass rewrote is named by the layer's node name (conv2/Conv2D), as `slimir inspect` prints it,
    not by the temporary name the replaced node was moved to."""
    g = slim.Graph()
    _x, y = _net(g)
    res = P.run(g, P.INFERENCE_PIPELINE, [y])
    lines = [c for r in res.reports for c in r.changes]
    assert any("conv2/Conv2D" in c for c in lines)
    bad = [c for c in lines if re.search(r"_replaced\b", c)]
    assert not bad, bad


def test_training_graph_keeps_its_batch_norm_and_dropout():
    g = slim.Graph()
    _x, y = _net(g, is_training=True)
    res = P.run(g, P.INFERENCE_PIPELINE, [y])
    types = node_types(res.graph, res.outputs)
    assert types["fused_batch_norm"] == 1 and types["dropout"] == 1


def test_register_pass_adds_a_named_pass():
    @P.register_pass("test_noop_pass")
    def _noop(graph, outputs):
        """Does nothing (test)."""
        return P.PassReport("test_noop_pass", len(graph.nodes), len(graph.nodes))

    try:
        g = slim.Graph()
        _, y = _net(g)
        res = P.run(g, ["test_noop_pass"], [y])
        assert res.reports[0].name == "test_noop_pass"
        assert P.PASSES["test_noop_pass"].doc == "Does nothing (test)."
    finally:
        del P.PASSES["test_noop_pass"]
