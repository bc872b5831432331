"""The TF-Slim README's VGG16 snippet ("Working Example: Specifying the VGG16 Layers"), ported by replacing
`tf.`/`slim.` names, runs as written, exports to ONNX, passes the full checker and computes on ONNX Runtime
what slim.Session computes; slim.nets.vgg.vgg_16 lowers to a valid model with TF-Slim's names."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import slimir as slim
from slimir.runtime.export import PARAMS_KEY, build_model
from slimir.runtime.inspect import count_parameters, describe_onnx

RTOL = 1e-5
ATOL = 1e-5


# The README snippet, with `tf.nn.relu` -> `slim.nn.relu` and `tf.truncated_normal_initializer` ->
# `slim.truncated_normal_initializer`; nothing else changed.
def vgg16(inputs):
    with slim.arg_scope(
        [slim.conv2d, slim.fully_connected],
        activation_fn=slim.nn.relu,
        weights_initializer=slim.truncated_normal_initializer(0.0, 0.01),
        weights_regularizer=slim.l2_regularizer(0.0005),
    ):
        net = slim.repeat(inputs, 2, slim.conv2d, 64, [3, 3], scope="conv1")
        net = slim.max_pool2d(net, [2, 2], scope="pool1")
        net = slim.repeat(net, 2, slim.conv2d, 128, [3, 3], scope="conv2")
        net = slim.max_pool2d(net, [2, 2], scope="pool2")
        net = slim.repeat(net, 3, slim.conv2d, 256, [3, 3], scope="conv3")
        net = slim.max_pool2d(net, [2, 2], scope="pool3")
        net = slim.repeat(net, 3, slim.conv2d, 512, [3, 3], scope="conv4")
        net = slim.max_pool2d(net, [2, 2], scope="pool4")
        net = slim.repeat(net, 3, slim.conv2d, 512, [3, 3], scope="conv5")
        net = slim.max_pool2d(net, [2, 2], scope="pool5")
        net = slim.fully_connected(net, 4096, scope="fc6")
        net = slim.dropout(net, 0.5, scope="dropout6")
        net = slim.fully_connected(net, 4096, scope="fc7")
        net = slim.dropout(net, 0.5, scope="dropout7")
        net = slim.fully_connected(net, 1000, activation_fn=None, scope="fc8")
    return net


# 32x32 is the smallest input the five 2x2 VALID pools leave a pixel of (32 / 2**5 = 1); the snippet's
# fully_connected layers then act on the last axis of the [N, 1, 1, C] maps.
SIZE = 32
CONV_WIDTHS = [("conv1", 2, 64), ("conv2", 2, 128), ("conv3", 3, 256), ("conv4", 3, 512), ("conv5", 3, 512)]


def _expected_variables():
    rows, cin = [], 3
    for block, reps, width in CONV_WIDTHS:
        for i in range(1, reps + 1):
            rows += [
                (f"{block}/{block}_{i}/weights", [3, 3, cin, width]),
                (f"{block}/{block}_{i}/biases", [width]),
            ]
            cin = width
    return rows + [
        ("fc6/weights", [512, 4096]),
        ("fc6/biases", [4096]),
        ("fc7/weights", [4096, 4096]),
        ("fc7/biases", [4096]),
        ("fc8/weights", [4096, 1000]),
        ("fc8/biases", [1000]),
    ]


@pytest.mark.slow
def test_readme_vgg16_snippet_exports_and_matches_session(tmp_path):
    rng = np.random.default_rng(0)
    xv = rng.uniform(0.0, 1.0, size=(2, SIZE, SIZE, 3)).astype(np.float32)
    path = tmp_path / "vgg16_readme.onnx"
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, SIZE, SIZE, 3], name="images")
        # The snippet's dropout layers take is_training from the arg_scope: inference, deterministic.
        with slim.arg_scope([slim.dropout], is_training=False):
            logits = vgg16(images)
        assert logits.shape.as_list() == [None, 1, 1, 1000]
        assert logits.op.name == "fc8/BiasAdd"
        variables = slim.get_model_variables()
        assert [(v.op.name, v.shape.as_list()) for v in variables] == _expected_variables()
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 16
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(variables[0])
            assert np.abs(w).max() <= 0.02 + 1e-7  # truncated_normal_initializer(0.0, 0.01)
            # Weights at the snippet's scale (0.01) shrink the activations to ~1e-10 over 16 layers, which
            # would make any comparison pass; He-scaled weights and non-zero biases keep outputs O(1).
            for v in variables:
                shape = v.shape.as_list()
                if v.op.name.endswith("weights"):
                    fan_in = int(np.prod(shape[:-1]))
                    sess.set_variable_value(
                        v, rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
                    )
                else:
                    sess.set_variable_value(v, rng.uniform(-0.1, 0.1, shape).astype(np.float32))
            expected = sess.run(logits, {images: xv})
            again = sess.run(logits, {images: xv})
            model = slim.export_onnx(logits, str(path), session=sess)
    np.testing.assert_array_equal(expected, again)
    assert 0.1 < np.abs(expected).max() < 1e3

    onnx.checker.check_model(str(path), full_check=True)
    assert count_parameters(model)[0] == sum(int(np.prod(s)) for _, s in _expected_variables())
    names = {n.name for n in model.graph.node}
    assert any(n.startswith("conv3/conv3_2/") for n in names)  # scope names survive for Netron
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", SIZE, SIZE, 3]

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actual,) = sess.run(None, {"images": xv})
    assert actual.shape == (2, 1, 1, 1000)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_nets_vgg_16_lowers_with_tfslim_names_without_weights():
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 224, 224, 3], name="images")
        with slim.arg_scope(vgg.vgg_arg_scope()):
            logits, _ = vgg.vgg_16(images, is_training=False)
        model = build_model(logits, weights=False)  # structure only: no 553 MB of weights
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert PARAMS_KEY in meta
    rep = describe_onnx(model)
    assert rep.params == 138_357_544 and rep.param_inputs == 32
    assert [i.name for i in rep.inputs] == ["images"]
    assert len(rep.outputs) == 1 and rep.outputs[0].name.startswith("vgg_16/fc8/squeezed")
    assert rep.op_counts["Conv"] == 16 and rep.op_counts["MaxPool"] == 5
    assert "Dropout" not in rep.op_counts  # is_training=False: dropout is an identity
    names = [n.name for n in model.graph.node]
    for scope in ("vgg_16/conv1/conv1_1/", "vgg_16/conv3/conv3_2/", "vgg_16/fc6/", "vgg_16/fc8/squeezed"):
        assert any(n.startswith(scope) for n in names), scope
    # 15.47 G multiply-adds per 224x224 image in the convolutions (fc6-fc8 included).
    assert rep.total_flops == 30_940_528_640
