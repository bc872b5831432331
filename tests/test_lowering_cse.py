"""ONNX-level common-subexpression elimination in lowering (`lowering._onnx_cse`, with small constants
shared by value): equal ONNX nodes are merged, random ops are not, values are unchanged, and ONNX Runtime's
own CSE (which Session skips) finds nothing left to merge in a training step."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import onnxruntime as ort

import slimir as slim
from slimir.ops import random_ops
from slimir.runtime.lowering import lower


def _run(model, feeds):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {i.name: v for i, v in zip(s.get_inputs(), feeds)})


def _node_keys(model):
    return collections.Counter(
        (n.op_type, tuple(n.input), tuple(a.SerializeToString() for a in n.attribute)) for n in model.graph.node)


def test_equal_nodes_from_different_ir_nodes_are_merged_and_values_kept():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [3, 5], name="x")
        a = slim.reduce_mean(x, [1]) * 2.0
        b = slim.reduce_mean(x, [1]) * 2.0  # a second IR node computing the same thing
        c = slim.reduce_sum(x, [1])  # same input, another op: not merged
        out = a + b + c
        low = lower(g, [out], [x])
    types = collections.Counter(n.op_type for n in low.model.graph.node)
    assert types["ReduceMean"] == 1 and types["Mul"] == 1 and types["ReduceSum"] == 1, types
    v = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    np.testing.assert_allclose(_run(low.model, [v])[0], 4 * v.mean(1) + v.sum(1), rtol=1e-6)


def test_random_ops_are_never_merged():
    with slim.Graph().as_default() as g:
        a = random_ops.random_normal([1000], seed=3)
        b = random_ops.random_normal([1000], seed=3)
        low = lower(g, [a - b], [])
    types = collections.Counter(n.op_type for n in low.model.graph.node)
    assert sum(types[t] for t in ("RandomNormal", "RandomNormalLike")) == 2, types


def test_graph_outputs_of_equal_nodes_both_survive():
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [4], name="x")
        a = slim.nn.relu(x)
        b = slim.nn.relu(x)
        low = lower(g, [a, b], [x])
    v = np.array([-1, 2, -3, 4], np.float32)
    ra, rb = _run(low.model, [v])
    np.testing.assert_array_equal(ra, np.maximum(v, 0))
    np.testing.assert_array_equal(rb, np.maximum(v, 0))


def test_a_training_step_has_no_equal_nodes_left_for_ort_cse(tmp_path):
    """Training-mode batch norm computes the batch moments in the forward pass and again in its VJP; after
    lowering no two nodes are equal, and ORT's CSE (run alone at BASIC level) removes no node."""
    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [4, 8, 8, 3], name="x")
        y = slim.placeholder(slim.int64, [4], name="y")
        with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm):
            net = slim.conv2d(x, 6, [3, 3], scope="c1")
            net = slim.conv2d(net, 6, [3, 3], scope="c2")
        logits = slim.fully_connected(slim.flatten(net), 3, activation_fn=None, scope="fc")
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.MomentumOptimizer(0.1, 0.9))
        sess = slim.Session(graph=g)
        sess.run(slim.global_variables_initializer())
        rng = np.random.default_rng(0)
        feed = {x: rng.standard_normal((4, 8, 8, 3)).astype(np.float32), y: np.array([0, 1, 2, 0])}
        losses = [float(sess.run(train_op, feed)) for _ in range(3)]
        comp = [c for c in sess._cache.values() if c.sess is not None][-1]
    model = comp.lowered.model
    assert max(_node_keys(model).values()) == 1
    counts = []
    for disabled in ([], ["CommonSubexpressionElimination"]):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        so.optimized_model_filepath = str(tmp_path / f"opt{len(disabled)}.onnx")
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"],
                             disabled_optimizers=disabled)
        counts.append(collections.Counter(n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node))
    assert counts[0] == counts[1]
    assert losses[2] < losses[0]


def test_forward_max_pool_and_the_gradients_argmax_are_one_maxpool():
    """max_pool's VJP asks for the argmax of the same windows: the forward MaxPool is widened to return its
    Indices too, so a training step pools each window once; values equal the reference's."""
    from slimir.reference import evaluate

    with slim.Graph().as_default() as g:
        x = slim.placeholder(slim.float32, [2, 6, 6, 3], name="x")
        y = slim.max_pool2d(x, [3, 3], 2, padding="SAME") + slim.max_pool2d(x, [2, 2], 2)[:, :, :, :1] * 0.0
        loss = slim.reduce_sum(slim.square(y))
        (dx,) = slim.gradients(loss, [x])
        low = lower(g, [loss, dx], [x])
    pools = [n for n in low.model.graph.node if n.op_type == "MaxPool"]
    assert len(pools) == 2 and all(len(n.output) == 2 and n.output[1] for n in pools), pools
    v = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    got = _run(low.model, [v])
    want = evaluate([loss, dx], {x: v})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
