"""Shared helpers for the pass tests: build a graph with random weights, run passes on a frozen copy,
and compare the rewritten graph (or the optimised ONNX export) with the graph as built."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort

import slimir as slim
import slimir.passes as P
from slimir.ir.analysis import needed_nodes
from slimir.passes import clone
from slimir.runtime.export import build_model

RTOL, ATOL = 1e-4, 1e-5


def node_types(graph, outputs=None) -> Counter:
    """Op types of the nodes `outputs` need (all nodes when outputs is None)."""
    nodes = needed_nodes(list(outputs), set()) if outputs is not None else graph.nodes
    return Counter(n.type for n in nodes)


def onnx_types(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def placeholders(outputs) -> list:
    return [n.outputs[0] for n in needed_nodes(list(outputs), set()) if n.type == "placeholder"]


def randomize_variables(sess, graph, rng, scale=0.5) -> None:
    """Give every variable random values; batch-norm variances stay positive."""
    for v in graph.get_collection(slim.GraphKeys.GLOBAL_VARIABLES):
        shape = tuple(v.shape)
        name = v.op.name
        if name.endswith("moving_variance"):
            val = rng.uniform(0.3, 2.0, shape)
        elif name.endswith("gamma"):
            val = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        else:
            val = rng.standard_normal(shape) * scale
        sess.set_variable_value(v, val.astype(v.dtype.np))


def new_session(graph, seed=0, randomize=True):
    """A session on `graph` with its variables initialised (and, by default, randomised)."""
    sess = slim.Session(graph=graph)
    variables = graph.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
    if variables:
        sess.initialize(variables)
        if randomize:
            randomize_variables(sess, graph, np.random.default_rng(seed))
    return sess


def frozen_copy(outputs, sess):
    """The subgraph `outputs` need with the session's variable values frozen into constants."""
    feeds = placeholders(outputs)
    variables = [n.outputs[0] for n in needed_nodes(list(outputs), set()) if n.type == "variable"]
    values = {v: sess.variable_value(v) for v in variables}
    return clone(outputs[0].graph, list(outputs), feeds, variables="freeze", var_values=values)


def run_graph(graph, outputs, feeds, feed_values) -> list:
    """Run `outputs` of `graph` (variables frozen) in a fresh Session."""
    s = slim.Session(graph=graph)
    return s.run(list(outputs), dict(zip(feeds, feed_values)))


def pass_numerics(outputs, sess, feed_values, names, rtol=RTOL, atol=ATOL):
    """Run the passes `names` on a frozen copy of what `outputs` need; check the rewritten graph computes
    what the original graph computes in `sess`. Returns (PassResult, frozen copy)."""
    outputs = list(outputs)
    feeds = placeholders(outputs)
    want = sess.run(outputs, dict(zip(feeds, feed_values)))
    fr = frozen_copy(outputs, sess)
    res = P.run(fr.graph, names, fr.outputs, feeds=fr.feeds)
    got = run_graph(res.graph, res.outputs, res.feeds, [feed_values[feeds.index(f)] for f in feeds])
    for w, g_ in zip(want, got):
        assert g_.shape == w.shape, (g_.shape, w.shape)
        np.testing.assert_allclose(g_, w, rtol=rtol, atol=atol)
    return res, fr


def run_onnx(model: onnx.ModelProto, feeds: dict) -> list:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def export_pair(outputs, sess, feed_values, input_format="NHWC", rtol=RTOL, atol=ATOL, check=True):
    """Export `outputs` with optimize=False and optimize=True (weights from `sess`); run both in ONNX
    Runtime on `feed_values` (NHWC, in the order of the placeholders); check they agree and that the
    optimised model passes the full ONNX checker. Returns (raw model, optimised model, reports, outputs)."""
    outputs = list(outputs)
    feeds = placeholders(outputs)
    raw = build_model(outputs, session=sess, optimize=False)
    reports: list = []
    opt = build_model(outputs, session=sess, optimize=True, input_format=input_format, reports=reports)
    onnx.checker.check_model(opt, full_check=True)
    names = [f.op.name for f in feeds]
    want = run_onnx(raw, dict(zip(names, feed_values)))
    opt_feeds = [
        np.ascontiguousarray(np.transpose(v, (0, 3, 1, 2))) if input_format == "NCHW" and v.ndim == 4 else v
        for v in feed_values
    ]
    got = run_onnx(opt, dict(zip(names, opt_feeds)))
    if check:
        assert len(got) == len(want)
        for w, g_ in zip(want, got):
            assert g_.shape == w.shape, (g_.shape, w.shape)
            np.testing.assert_allclose(g_, w, rtol=rtol, atol=atol)
    return raw, opt, reports, got


def data_transposes(outputs) -> list:
    """The transpose nodes on the data path (reading something computed from a placeholder); transposes of
    constants (weights being re-laid out) are left to constant folding and not counted."""
    live = needed_nodes(list(outputs), set())
    on_path: set = set()
    found = []
    for n in live:  # inputs before consumers
        if n.type == "placeholder" or any(id(t.op) in on_path for t in n.inputs):
            on_path.add(id(n))
            if n.type == "transpose":
                found.append(n)
    return found


def onnx_data_transposes(model: onnx.ModelProto, data_inputs=None) -> list:
    """Transpose nodes of `model` whose input is computed from the data inputs (default: every graph input
    that is not an initializer); returns (node, reads a graph input, writes a graph output) triples."""
    inits = {i.name for i in model.graph.initializer}
    names = (
        data_inputs if data_inputs is not None else [i.name for i in model.graph.input if i.name not in inits]
    )
    on_path = set(names)
    outs = {o.name for o in model.graph.output}
    found = []
    for n in model.graph.node:  # ONNX nodes are topologically sorted
        if any(i in on_path for i in n.input):
            on_path.update(n.output)
            if n.op_type == "Transpose":
                found.append((n, n.input[0] in names, n.output[0] in outs))
    return found
