"""Tests of slimir.nets against TF-Slim's network definitions: vgg (vgg_a/16/19), alexnet_v2, overfeat
(tf_slim/nets) and lenet, cifarnet (tensorflow/models research/slim/nets): names, shapes, end points,
parameter counts, arg scopes, and small forward runs checked against numpy."""

import ast
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir import errors

ROOT = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------------------------- helpers


def _ph(shape, name="images"):
    return slim.placeholder(slim.float32, shape, name=name)


def _shape(t):
    return t.shape.as_list()


def _model_vars():
    return [(v.op.name, v.shape.as_list()) for v in slim.get_model_variables()]


def _num_params(variables):
    return sum(int(np.prod(v.shape.as_list())) for v in variables)


def _var(name):
    found = [v for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) if v.op.name == name]
    assert len(found) == 1, name
    return found[0]


def _fixture(name):
    for base in (ROOT.parent / "shared", ROOT / "shared"):
        path = base / "fixtures" / name
        if path.exists():
            return path
    raise AssertionError(f"fixture {name} not found next to the repository (shared/fixtures)")


def _read_tfslim_names(path):
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape = line.split("\t")
        rows.append((name, list(ast.literal_eval(shape))))
    return rows


VGG_CONFIGS = {
    "vgg_a": [1, 1, 2, 2, 2],
    "vgg_16": [2, 2, 3, 3, 3],
    "vgg_19": [2, 2, 4, 4, 4],
}
VGG_WIDTHS = [64, 128, 256, 512, 512]


def _vgg_expected_end_points(name):
    keys = []
    for block, (reps, _) in enumerate(zip(VGG_CONFIGS[name], VGG_WIDTHS), start=1):
        keys += [f"{name}/conv{block}/conv{block}_{i}" for i in range(1, reps + 1)]
        keys.append(f"{name}/pool{block}")
    return keys + [f"{name}/fc6", f"{name}/fc7", f"{name}/fc8"]


def _vgg_expected_variables(name, num_classes=1000):
    rows = []
    cin = 3
    for block, (reps, width) in enumerate(zip(VGG_CONFIGS[name], VGG_WIDTHS), start=1):
        for i in range(1, reps + 1):
            rows.append((f"{name}/conv{block}/conv{block}_{i}/weights", [3, 3, cin, width]))
            rows.append((f"{name}/conv{block}/conv{block}_{i}/biases", [width]))
            cin = width
    rows += [
        (name + "/fc6/weights", [7, 7, 512, 4096]),
        (name + "/fc6/biases", [4096]),
        (name + "/fc7/weights", [1, 1, 4096, 4096]),
        (name + "/fc7/biases", [4096]),
        (name + "/fc8/weights", [1, 1, 4096, num_classes]),
        (name + "/fc8/biases", [num_classes]),
    ]
    return rows


# --------------------------------------------------------------------------------------------------- vgg


def test_vgg_16_variables_equal_tfslim_fixture():
    expected = _read_tfslim_names(_fixture("vgg16_tfslim_names.txt"))
    assert len(expected) == 32
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        with slim.arg_scope(vgg.vgg_arg_scope()):
            vgg.vgg_16(_ph([None, 224, 224, 3]), num_classes=1000)
        assert _model_vars() == expected
        assert [
            (v.op.name, v.shape.as_list()) for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)
        ] == expected
        assert [
            (v.op.name, v.shape.as_list()) for v in slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)
        ] == expected
        for v in slim.get_model_variables():
            assert v.name == v.op.name + ":0"
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 16


def test_vgg_16_parameter_count():
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        vgg.vgg_16(_ph([1, 224, 224, 3]))
        assert _num_params(slim.get_model_variables()) == 138_357_544
        assert _num_params(slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES)) == 138_357_544


@pytest.mark.parametrize(
    "name, params", [("vgg_a", 132_863_336), ("vgg_16", 138_357_544), ("vgg_19", 143_667_240)]
)
def test_vgg_build_logits_end_points_and_variables(name, params):
    vgg = slim.nets.vgg
    fn = getattr(vgg, name)
    assert fn.default_image_size == 224
    with slim.Graph().as_default():
        logits, end_points = fn(_ph([5, 224, 224, 3]), 1000)
        assert _shape(logits) == [5, 1000]
        assert logits.op.name == name + "/fc8/squeezed"
        assert list(end_points.keys()) == _vgg_expected_end_points(name)
        assert end_points[name + "/fc8"].name == logits.name
        assert _model_vars() == _vgg_expected_variables(name)
        assert _num_params(slim.get_model_variables()) == params
        # Without vgg_arg_scope there is no weight decay.
        assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []


def test_vgg_16_end_point_shapes():
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        _, ep = vgg.vgg_16(_ph([None, 224, 224, 3]))
        spatial = {1: 224, 2: 112, 3: 56, 4: 28, 5: 14}
        for block, width in enumerate(VGG_WIDTHS, start=1):
            for i in range(1, VGG_CONFIGS["vgg_16"][block - 1] + 1):
                key = f"vgg_16/conv{block}/conv{block}_{i}"
                assert _shape(ep[key]) == [None, spatial[block], spatial[block], width], key
            assert _shape(ep[f"vgg_16/pool{block}"]) == [
                None,
                spatial[block] // 2,
                spatial[block] // 2,
                width,
            ]
        assert _shape(ep["vgg_16/fc6"]) == [None, 1, 1, 4096]
        assert _shape(ep["vgg_16/fc7"]) == [None, 1, 1, 4096]
        assert _shape(ep["vgg_16/fc8"]) == [None, 1000]


@pytest.mark.parametrize("name", ["vgg_a", "vgg_16", "vgg_19"])
def test_vgg_fully_convolutional(name):
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        logits, end_points = getattr(vgg, name)(_ph([1, 256, 256, 3]), 1000, spatial_squeeze=False)
        assert _shape(logits) == [1, 2, 2, 1000]
        assert logits.op.name.startswith(name + "/fc8/")
        assert end_points[name + "/fc8"].name == logits.name
        assert list(end_points.keys()) == _vgg_expected_end_points(name)


def test_vgg_num_classes_and_is_training():
    vgg = slim.nets.vgg
    for is_training in (True, False):
        with slim.Graph().as_default():
            logits, end_points = vgg.vgg_16(_ph([2, 224, 224, 3]), num_classes=10, is_training=is_training)
            assert _shape(logits) == [2, 10]
            assert list(end_points.keys()) == _vgg_expected_end_points("vgg_16")
            assert _var("vgg_16/fc8/weights").shape.as_list() == [1, 1, 4096, 10]
            assert _var("vgg_16/fc8/biases").shape.as_list() == [10]
            assert len(slim.get_model_variables()) == 32


def test_vgg_custom_scope_and_dropout_keep_prob():
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        logits, end_points = vgg.vgg_a(_ph([1, 224, 224, 3]), 7, dropout_keep_prob=0.8, scope="my_vgg")
        assert _shape(logits) == [1, 7]
        assert logits.op.name == "my_vgg/fc8/squeezed"
        assert next(iter(end_points.keys())) == "my_vgg/conv1/conv1_1"
        assert slim.get_model_variables()[0].op.name == "my_vgg/conv1/conv1_1/weights"


def test_vgg_too_small_input_raises_at_fc6():
    vgg = slim.nets.vgg
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            vgg.vgg_16(_ph([1, 32, 32, 3]))
        assert isinstance(excinfo.value, errors.SlimirError)
        assert "vgg_16/fc6" in str(excinfo.value)


def test_vgg_arg_scope_is_a_reusable_dict():
    vgg = slim.nets.vgg
    sc = vgg.vgg_arg_scope(weight_decay=0.01)
    assert isinstance(sc, dict) and sc
    with slim.Graph().as_default():
        x = _ph([1, 5, 5, 2])
        with slim.arg_scope(sc):
            y = slim.conv2d(x, 3, [3, 3], scope="c")
            z = slim.fully_connected(slim.flatten(y), 2, scope="f")
        assert _shape(y) == [1, 5, 5, 3]  # padding SAME
        losses = slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)
        assert len(losses) == 2
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("c/weights")).astype(np.float64)
            b = sess.run(_var("c/biases"))
            values = sess.run(losses)
            out = sess.run(z, feed_dict={x: np.ones((1, 5, 5, 2), np.float32)})
        np.testing.assert_allclose(values[0], 0.01 * np.sum(w**2) / 2, rtol=1e-5)
        np.testing.assert_array_equal(b, np.zeros(3, np.float32))
        assert np.all(out >= 0)  # relu on fully_connected


# ------------------------------------------------------------------------------------------- alexnet_v2


ALEXNET_VARS = [
    ("alexnet_v2/conv1/weights", [11, 11, 3, 64]),
    ("alexnet_v2/conv1/biases", [64]),
    ("alexnet_v2/conv2/weights", [5, 5, 64, 192]),
    ("alexnet_v2/conv2/biases", [192]),
    ("alexnet_v2/conv3/weights", [3, 3, 192, 384]),
    ("alexnet_v2/conv3/biases", [384]),
    ("alexnet_v2/conv4/weights", [3, 3, 384, 384]),
    ("alexnet_v2/conv4/biases", [384]),
    ("alexnet_v2/conv5/weights", [3, 3, 384, 256]),
    ("alexnet_v2/conv5/biases", [256]),
    ("alexnet_v2/fc6/weights", [5, 5, 256, 4096]),
    ("alexnet_v2/fc6/biases", [4096]),
    ("alexnet_v2/fc7/weights", [1, 1, 4096, 4096]),
    ("alexnet_v2/fc7/biases", [4096]),
    ("alexnet_v2/fc8/weights", [1, 1, 4096, 1000]),
    ("alexnet_v2/fc8/biases", [1000]),
]


def test_alexnet_v2_build_end_points_and_variables():
    alexnet = slim.nets.alexnet
    assert alexnet.alexnet_v2.default_image_size == 224
    with slim.Graph().as_default():
        logits, ep = alexnet.alexnet_v2(_ph([5, 224, 224, 3]), 1000)
        assert _shape(logits) == [5, 1000]
        assert logits.op.name == "alexnet_v2/fc8/squeezed"
        expected_shapes = {
            "alexnet_v2/conv1": [5, 54, 54, 64],
            "alexnet_v2/pool1": [5, 26, 26, 64],
            "alexnet_v2/conv2": [5, 26, 26, 192],
            "alexnet_v2/pool2": [5, 12, 12, 192],
            "alexnet_v2/conv3": [5, 12, 12, 384],
            "alexnet_v2/conv4": [5, 12, 12, 384],
            "alexnet_v2/conv5": [5, 12, 12, 256],
            "alexnet_v2/pool5": [5, 5, 5, 256],
            "alexnet_v2/fc6": [5, 1, 1, 4096],
            "alexnet_v2/fc7": [5, 1, 1, 4096],
            "alexnet_v2/fc8": [5, 1000],
        }
        assert list(ep.keys()) == list(expected_shapes)
        assert {k: _shape(v) for k, v in ep.items()} == expected_shapes
        assert ep["alexnet_v2/fc8"].name == logits.name
        assert _model_vars() == ALEXNET_VARS
        assert _num_params(slim.get_model_variables()) == sum(int(np.prod(s)) for _, s in ALEXNET_VARS)


def test_alexnet_v2_fully_convolutional_and_num_classes():
    alexnet = slim.nets.alexnet
    with slim.Graph().as_default():
        logits, _ = alexnet.alexnet_v2(_ph([1, 300, 400, 3]), 1000, spatial_squeeze=False)
        assert _shape(logits) == [1, 4, 7, 1000]
        assert logits.op.name.startswith("alexnet_v2/fc8/")
    with slim.Graph().as_default():
        logits, _ = alexnet.alexnet_v2(_ph([None, 224, 224, 3]), num_classes=17, is_training=False)
        assert _shape(logits) == [None, 17]
        assert _var("alexnet_v2/fc8/weights").shape.as_list() == [1, 1, 4096, 17]


def test_alexnet_v2_arg_scope():
    alexnet = slim.nets.alexnet
    sc = alexnet.alexnet_v2_arg_scope()
    assert isinstance(sc, dict) and sc
    with slim.Graph().as_default():
        with slim.arg_scope(sc):
            alexnet.alexnet_v2(_ph([2, 224, 224, 3]))
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 8
        assert _model_vars() == ALEXNET_VARS
    with slim.Graph().as_default():
        x = _ph([1, 7, 7, 2])
        with slim.arg_scope(sc):
            c = slim.conv2d(x, 3, [3, 3], scope="c")
            p = slim.max_pool2d(c, [3, 3], 2, scope="p")
            f = slim.fully_connected(slim.flatten(p), 4, scope="f")
        assert _shape(c) == [1, 7, 7, 3]  # conv2d padding SAME
        assert _shape(p) == [1, 3, 3, 3]  # max_pool2d padding VALID
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            cb = sess.run(_var("c/biases"))
            fb = sess.run(_var("f/biases"))
        np.testing.assert_allclose(cb, np.full(3, 0.1), rtol=1e-6)
        np.testing.assert_allclose(fb, np.full(4, 0.1), rtol=1e-6)
        assert _shape(f) == [1, 4]


# ------------------------------------------------------------------------------------------------ overfeat


OVERFEAT_VARS = [
    ("overfeat/conv1/weights", [11, 11, 3, 64]),
    ("overfeat/conv1/biases", [64]),
    ("overfeat/conv2/weights", [5, 5, 64, 256]),
    ("overfeat/conv2/biases", [256]),
    ("overfeat/conv3/weights", [3, 3, 256, 512]),
    ("overfeat/conv3/biases", [512]),
    ("overfeat/conv4/weights", [3, 3, 512, 1024]),
    ("overfeat/conv4/biases", [1024]),
    ("overfeat/conv5/weights", [3, 3, 1024, 1024]),
    ("overfeat/conv5/biases", [1024]),
    ("overfeat/fc6/weights", [6, 6, 1024, 3072]),
    ("overfeat/fc6/biases", [3072]),
    ("overfeat/fc7/weights", [1, 1, 3072, 4096]),
    ("overfeat/fc7/biases", [4096]),
    ("overfeat/fc8/weights", [1, 1, 4096, 1000]),
    ("overfeat/fc8/biases", [1000]),
]


def test_overfeat_build_end_points_and_variables():
    overfeat = slim.nets.overfeat
    with slim.Graph().as_default():
        logits, ep = overfeat.overfeat(_ph([5, 231, 231, 3]), 1000)
        assert _shape(logits) == [5, 1000]
        assert logits.op.name == "overfeat/fc8/squeezed"
        expected_shapes = {
            "overfeat/conv1": [5, 56, 56, 64],
            "overfeat/pool1": [5, 28, 28, 64],
            "overfeat/conv2": [5, 24, 24, 256],
            "overfeat/pool2": [5, 12, 12, 256],
            "overfeat/conv3": [5, 12, 12, 512],
            "overfeat/conv4": [5, 12, 12, 1024],
            "overfeat/conv5": [5, 12, 12, 1024],
            "overfeat/pool5": [5, 6, 6, 1024],
            "overfeat/fc6": [5, 1, 1, 3072],
            "overfeat/fc7": [5, 1, 1, 4096],
            "overfeat/fc8": [5, 1000],
        }
        assert list(ep.keys()) == list(expected_shapes)
        assert {k: _shape(v) for k, v in ep.items()} == expected_shapes
        assert _model_vars() == OVERFEAT_VARS


def test_overfeat_fully_convolutional_num_classes_and_arg_scope():
    overfeat = slim.nets.overfeat
    with slim.Graph().as_default():
        logits, _ = overfeat.overfeat(_ph([1, 281, 281, 3]), 1000, spatial_squeeze=False)
        assert _shape(logits) == [1, 2, 2, 1000]
    sc = overfeat.overfeat_arg_scope()
    assert isinstance(sc, dict) and sc
    with slim.Graph().as_default():
        with slim.arg_scope(sc):
            logits, _ = overfeat.overfeat(_ph([None, 231, 231, 3]), num_classes=5, is_training=False)
        assert _shape(logits) == [None, 5]
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 8
        assert _var("overfeat/fc8/weights").shape.as_list() == [1, 1, 4096, 5]


# ----------------------------------------------------------------------------------- lenet / cifarnet refs


def _np_conv_same(x, w, b):
    """Stride-1 SAME conv + bias + relu, NHWC (odd square kernels only)."""
    k = w.shape[0]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    h, wd = x.shape[1], x.shape[2]
    out = np.zeros(x.shape[:3] + (w.shape[3],))
    for i in range(k):
        for j in range(k):
            out += np.tensordot(xp[:, i : i + h, j : j + wd, :], w[i, j], axes=([3], [0]))
    return np.maximum(out + b, 0.0)


def _np_max_pool_2x2(x):
    n, h, w, c = x.shape
    return x[:, : h // 2 * 2, : w // 2 * 2, :].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _np_lrn(x, depth_radius=4, bias=1.0, alpha=0.001 / 9.0, beta=0.75):
    # tf.nn.lrn: alpha multiplies the plain sum of squares over the 2 * depth_radius + 1 window.
    sq = np.square(x)
    c = x.shape[-1]
    sums = np.zeros_like(x)
    for d in range(c):
        sums[..., d] = sq[..., max(0, d - depth_radius) : d + depth_radius + 1].sum(axis=-1)
    return x / (bias + alpha * sums) ** beta


def _np_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _fetch_vars(sess, names):
    return {n: sess.run(_var(n)).astype(np.float64) for n in names}


# --------------------------------------------------------------------------------------------------- lenet


LENET_VARS = [
    ("LeNet/conv1/weights", [5, 5, 1, 32]),
    ("LeNet/conv1/biases", [32]),
    ("LeNet/conv2/weights", [5, 5, 32, 64]),
    ("LeNet/conv2/biases", [64]),
    ("LeNet/fc3/weights", [3136, 1024]),
    ("LeNet/fc3/biases", [1024]),
    ("LeNet/fc4/weights", [1024, 10]),
    ("LeNet/fc4/biases", [10]),
]


def test_lenet_build_end_points_and_variables():
    lenet = slim.nets.lenet
    assert lenet.lenet.default_image_size == 28
    with slim.Graph().as_default():
        logits, ep = lenet.lenet(_ph([None, 28, 28, 1]))
        assert _shape(logits) == [None, 10]
        expected_shapes = {
            "conv1": [None, 28, 28, 32],
            "pool1": [None, 14, 14, 32],
            "conv2": [None, 14, 14, 64],
            "pool2": [None, 7, 7, 64],
            "Flatten": [None, 3136],
            "fc3": [None, 1024],
            "dropout3": [None, 1024],
            "Logits": [None, 10],
            "Predictions": [None, 10],
        }
        assert list(ep.keys()) == list(expected_shapes)
        assert {k: _shape(v) for k, v in ep.items()} == expected_shapes
        assert ep["Logits"].name == logits.name
        assert _model_vars() == LENET_VARS
        assert _num_params(slim.get_model_variables()) == 3_274_634


def test_lenet_without_logits_layer():
    lenet = slim.nets.lenet
    with slim.Graph().as_default():
        net, ep = lenet.lenet(_ph([2, 28, 28, 1]), num_classes=0)
        assert _shape(net) == [2, 1024]
        assert list(ep.keys()) == ["conv1", "pool1", "conv2", "pool2", "Flatten", "fc3"]
        assert _model_vars() == LENET_VARS[:6]


def test_lenet_arg_scope_weight_decay():
    lenet = slim.nets.lenet
    sc = lenet.lenet_arg_scope()
    assert isinstance(sc, dict) and sc
    with slim.Graph().as_default():
        with slim.arg_scope(sc):
            lenet.lenet(_ph([1, 28, 28, 1]))
        # l2_regularizer(0.0) disables regularization in TF-Slim: no losses are recorded.
        assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []
    with slim.Graph().as_default():
        with slim.arg_scope(lenet.lenet_arg_scope(weight_decay=0.01)):
            lenet.lenet(_ph([1, 28, 28, 1]))
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 4


def test_lenet_forward_matches_numpy():
    lenet = slim.nets.lenet
    rng = np.random.default_rng(0)
    xv = rng.uniform(0.0, 1.0, size=(2, 28, 28, 1)).astype(np.float32)
    with slim.Graph().as_default():
        x = _ph([None, 28, 28, 1])
        with slim.arg_scope(lenet.lenet_arg_scope()):
            logits, ep = lenet.lenet(x)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            p = _fetch_vars(sess, [n for n, _ in LENET_VARS])
            out = sess.run(logits, feed_dict={x: xv})
            out_again = sess.run(logits, feed_dict={x: xv})
            probs = sess.run(ep["Predictions"], feed_dict={x: xv})
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    np.testing.assert_array_equal(out, out_again)  # is_training=False by default: deterministic
    # lenet_arg_scope: truncated_normal_initializer(stddev=0.1): |w| <= 0.2 and std 0.1 * 0.8796.
    fc3_w = p["LeNet/fc3/weights"]
    assert np.abs(fc3_w).max() <= 0.2 + 1e-6
    assert 0.086 < fc3_w.std() < 0.090
    h = _np_conv_same(xv.astype(np.float64), p["LeNet/conv1/weights"], p["LeNet/conv1/biases"])
    h = _np_max_pool_2x2(h)
    h = _np_conv_same(h, p["LeNet/conv2/weights"], p["LeNet/conv2/biases"])
    h = _np_max_pool_2x2(h).reshape(2, -1)  # NHWC flatten order
    h = np.maximum(h @ p["LeNet/fc3/weights"] + p["LeNet/fc3/biases"], 0.0)
    expected = h @ p["LeNet/fc4/weights"] + p["LeNet/fc4/biases"]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs, _np_softmax(expected), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), np.ones(2), rtol=1e-5)


def test_lenet_is_training_applies_dropout():
    lenet = slim.nets.lenet
    rng = np.random.default_rng(1)
    xv = rng.uniform(0.0, 1.0, size=(4, 28, 28, 1)).astype(np.float32)
    with slim.Graph().as_default():
        x = _ph([4, 28, 28, 1])
        _, ep = lenet.lenet(x, is_training=True, dropout_keep_prob=0.5)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            fc3, drop = sess.run([ep["fc3"], ep["dropout3"]], feed_dict={x: xv})
    active = fc3 > 0
    assert active.sum() > 100
    dropped = active & (drop == 0)
    kept = active & (drop != 0)
    assert 0.3 < dropped.sum() / active.sum() < 0.7
    np.testing.assert_allclose(drop[kept], fc3[kept] / 0.5, rtol=1e-5)
    assert np.all(drop[~active] == 0)


# ------------------------------------------------------------------------------------------------ cifarnet


CIFARNET_VARS = [
    ("CifarNet/conv1/weights", [5, 5, 3, 64]),
    ("CifarNet/conv1/biases", [64]),
    ("CifarNet/conv2/weights", [5, 5, 64, 64]),
    ("CifarNet/conv2/biases", [64]),
    ("CifarNet/fc3/weights", [4096, 384]),
    ("CifarNet/fc3/biases", [384]),
    ("CifarNet/fc4/weights", [384, 192]),
    ("CifarNet/fc4/biases", [192]),
    ("CifarNet/logits/weights", [192, 10]),
    ("CifarNet/logits/biases", [10]),
]


def test_cifarnet_build_end_points_and_variables():
    cifarnet = slim.nets.cifarnet
    assert cifarnet.cifarnet.default_image_size == 32
    with slim.Graph().as_default():
        logits, ep = cifarnet.cifarnet(_ph([None, 32, 32, 3]))
        assert _shape(logits) == [None, 10]
        expected_shapes = {
            "conv1": [None, 32, 32, 64],
            "pool1": [None, 16, 16, 64],
            "conv2": [None, 16, 16, 64],
            "pool2": [None, 8, 8, 64],
            "Flatten": [None, 4096],
            "fc3": [None, 384],
            "fc4": [None, 192],
            "Logits": [None, 10],
            "Predictions": [None, 10],
        }
        assert list(ep.keys()) == list(expected_shapes)
        assert {k: _shape(v) for k, v in ep.items()} == expected_shapes
        assert _model_vars() == CIFARNET_VARS
        assert _num_params(slim.get_model_variables()) == 1_756_426
    with slim.Graph().as_default():
        net, ep = cifarnet.cifarnet(_ph([2, 32, 32, 3]), num_classes=0)
        assert _shape(net) == [2, 192]
        assert list(ep.keys())[-1] == "fc4"
        assert _model_vars() == CIFARNET_VARS[:8]


def test_cifarnet_forward_matches_numpy():
    cifarnet = slim.nets.cifarnet
    sc = cifarnet.cifarnet_arg_scope()
    assert isinstance(sc, dict) and sc
    rng = np.random.default_rng(2)
    # Pixel-range input so that the local response normalisation changes the activations noticeably.
    xv = rng.uniform(0.0, 255.0, size=(2, 32, 32, 3)).astype(np.float32)
    with slim.Graph().as_default():
        x = _ph([None, 32, 32, 3])
        with slim.arg_scope(sc):
            logits, ep = cifarnet.cifarnet(x)
        # cifarnet_arg_scope regularizes fc3 and fc4 only (logits passes weights_regularizer=None).
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 2
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            p = _fetch_vars(sess, [n for n, _ in CIFARNET_VARS])
            out = sess.run(logits, feed_dict={x: xv})
            probs = sess.run(ep["Predictions"], feed_dict={x: xv})
    np.testing.assert_allclose(p["CifarNet/fc3/biases"], np.full(384, 0.1), rtol=1e-6)
    np.testing.assert_array_equal(p["CifarNet/logits/biases"], np.zeros(10))
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    h = _np_conv_same(xv.astype(np.float64), p["CifarNet/conv1/weights"], p["CifarNet/conv1/biases"])
    h = _np_lrn(_np_max_pool_2x2(h))
    h = _np_max_pool_2x2(_np_lrn(_np_conv_same(h, p["CifarNet/conv2/weights"], p["CifarNet/conv2/biases"])))
    h = h.reshape(2, -1)
    h = np.maximum(h @ p["CifarNet/fc3/weights"] + p["CifarNet/fc3/biases"], 0.0)
    h = np.maximum(h @ p["CifarNet/fc4/weights"] + p["CifarNet/fc4/biases"], 0.0)
    expected = h @ p["CifarNet/logits/weights"] + p["CifarNet/logits/biases"]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    np.testing.assert_allclose(probs, _np_softmax(expected), rtol=1e-4, atol=1e-5)
