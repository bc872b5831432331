"""Shared helpers for the tests of research/slim's zoo (slimir.nets): parameter and multiply-accumulate
counts, realistic variable values, ONNX export checked against the Session, a few training steps."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort

import slimir as slim
from slimir.nets import nets_factory
from slimir.runtime.export import build_model


def shape(t) -> list:
    return t.shape.as_list()


def num_params(variables) -> int:
    return sum(int(np.prod(v.shape.as_list())) for v in variables)


def var_shapes() -> dict:
    return {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}


def conv_macs(graph=None) -> int:
    """Multiply-accumulates of the graph's 2-D/3-D convolutions and matmuls: output elements per example
    times the weight elements feeding each one."""
    total = 0
    for n in (graph or slim.get_default_graph()).nodes:
        if n.type in ("conv2d", "depthwise_conv2d", "conv3d"):
            out = n.outputs[0].shape.as_list()
            w = n.inputs[1].shape.as_list()
            per_out = int(np.prod(w[:-1])) if n.type != "depthwise_conv2d" else int(np.prod(w[:2]))
            total += int(np.prod(out[1:])) * per_out
        elif n.type == "matmul":
            total += int(np.prod(n.inputs[1].shape.as_list()))
    return total


def set_realistic_values(sess, rng) -> None:
    """He-scaled weights and non-trivial normalisation parameters and statistics, so that activations keep
    their scale through a deep network (the initial values would make every check trivially small)."""
    for v in slim.global_variables():
        s = v.shape.as_list()
        name = v.op.name
        if not s or "global_step" in name:
            continue
        if name.endswith("depthwise_weights"):
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(s[:-2])), s)
        elif name.endswith(("weights", "pointwise_weights")):
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(s[:-1])), s)
        elif name.endswith(("gamma", "moving_variance")):
            value = rng.uniform(0.5, 1.0, s)
        else:
            value = rng.uniform(-0.1, 0.1, s)
        sess.set_variable_value(v, value.astype(v.dtype.np))


def check_export(name_or_fn, input_shape, *, num_classes=1001, seed=2, rtol=1e-4, node_prefix=None, **kwargs):
    """Build the network (a nets_factory name or a function images -> (net, end_points)) for inference,
    export it with the session's values, check the model (full_check) and compare ONNX Runtime's output
    with the Session's. Returns the ONNX model."""
    rng = np.random.default_rng(seed)
    xv = rng.uniform(-1.0, 1.0, input_shape).astype(np.float32)
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None] + list(input_shape[1:]), name="images")
        if isinstance(name_or_fn, str):
            net, _ = nets_factory.get_network_fn(name_or_fn, num_classes, is_training=False)(images, **kwargs)
        else:
            net, _ = name_or_fn(images)
        with slim.Session() as sess:
            set_realistic_values(sess, rng)
            expected = sess.run(net, {images: xv})
            model = build_model(net, session=sess)
    onnx.checker.check_model(model, full_check=True)
    if node_prefix:
        assert any(n.name.startswith(node_prefix) for n in model.graph.node), node_prefix
    actual = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"images": xv})[0]
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    assert 1e-3 < scale < 1e5, scale
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)
    return model


def train_losses(name, input_shape, *, num_classes=10, steps=3, lr=1e-3, seed=3, weight_decay=4e-5,
                 optimizer=None, **kwargs) -> list:
    """`steps` training steps of nets_factory's `name` (is_training=True, its arg_scope with `weight_decay`)
    on one random batch, Adam(`lr`) unless `optimizer`; the losses. (Adam's per-parameter steps make the
    decrease robust to the step-to-step noise of dropout masks and batch statistics.)"""
    rng = np.random.default_rng(seed)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.placeholder(slim.float32, list(input_shape), name="images")
        y = slim.placeholder(slim.int64, [input_shape[0]], name="labels")
        logits, end_points = nets_factory.get_network_fn(name, num_classes, weight_decay=weight_decay,
                                                         is_training=True)(x, **kwargs)
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        if "AuxLogits" in end_points:  # as research/slim's train_image_classifier: the auxiliary loss at 0.4
            slim.losses.sparse_softmax_cross_entropy(end_points["AuxLogits"], y, weights=0.4)
        total = slim.losses.get_total_loss()
        opt = optimizer or slim.train.AdamOptimizer(lr)
        train_op = slim.learning.create_train_op(total, opt)
        feed = {x: rng.uniform(-1, 1, input_shape).astype(np.float32),
                y: rng.integers(0, num_classes, input_shape[0])}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            return [float(sess.run(train_op, feed)) for _ in range(steps)]


def assert_decreasing(losses) -> None:
    assert all(np.isfinite(losses)), losses
    assert all(a > b for a, b in itertools.pairwise(losses)), losses


def train_generic(build, steps=3, lr=1e-3, seed=3) -> list:
    """`steps` Adam steps on the loss of `build(rng) -> feed_dict` (which builds the network and adds its
    losses in a fresh graph); the total losses."""
    rng = np.random.default_rng(seed)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        feed = build(rng)
        train_op = slim.learning.create_train_op(slim.losses.get_total_loss(), slim.train.AdamOptimizer(lr))
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            return [float(sess.run(train_op, feed)) for _ in range(steps)]


def check_export_fn(build, input_shape, *, seed=2, rtol=1e-4):
    """check_export for a network function `build(inputs) -> (net, end_points)` on an arbitrary input."""
    return check_export(build, input_shape, seed=seed, rtol=rtol)
