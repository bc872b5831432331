"""Whole nets: gradients of every trainable variable.

float64, numpy references: lenet, cifarnet, cifarnet with batch-normalised convolutions and a small conv net
with slim.batch_norm (training mode), against central differences on a few coordinates of each variable.
float32, ONNX Runtime: slim.Session's evaluation of all the gradients of lenet and cifarnet equals
slimir.reference.evaluate of the same gradient tensors.

The loss is a softmax cross-entropy written with slim.nn.log_softmax and one_hot of integer labels, plus the
nets' L2 weight-decay terms. Variables hold random values (not the nets' initialisers: non-zero biases and
batch-norm offsets exercise every term).
"""

from __future__ import annotations

import numpy as np
import pytest
from fdcheck import fd_check

import slimir as slim
from slimir.graph import GraphKeys
from slimir.nets import cifarnet, lenet
from slimir.ops import array_ops, math_ops, nn_ops
from slimir.passes.gradients import gradients
from slimir.reference import evaluate


def _xent(logits, labels, num_classes):
    onehot = array_ops.one_hot(labels, num_classes, dtype=logits.dtype)
    return -math_ops.reduce_mean(math_ops.reduce_sum(onehot * nn_ops.log_softmax(logits), axis=[1]))


def _loss(g, logits, labels, num_classes):
    loss = _xent(logits, labels, num_classes)
    reg = g.get_collection(GraphKeys.REGULARIZATION_LOSSES)
    return math_ops.add_n([loss] + reg) if reg else loss


def _values(g, rng, scale=1.0):
    """Random values for every global variable: N(0, 1/fan_in) weights, N(0, 0.1) biases and offsets,
    1 + N(0, 0.1) scales; moving statistics 0 / 1."""
    vals = {}
    for v in g.get_collection(GraphKeys.GLOBAL_VARIABLES):
        shape = tuple(v.shape)
        name = v.op.name
        if name.endswith("moving_mean"):
            a = np.zeros(shape)
        elif name.endswith("moving_variance"):
            a = np.ones(shape)
        elif name.endswith("gamma"):
            a = 1.0 + 0.1 * rng.standard_normal(shape)
        elif len(shape) <= 1:
            a = 0.1 * rng.standard_normal(shape)
        else:
            a = scale * rng.standard_normal(shape) / np.sqrt(np.prod(shape[:-1]))
        vals[v] = a.astype(v.dtype.np)
    return vals


def _build(net, dtype, image_shape, n_classes=10, batch=None, **kw):
    g = slim.Graph()
    with g.as_default():
        images = slim.placeholder(dtype, [batch] + list(image_shape), name="images")
        labels = slim.placeholder(slim.int32, [batch], name="labels")
        logits = net(images, n_classes, **kw)
        loss = _loss(g, logits, labels, n_classes)
    return g, images, labels, loss


def _lenet(images, n, is_training=False):
    with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=0.01)):
        return lenet.lenet(images, n, is_training=is_training)[0]


def _cifarnet(images, n, is_training=False, batch_norm=False):
    with slim.arg_scope(cifarnet.cifarnet_arg_scope()):
        if not batch_norm:
            return cifarnet.cifarnet(images, n, is_training=is_training)[0]
        with slim.arg_scope([slim.conv2d], normalizer_fn=slim.batch_norm,
                            normalizer_params={"is_training": True, "scale": True}):
            return cifarnet.cifarnet(images, n, is_training=is_training)[0]


def _small_bn_net(images, n, data_format="NHWC"):
    """conv + batch_norm(scale) + relu, max pool, strided conv + batch_norm, avg pool, fc + batch_norm, logits."""
    with slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.avg_pool2d], data_format=data_format):
        with slim.arg_scope([slim.batch_norm], is_training=True, scale=True, data_format=data_format):
            net = slim.conv2d(images, 4, [3, 3], normalizer_fn=slim.batch_norm, scope="conv1")
            net = slim.max_pool2d(net, [2, 2], 2, padding="SAME", scope="pool1")
            net = slim.conv2d(net, 6, [3, 3], stride=2, normalizer_fn=slim.batch_norm, scope="conv2")
            net = slim.avg_pool2d(net, [2, 2], 1, scope="pool2")
            net = slim.flatten(net)
        net = slim.fully_connected(net, 8, normalizer_fn=slim.batch_norm,
                                   normalizer_params={"is_training": True, "scale": False}, scope="fc1")
        return slim.fully_connected(net, n, activation_fn=None, scope="logits")


def _zoo_net(images, n, data_format="NHWC"):
    """The layers and ops lenet and cifarnet leave out: separable (depthwise) and transposed convolutions,
    strided/dilated geometry, avg pooling, layer_norm, l2_normalize, concat/split, slicing, padding, reduce_max,
    elementwise activations and a rank-3 fully_connected (tile is left out: its VJP needs a fully known input
    shape, see test_vjp.py::test_unknown_batch_dimension[tile])."""
    cax = 3 if data_format == "NHWC" else 1
    hw = [1, 2] if data_format == "NHWC" else [2, 3]
    with slim.arg_scope([slim.conv2d, slim.separable_conv2d, slim.conv2d_transpose, slim.avg_pool2d,
                         slim.max_pool2d], data_format=data_format):
        net = slim.separable_conv2d(images, 6, [3, 3], depth_multiplier=2, activation_fn=math_ops.elu, scope="sep")
        a, b = array_ops.split(net, [2, 4], axis=cax)
        net = array_ops.concat([math_ops.tanh(a), math_ops.sigmoid(b) * 2.0], axis=cax)
        net = slim.conv2d(net, 5, [3, 3], stride=2, activation_fn=math_ops.softplus, scope="down")
        net = slim.conv2d_transpose(net, 4, [3, 3], stride=2, activation_fn=None, scope="up")
        net = slim.conv2d(net, 4, [3, 3], rate=2, activation_fn=lambda t: math_ops.leaky_relu(t, 0.1), scope="dil")
        net = slim.avg_pool2d(net, [3, 3], 2, padding="SAME", scope="avg")
        net = nn_ops.lrn(net, 1, 1.0, 0.2, 0.75) if data_format == "NHWC" else net
        net = net + math_ops.reduce_max(net, axis=hw, keepdims=True) * 0.5
        pads = [[0, 0], [1, 0], [0, 1], [0, 0]] if data_format == "NHWC" else [[0, 0], [0, 0], [1, 0], [0, 1]]
        net = array_ops.pad(net, pads)
        net = net[:, 1:, :-1] if data_format == "NHWC" else net[:, :, 1:, :-1]
    net = slim.flatten(net)
    net = slim.nn.l2_normalize(net, axis=1) * 3.0
    net = array_ops.reshape(array_ops.concat([net, net * -1.0], axis=1), [-1, 4, net.shape[1] // 2])
    net = slim.layer_norm(slim.fully_connected(net, 6, activation_fn=math_ops.relu6, scope="fc_seq"),
                          begin_norm_axis=1, scope="ln")
    net = math_ops.reduce_mean(net, axis=[1])
    return slim.fully_connected(net, n, activation_fn=None, scope="logits")


def _feed(images, labels, shape, n_classes, rng, dtype):
    return {images: rng.standard_normal(shape).astype(dtype), labels: rng.integers(0, n_classes, shape[0]).astype(np.int32)}


def _fd_all_variables(g, loss, feed, rng, n_coords=3, **kw):
    trainable = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
    assert trainable
    values = _values(g, rng)
    with g.as_default():
        grads = gradients(loss, trainable)
    assert all(gr is not None for gr in grads), [v.op.name for v, gr in zip(trainable, grads) if gr is None]
    fd_check(loss, trainable, feed, values, rng, n_coords=n_coords, grads=grads, **kw)
    return trainable


# ------------------------------------------------------------------------------------------
# float64 against central differences


def test_lenet_fd():
    rng = np.random.default_rng(0)
    g, images, labels, loss = _build(_lenet, slim.float64, (12, 12, 1))
    feed = _feed(images, labels, (3, 12, 12, 1), 10, rng, np.float64)
    names = [v.op.name for v in _fd_all_variables(g, loss, feed, rng)]
    assert names == [f"LeNet/{s}/{p}" for s in ("conv1", "conv2", "fc3", "fc4") for p in ("weights", "biases")]


def test_lenet_fd_training_dropout_seeded():
    """With a graph seed the reference's dropout mask is fixed, so training mode can be checked too."""
    rng = np.random.default_rng(1)
    g = slim.Graph()
    with g.as_default():
        slim.set_random_seed(7)
        images = slim.placeholder(slim.float64, [None, 8, 8, 1])
        labels = slim.placeholder(slim.int32, [None])
        logits = _lenet(images, 5, is_training=True)
        loss = _loss(g, logits, labels, 5)
    assert any(n.type == "dropout" for n in g.get_operations())
    _fd_all_variables(g, loss, _feed(images, labels, (2, 8, 8, 1), 5, rng, np.float64), rng, n_coords=2)


def test_cifarnet_fd():
    rng = np.random.default_rng(2)
    g, images, labels, loss = _build(_cifarnet, slim.float64, (12, 12, 3))
    assert sum(n.type == "lrn" for n in g.get_operations()) == 2
    _fd_all_variables(g, loss, _feed(images, labels, (2, 12, 12, 3), 10, rng, np.float64), rng)


def test_cifarnet_with_batch_norm_fd():
    rng = np.random.default_rng(3)
    g, images, labels, loss = _build(lambda im, n: _cifarnet(im, n, batch_norm=True), slim.float64, (8, 8, 3))
    names = [v.op.name for v in g.get_collection(GraphKeys.TRAINABLE_VARIABLES)]
    assert "CifarNet/conv1/BatchNorm/gamma" in names and "CifarNet/conv2/BatchNorm/beta" in names
    _fd_all_variables(g, loss, _feed(images, labels, (3, 8, 8, 3), 10, rng, np.float64), rng)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_small_conv_net_with_batch_norm_fd(data_format):
    rng = np.random.default_rng(4)
    shape = (4, 7, 7, 3) if data_format == "NHWC" else (4, 3, 7, 7)
    g, images, labels, loss = _build(lambda im, n: _small_bn_net(im, n, data_format), slim.float64, shape[1:], 5)
    assert sum(n.type == "fused_batch_norm" for n in g.get_operations()) == 3
    feed = _feed(images, labels, shape, 5, rng, np.float64)
    _fd_all_variables(g, loss, feed, rng, n_coords=4)
    # the input gradient too (batch statistics depend on every image)
    with g.as_default():
        fd_check(loss, [images], feed, _values(g, rng), rng, n_coords=6)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_zoo_net_fd(data_format):
    rng = np.random.default_rng(6)
    shape = (3, 9, 9, 3) if data_format == "NHWC" else (3, 3, 9, 9)
    g, images, labels, loss = _build(lambda im, n: _zoo_net(im, n, data_format), slim.float64, shape[1:], 4)
    types = {n.type for n in g.get_operations()}
    assert {"depthwise_conv2d", "conv2d_transpose", "avg_pool", "split", "pad", "strided_slice"} <= types
    feed = _feed(images, labels, shape, 4, rng, np.float64)
    _fd_all_variables(g, loss, feed, rng, n_coords=3)
    with g.as_default():
        fd_check(loss, [images], feed, _values(g, rng), rng, n_coords=6)


def test_dynamic_batch_gives_the_same_gradients():
    """Placeholders with an unknown batch dimension (as training code writes them): the same values."""
    got = []
    for batch in (3, None):
        g, images, labels, loss = _build(lambda im, n: _small_bn_net(im, n), slim.float64, (7, 7, 3), 5, batch=batch)
        trainable = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
        with g.as_default():
            grads = gradients(loss, trainable + [images])
        r = np.random.default_rng(0)
        feed = _feed(images, labels, (3, 7, 7, 3), 5, r, np.float64)
        got.append(evaluate(grads, feed, _values(g, r)))
    for a, b in zip(*got):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------------------
# float32: ONNX Runtime (slim.Session) against the numpy references, whole gradient graphs


def _ort_vs_reference(g, images, labels, loss, shape, n_classes, seed):
    rng = np.random.default_rng(seed)
    trainable = g.get_collection(GraphKeys.TRAINABLE_VARIABLES)
    with g.as_default():
        grads = gradients(loss, trainable)
    values = _values(g, rng)
    feed = _feed(images, labels, shape, n_classes, rng, np.float32)
    want = evaluate([loss] + grads, feed, values)
    with slim.Session(graph=g) as sess:
        for v, a in values.items():
            sess.set_variable_value(v, a)
        got = sess.run([loss] + grads, feed)
    for t, x, y in zip([loss] + trainable, got, want):
        assert x.dtype == np.float32 and x.shape == y.shape
        # rtol 1e-4 on float32 sums of thousands of products; atol 1e-5 of the tensor's largest gradient
        # for entries that cancel to almost nothing (their absolute error is that of the large ones)
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5 * float(np.abs(y).max()), err_msg=t.name)


def test_lenet_ort_matches_reference():
    g, images, labels, loss = _build(_lenet, slim.float32, (28, 28, 1), batch=None)
    _ort_vs_reference(g, images, labels, loss, (4, 28, 28, 1), 10, 10)


def test_cifarnet_ort_matches_reference():
    g, images, labels, loss = _build(_cifarnet, slim.float32, (32, 32, 3), batch=None)
    _ort_vs_reference(g, images, labels, loss, (2, 32, 32, 3), 10, 11)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_zoo_net_ort_matches_reference(data_format):
    shape = (3, 9, 9, 3) if data_format == "NHWC" else (3, 3, 9, 9)
    g, images, labels, loss = _build(lambda im, n: _zoo_net(im, n, data_format), slim.float32, shape[1:], 4,
                                     batch=None)
    _ort_vs_reference(g, images, labels, loss, shape, 4, 13)


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_small_bn_net_ort_matches_reference(data_format):
    shape = (4, 9, 9, 3) if data_format == "NHWC" else (4, 3, 9, 9)
    g, images, labels, loss = _build(lambda im, n: _small_bn_net(im, n, data_format), slim.float32, shape[1:], 5,
                                     batch=None)
    _ort_vs_reference(g, images, labels, loss, shape, 5, 12)
