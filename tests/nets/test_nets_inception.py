"""Tests of slimir.nets' Inception v1, v2 and v3 against TF-Slim's research/slim nets (inception_v1.py,
inception_v2.py, inception_v3.py, inception_utils.py and the scenarios of their *_test.py): end point
names, order and shapes, final_endpoint truncation, parameter counts, variable names, depth_multiplier,
logits heads, arg_scope; ONNX export equal to slim.Session; three training steps that lower the loss.

Sizes: the structure tests build graphs at the default sizes (nothing runs); whatever runs uses the
smallest inputs the nets take (v1 and v2 32x32, v1 with global_pool; v3 75x75, 107x107 with AuxLogits;
v1 and v2 train at 64x64) and batch 2.
"""

import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import slimir as slim
from slimir.apps import cli
from slimir.nets import inception, inception_utils, inception_v1, inception_v2, inception_v3, nets_factory

# ----------------------------------------------------------------------------------------------- helpers


def _ph(shape, name="images"):
    return slim.placeholder(slim.float32, shape, name=name)


def _shape(t):
    return t.shape.as_list()


def _num_params(variables):
    return sum(int(np.prod(v.shape.as_list())) for v in variables)


def _var_shapes():
    return {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}


# TF-Slim's expected end points (inception_v*_test.py), in build order.
V1_ENDPOINTS = [
    "Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3", "Mixed_3b",
    "Mixed_3c", "MaxPool_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
    "MaxPool_5a_2x2", "Mixed_5b", "Mixed_5c",
]  # fmt: skip
V2_ENDPOINTS = [
    "Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3", "Mixed_3b",
    "Mixed_3c", "Mixed_4a", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_5a", "Mixed_5b",
    "Mixed_5c",
]  # fmt: skip
V3_ENDPOINTS = [
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
    "MaxPool_5a_3x3", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
    "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
]  # fmt: skip

# [height, width, channels] of every end point at the default input size (testBuildAndCheckAllEndPoints*).
V1_SHAPES = {
    "Conv2d_1a_7x7": [112, 112, 64], "MaxPool_2a_3x3": [56, 56, 64], "Conv2d_2b_1x1": [56, 56, 64],
    "Conv2d_2c_3x3": [56, 56, 192], "MaxPool_3a_3x3": [28, 28, 192], "Mixed_3b": [28, 28, 256],
    "Mixed_3c": [28, 28, 480], "MaxPool_4a_3x3": [14, 14, 480], "Mixed_4b": [14, 14, 512],
    "Mixed_4c": [14, 14, 512], "Mixed_4d": [14, 14, 512], "Mixed_4e": [14, 14, 528],
    "Mixed_4f": [14, 14, 832], "MaxPool_5a_2x2": [7, 7, 832], "Mixed_5b": [7, 7, 832],
    "Mixed_5c": [7, 7, 1024],
}  # fmt: skip
V2_SHAPES = {
    "Conv2d_1a_7x7": [112, 112, 64], "MaxPool_2a_3x3": [56, 56, 64], "Conv2d_2b_1x1": [56, 56, 64],
    "Conv2d_2c_3x3": [56, 56, 192], "MaxPool_3a_3x3": [28, 28, 192], "Mixed_3b": [28, 28, 256],
    "Mixed_3c": [28, 28, 320], "Mixed_4a": [14, 14, 576], "Mixed_4b": [14, 14, 576],
    "Mixed_4c": [14, 14, 576], "Mixed_4d": [14, 14, 576], "Mixed_4e": [14, 14, 576],
    "Mixed_5a": [7, 7, 1024], "Mixed_5b": [7, 7, 1024], "Mixed_5c": [7, 7, 1024],
}  # fmt: skip
V3_SHAPES = {
    "Conv2d_1a_3x3": [149, 149, 32], "Conv2d_2a_3x3": [147, 147, 32], "Conv2d_2b_3x3": [147, 147, 64],
    "MaxPool_3a_3x3": [73, 73, 64], "Conv2d_3b_1x1": [73, 73, 80], "Conv2d_4a_3x3": [71, 71, 192],
    "MaxPool_5a_3x3": [35, 35, 192], "Mixed_5b": [35, 35, 256], "Mixed_5c": [35, 35, 288],
    "Mixed_5d": [35, 35, 288], "Mixed_6a": [17, 17, 768], "Mixed_6b": [17, 17, 768],
    "Mixed_6c": [17, 17, 768], "Mixed_6d": [17, 17, 768], "Mixed_6e": [17, 17, 768],
    "Mixed_7a": [8, 8, 1280], "Mixed_7b": [8, 8, 2048], "Mixed_7c": [8, 8, 2048],
}  # fmt: skip


class Net:
    def __init__(self, key, module, scope, endpoints, shapes, size, base_params, features, small, small_kw):
        self.key = key
        self.fn = getattr(module, key)
        self.base = getattr(module, key + "_base")
        self.arg_scope = getattr(module, key + "_arg_scope")
        self.scope = scope
        self.endpoints = endpoints
        self.shapes = shapes
        self.size = size
        self.base_params = base_params
        self.features = features  # channels of the pooled features before the logits
        self.small = small  # the smallest input the tests run at
        self.small_kw = small_kw  # what the net needs at that size

    def __repr__(self):
        return self.key


NETS = {
    "inception_v1": Net("inception_v1", inception_v1, "InceptionV1", V1_ENDPOINTS, V1_SHAPES, 224, 5_607_184,
                        1024, 32, {"global_pool": True}),
    "inception_v2": Net("inception_v2", inception_v2, "InceptionV2", V2_ENDPOINTS, V2_SHAPES, 224, 10_173_112,
                        1024, 32, {}),
    "inception_v3": Net("inception_v3", inception_v3, "InceptionV3", V3_ENDPOINTS, V3_SHAPES, 299, 21_802_784,
                        2048, 75, {"create_aux_logits": False}),
}  # fmt: skip
ALL = pytest.mark.parametrize("net", list(NETS.values()), ids=list(NETS))


# ------------------------------------------------------------------------------------------ base networks


def test_inception_v3_base_spatial_sizes_at_299():
    with slim.Graph().as_default():
        net, end_points = inception_v3.inception_v3_base(_ph([1, 299, 299, 3]))
        sizes = {k: _shape(v)[1] for k, v in end_points.items()}
        assert _shape(net) == [1, 8, 8, 2048]
    assert sizes["Conv2d_1a_3x3"] == 149
    assert sizes["Conv2d_2a_3x3"] == 147
    assert sizes["MaxPool_3a_3x3"] == 73
    assert sizes["Conv2d_4a_3x3"] == 71
    assert sizes["MaxPool_5a_3x3"] == 35
    assert _shape(end_points["Mixed_5b"])[1:] == [35, 35, 256]
    assert _shape(end_points["Mixed_6a"])[1:] == [17, 17, 768]
    assert _shape(end_points["Mixed_7a"])[1:] == [8, 8, 1280]
    assert _shape(end_points["Mixed_7c"])[1:] == [8, 8, 2048]


@ALL
def test_base_end_points_names_order_and_shapes(net):
    with slim.Graph().as_default():
        out, end_points = net.base(_ph([None, net.size, net.size, 3]))
        assert list(end_points) == net.endpoints
        assert {k: _shape(v) for k, v in end_points.items()} == {k: [None] + s for k, s in net.shapes.items()}
        final = net.endpoints[-1]
        assert out is end_points[final]
        assert out.op.name.startswith(f"{net.scope}/{final}/")
        # The modules' outputs are the concatenation of their branches.
        assert end_points["Mixed_5b"].op.type == "concat"


@ALL
def test_base_parameter_count_under_arg_scope(net):
    with slim.Graph().as_default():
        with slim.arg_scope(net.arg_scope()):
            net.base(_ph([1, net.size, net.size, 3]))
        variables = slim.get_model_variables()
        assert _num_params(variables) == net.base_params
        assert all(v.op.name.startswith(net.scope + "/") for v in variables)
        # No BatchNorm/gamma by default (batch_norm_scale=False), one beta and moving pair per conv2d.
        names = [v.op.name for v in variables]
        assert not any(n.endswith("/gamma") for n in names)
        n_bn = sum(n.endswith("/BatchNorm/beta") for n in names)
        assert n_bn == sum(n.endswith("/BatchNorm/moving_mean") for n in names)
        assert n_bn == sum(n.endswith("/weights") for n in names)
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == n_bn


@ALL
def test_final_endpoint_truncates_the_base(net):
    counts = []
    for index, end_point in enumerate(net.endpoints):
        with slim.Graph().as_default():
            out, end_points = net.base(_ph([2, net.small, net.small, 3]), final_endpoint=end_point)
            assert list(end_points) == net.endpoints[: index + 1]
            assert out.op.name.startswith(f"{net.scope}/{end_point}/")
            counts.append(len(slim.get_model_variables()))
    assert counts == sorted(counts) and counts[-1] > counts[0]
    with slim.Graph().as_default():
        with pytest.raises(ValueError, match="Unknown final endpoint"):
            net.base(_ph([2, net.small, net.small, 3]), final_endpoint="Mixed_9z")
        assert slim.get_model_variables() == []  # rejected before anything is built


@ALL
def test_base_half_size_images(net):
    size = net.size // 2
    expected = {"inception_v1": [4, 4, 1024], "inception_v2": [4, 4, 1024], "inception_v3": [3, 3, 2048]}
    with slim.Graph().as_default():
        out, _ = net.base(_ph([5, size, size, 3]))
        assert _shape(out) == [5] + expected[net.key]


@pytest.mark.parametrize(
    "net", [NETS["inception_v1"], NETS["inception_v2"]], ids=["inception_v1", "inception_v2"]
)
def test_base_without_root_block(net):
    expected = {k: [5] + net.shapes[k] for k in net.endpoints[5:]}  # as from a 224x224 input
    with slim.Graph().as_default():
        _, end_points = net.base(_ph([5, 28, 28, 192]), include_root_block=False)
        assert {k: _shape(v) for k, v in end_points.items()} == expected
        assert list(end_points) == net.endpoints[5:]
        with pytest.raises(ValueError, match="Unknown final endpoint"):
            net.base(_ph([5, 28, 28, 192]), include_root_block=False, final_endpoint="Conv2d_1a_7x7")


# ---------------------------------------------------------------------------------------- variable names


def test_inception_v3_variable_names_and_tfslim_quirks():
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            inception_v3.inception_v3(_ph([1, 299, 299, 3]), num_classes=1001)
        shapes = _var_shapes()
    expected = {
        "InceptionV3/Conv2d_1a_3x3/weights": [3, 3, 3, 32],
        "InceptionV3/Conv2d_1a_3x3/BatchNorm/beta": [32],
        "InceptionV3/Conv2d_1a_3x3/BatchNorm/moving_mean": [32],
        "InceptionV3/Conv2d_1a_3x3/BatchNorm/moving_variance": [32],
        "InceptionV3/Mixed_5b/Branch_1/Conv2d_0b_5x5/weights": [5, 5, 48, 64],
        # TF-Slim's own spellings, which its checkpoints carry:
        "InceptionV3/Mixed_5c/Branch_1/Conv2d_0b_1x1/weights": [1, 1, 256, 48],
        "InceptionV3/Mixed_5c/Branch_1/Conv_1_0c_5x5/weights": [5, 5, 48, 64],
        "InceptionV3/Mixed_6a/Branch_0/Conv2d_1a_1x1/weights": [3, 3, 288, 384],
        "InceptionV3/Mixed_6a/Branch_1/Conv2d_1a_1x1/weights": [3, 3, 96, 96],
        "InceptionV3/Mixed_6b/Branch_2/Conv2d_0e_1x7/weights": [1, 7, 128, 192],
        "InceptionV3/Mixed_7b/Branch_1/Conv2d_0b_3x1/weights": [3, 1, 384, 384],
        "InceptionV3/Mixed_7c/Branch_1/Conv2d_0c_3x1/weights": [3, 1, 384, 384],
        "InceptionV3/Mixed_7c/Branch_2/Conv2d_0d_3x1/weights": [3, 1, 384, 384],
        "InceptionV3/AuxLogits/Conv2d_1b_1x1/weights": [1, 1, 768, 128],
        "InceptionV3/AuxLogits/Conv2d_2a_5x5/weights": [5, 5, 128, 768],
        "InceptionV3/AuxLogits/Conv2d_2b_1x1/weights": [1, 1, 768, 1001],
        "InceptionV3/AuxLogits/Conv2d_2b_1x1/biases": [1001],
        "InceptionV3/Logits/Conv2d_1c_1x1/weights": [1, 1, 2048, 1001],
        "InceptionV3/Logits/Conv2d_1c_1x1/biases": [1001],
    }
    for name, shape in expected.items():
        assert shapes.get(name) == shape, name
    assert "InceptionV3/Mixed_5c/Branch_1/Conv2d_0b_5x5/weights" not in shapes
    assert len(shapes) == 388


def test_inception_v1_and_v2_variable_names():
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v1.inception_v1_arg_scope()):
            inception_v1.inception_v1(_ph([1, 224, 224, 3]), num_classes=1001)
        v1 = _var_shapes()
    assert v1["InceptionV1/Conv2d_1a_7x7/weights"] == [7, 7, 3, 64]
    assert v1["InceptionV1/Mixed_4f/Branch_1/Conv2d_0b_3x3/weights"] == [3, 3, 160, 320]
    assert v1["InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3/weights"] == [3, 3, 32, 128]  # sic, in TF-Slim
    assert v1["InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3/weights"] == [3, 3, 48, 128]
    assert v1["InceptionV1/Logits/Conv2d_0c_1x1/weights"] == [1, 1, 1024, 1001]
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v2.inception_v2_arg_scope()):
            inception_v2.inception_v2(_ph([1, 224, 224, 3]), num_classes=1001)
        v2 = _var_shapes()
    # The separable first layer: 8 filters per input channel (min(64 // 3, 8)), not batch-normalised.
    assert v2["InceptionV2/Conv2d_1a_7x7/depthwise_weights"] == [7, 7, 3, 8]
    assert v2["InceptionV2/Conv2d_1a_7x7/pointwise_weights"] == [1, 1, 24, 64]
    assert v2["InceptionV2/Conv2d_1a_7x7/biases"] == [64]
    assert "InceptionV2/Conv2d_1a_7x7/BatchNorm/beta" not in v2
    assert v2["InceptionV2/Mixed_5c/Branch_3/Conv2d_0b_1x1/weights"] == [1, 1, 1024, 128]
    assert v2["InceptionV2/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1024, 1001]


def test_inception_v3_without_aux_logits_has_the_keras_parameter_count():
    # base + a 2048 -> 1000 logits layer: Keras' InceptionV3 (same BN without scale) has 23,851,784.
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            inception_v3.inception_v3(_ph([1, 299, 299, 3]), num_classes=1000, create_aux_logits=False)
        assert _num_params(slim.get_model_variables()) == 21_802_784 + 2048 * 1000 + 1000 == 23_851_784


# ------------------------------------------------------------------------------------------ depth thinning


@pytest.mark.parametrize(
    "net", [NETS["inception_v2"], NETS["inception_v3"]], ids=["inception_v2", "inception_v3"]
)
@pytest.mark.parametrize("multiplier", [0.5, 2.0])
def test_depth_multiplier_scales_channels(net, multiplier):
    with slim.Graph().as_default():
        images = _ph([2, net.small, net.small, 3])
        _, end_points = net.fn(images, 1000, **net.small_kw)
        _, thinned = net.fn(
            images, 1000, scope="depth_multiplied_net", depth_multiplier=multiplier, **net.small_kw
        )
        keys = [k for k in end_points if k.startswith(("Mixed", "Conv"))]
        assert len(keys) == len(net.endpoints) - 2  # all but the two max pools
        for key in keys:
            assert _shape(thinned[key])[3] == multiplier * _shape(end_points[key])[3], key
            assert _shape(thinned[key])[:3] == _shape(end_points[key])[:3]
        assert thinned["Logits"].op.name.startswith("depth_multiplied_net/")


@pytest.mark.parametrize(
    "net", [NETS["inception_v2"], NETS["inception_v3"]], ids=["inception_v2", "inception_v3"]
)
def test_min_depth_and_invalid_depth_multiplier(net):
    with slim.Graph().as_default():
        images = _ph([2, net.small, net.small, 3])
        _, end_points = net.base(images, depth_multiplier=0.01, min_depth=16)
        assert _shape(end_points["Conv2d_1a_" + ("7x7" if net.key == "inception_v2" else "3x3")])[3] == 16
        for bad in (0.0, -0.1):
            with pytest.raises(ValueError, match="depth_multiplier is not greater than zero"):
                net.fn(images, 1000, depth_multiplier=bad)
            with pytest.raises(ValueError, match="depth_multiplier is not greater than zero"):
                net.base(images, depth_multiplier=bad)


def test_inception_v2_plain_first_conv_and_nchw():
    with slim.Graph().as_default():
        images = _ph([5, 224, 224, 3])
        _, end_points = inception_v2.inception_v2_base(images)
        _, plain = inception_v2.inception_v2_base(images, use_separable_conv=False, scope="plain")
        _, nchw = inception_v2.inception_v2_base(
            _ph([5, 3, 224, 224], "nchw"), use_separable_conv=False, data_format="NCHW", scope="nchw"
        )
        for key in end_points:
            n, h, w, c = _shape(end_points[key])
            assert _shape(plain[key]) == [n, h, w, c], key
            assert _shape(nchw[key]) == [n, c, h, w], key
        shapes = _var_shapes()
        assert shapes["plain/Conv2d_1a_7x7/weights"] == [7, 7, 3, 64]
        with pytest.raises(ValueError, match="data_format must be either NHWC or NCHW"):
            inception_v2.inception_v2_base(images, data_format="NCWH")
        with pytest.raises(ValueError, match="separable convolution only supports NHWC"):
            inception_v2.inception_v2_base(images, data_format="NCHW")


# ---------------------------------------------------------------------------------------- the classifiers


@ALL
@pytest.mark.parametrize("num_classes", [1000, 1001])
def test_logits_and_end_points(net, num_classes):
    assert net.fn.default_image_size == net.size
    with slim.Graph().as_default():
        logits, end_points = net.fn(_ph([None, net.size, net.size, 3]), num_classes)
        assert _shape(logits) == [None, num_classes]
        assert logits.op.name == f"{net.scope}/Logits/SpatialSqueeze"
        assert end_points["Logits"] is logits
        assert _shape(end_points["Predictions"]) == [None, num_classes]
        head = {
            "inception_v1": ["AvgPool_0a_7x7", "Logits", "Predictions"],
            "inception_v2": ["AvgPool_1a", "PreLogits", "Logits", "Predictions"],
            "inception_v3": ["AuxLogits", "AvgPool_1a", "PreLogits", "Logits", "Predictions"],
        }[net.key]
        assert list(end_points) == net.endpoints + head
        if "PreLogits" in end_points:
            assert _shape(end_points["PreLogits"]) == [None, 1, 1, net.features]
        if net.key == "inception_v3":
            assert _shape(end_points["AuxLogits"]) == [None, num_classes]
            assert end_points["AuxLogits"].op.name == "InceptionV3/AuxLogits/SpatialSqueeze"


@ALL
@pytest.mark.parametrize("num_classes", [0, None])
def test_no_logits_layer_returns_the_pooled_features(net, num_classes):
    with slim.Graph().as_default():
        features, end_points = net.fn(_ph([5, net.size, net.size, 3]), num_classes)
        assert _shape(features) == [5, 1, 1, net.features]
        assert features.op.name.startswith(f"{net.scope}/Logits/AvgPool")
        for key in ("Logits", "Predictions", "AuxLogits", "PreLogits"):
            assert key not in end_points
        assert not any(
            "Logits/Conv2d" in v.op.name or "AuxLogits" in v.op.name for v in slim.get_model_variables()
        )


@ALL
def test_spatial_squeeze_false_and_global_pool(net):
    with slim.Graph().as_default():
        logits, _ = net.fn(_ph([1, net.size, net.size, 3]), 25, spatial_squeeze=False)
        assert _shape(logits) == [1, 1, 1, 25]
    with slim.Graph().as_default():
        # Unknown height and width: global_pool averages whatever the map is.
        logits, end_points = net.fn(_ph([2, None, None, 3]), 1000, global_pool=True)
        assert _shape(logits) == [2, 1000]
        assert _shape(end_points["global_pool"]) == [2, 1, 1, net.features]
        assert "AvgPool_1a" not in end_points and "AvgPool_0a_7x7" not in end_points


def test_reduced_pool_kernel_for_small_inputs():
    with slim.Graph().as_default():
        logits, end_points = inception_v3.inception_v3(_ph([5, 150, 150, 3]), 1000)
        assert _shape(logits) == [5, 1000]
        assert _shape(end_points["Mixed_7c"]) == [5, 3, 3, 2048]
        assert end_points["AvgPool_1a"].op.name.startswith("InceptionV3/Logits/AvgPool_1a_3x3/")
    with slim.Graph().as_default():
        _, end_points = inception_v3.inception_v3(_ph([2, 107, 107, 3]), 10)
        assert _shape(end_points["AuxLogits"]) == [2, 10]
        assert any(
            v.op.name == "InceptionV3/AuxLogits/Conv2d_2a_1x1/weights" for v in slim.get_model_variables()
        )
    with slim.Graph().as_default():
        logits, end_points = inception_v2.inception_v2(_ph([5, 112, 112, 3]), 1000)
        assert _shape(logits) == [5, 1000]
        assert end_points["AvgPool_1a"].op.name.startswith("InceptionV2/Logits/AvgPool_1a_4x4/")
    # v1 keeps TF-Slim's fixed 7x7 pool: a smaller map needs global_pool.
    with slim.Graph().as_default(), pytest.raises(ValueError, match="larger than the VALID input"):
        inception_v1.inception_v1(_ph([5, 112, 112, 3]), 1000)


@ALL
def test_train_and_eval_graphs_share_variables_with_reuse(net):
    with slim.Graph().as_default():
        net.fn(_ph([5, net.small, net.small, 3], "train"), 10, **net.small_kw)
        count = len(slim.global_variables())
        logits, _ = net.fn(
            _ph([2, net.small, net.small, 3], "eval"), 10, is_training=False, reuse=True, **net.small_kw
        )
        assert len(slim.global_variables()) == count
        assert _shape(logits) == [2, 10]
        with pytest.raises(ValueError):
            net.fn(_ph([2, net.small, net.small, 3], "again"), 10, **net.small_kw)  # exists, reuse not set


# ------------------------------------------------------------------------------------------- arg_scope


def test_inception_arg_scope_arguments():
    assert inception_v1.inception_v1_arg_scope is inception_utils.inception_arg_scope
    assert inception_v3.inception_v3_arg_scope is inception.inception_arg_scope
    sc = inception_utils.inception_arg_scope(
        weight_decay=0.01, batch_norm_decay=0.9, batch_norm_epsilon=0.01, activation_fn=slim.nn.relu6
    )
    conv = sc[slim.conv2d]
    assert conv["normalizer_fn"] is slim.batch_norm
    assert conv["activation_fn"] is slim.nn.relu6
    assert conv["normalizer_params"] == {
        "decay": 0.9,
        "epsilon": 0.01,
        "updates_collections": slim.GraphKeys.UPDATE_OPS,
        "fused": None,
        "scale": False,
    }
    assert "weights_regularizer" in sc[slim.fully_connected]
    plain = inception_utils.inception_arg_scope(use_batch_norm=False)[slim.conv2d]
    assert plain["normalizer_fn"] is None and plain["normalizer_params"] == {}


def test_arg_scope_batch_norm_scale_weight_decay_and_no_batch_norm():
    size = 75
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v3.inception_v3_arg_scope(batch_norm_scale=True)):
            inception_v3.inception_v3(_ph([1, size, size, 3]), 10, create_aux_logits=False, is_training=False)
        names = {v.op.name for v in slim.global_variables()}
        means = [n for n in names if n.endswith("/BatchNorm/moving_mean")]
        assert means and all(n[: -len("moving_mean")] + "gamma" in names for n in means)
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v3.inception_v3_arg_scope(use_batch_norm=False, weight_decay=0.5)):
            inception_v3.inception_v3(_ph([1, size, size, 3]), 10, create_aux_logits=False)
        names = [v.op.name for v in slim.model_variables()]
        assert not any("BatchNorm" in n for n in names)
        assert sum(n.endswith("/biases") for n in names) == sum(n.endswith("/weights") for n in names) == 95
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 95
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v3.inception_v3_arg_scope()):
            inception_v3.inception_v3(_ph([2, size, size, 3]), 10, create_aux_logits=False)
        # is_training=True: every batch_norm adds its two moving-average updates.
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) == 2 * 94


# ---------------------------------------------------------------------------- ONNX export and training


def _randomize_batch_norm(sess, rng):
    """Non-trivial moving statistics and offsets, so that the exported inference graph's batch norms matter."""
    for v in slim.get_model_variables():
        shape = v.shape.as_list()
        name = v.op.name
        if name.endswith(("moving_mean", "beta")):
            sess.set_variable_value(v, rng.uniform(-0.1, 0.1, shape).astype(np.float32))
        elif name.endswith("moving_variance"):
            sess.set_variable_value(v, rng.uniform(0.5, 1.5, shape).astype(np.float32))


@pytest.mark.slow
@ALL
def test_onnx_export_matches_session(net, tmp_path):
    rng = np.random.default_rng(0)
    size = net.small
    xv = rng.uniform(-1.0, 1.0, (2, size, size, 3)).astype(np.float32)
    path = tmp_path / f"{net.key}.onnx"
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        images = _ph([None, size, size, 3])
        with slim.arg_scope(net.arg_scope()):
            logits, _ = net.fn(images, num_classes=10, is_training=False, **net.small_kw)
        assert _shape(logits) == [None, 10]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            _randomize_batch_norm(sess, rng)
            expected = sess.run(logits, {images: xv})
            slim.export_onnx(logits, str(path), session=sess)
    assert expected.shape == (2, 10) and np.all(np.isfinite(expected))
    assert np.abs(expected).max() > 1e-3

    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert any(n.name.startswith(f"{net.scope}/") for n in model.graph.node)
    (actual,) = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": xv})
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * scale)


# Training-mode batch norm over a 1x1 map of batch 2 normalises two values to +-1: 64x64 inputs keep 2x2
# maps at Mixed_5c, so that the steps' losses fall the same way whatever kernels ONNX Runtime picks.
TRAIN = {
    "inception_v1": (64, {"global_pool": True}),
    "inception_v2": (64, {}),
    "inception_v3": (107, {}),  # the smallest input the auxiliary head takes
}


@pytest.mark.slow
@ALL
def test_three_training_steps_lower_the_loss(net):
    size, kwargs = TRAIN[net.key]
    rng = np.random.default_rng(0)
    xv = rng.uniform(-1.0, 1.0, (2, size, size, 3)).astype(np.float32)
    yv = np.array([1, 3])
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        images = _ph([2, size, size, 3])
        labels = slim.placeholder(slim.int64, [2], name="labels")
        with slim.arg_scope(net.arg_scope()):
            logits, end_points = net.fn(images, num_classes=5, is_training=True, **kwargs)
        onehot = slim.one_hot(labels, 5)
        slim.losses.softmax_cross_entropy(logits, onehot)
        if "AuxLogits" in end_points:  # as train_image_classifier.py weighs the auxiliary head
            slim.losses.softmax_cross_entropy(end_points["AuxLogits"], onehot, weights=0.4)
        total_loss = slim.losses.get_total_loss()
        train_op = slim.learning.create_train_op(total_loss, slim.train.AdamOptimizer(1e-3))
        moving = [v for v in slim.get_model_variables() if v.op.name.endswith("moving_mean")]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            before = sess.run(moving[0])
            # The train op returns the total loss computed before its update.
            losses = [float(sess.run(train_op, {images: xv, labels: yv})) for _ in range(3)]
            after = sess.run(moving[0])
            step = int(sess.run(slim.get_global_step()))
    assert all(np.isfinite(losses)), losses
    assert losses[0] > losses[1] > losses[2], losses
    assert step == 3
    assert not np.array_equal(before, after)  # the batch_norm updates ran with the train op


# ------------------------------------------------------------------------------ factory, CLI, re-exports


def test_inception_module_reexports():
    assert inception.inception_v1 is inception_v1.inception_v1
    assert inception.inception_v2_base is inception_v2.inception_v2_base
    assert inception.inception_v3_arg_scope is inception_v3.inception_v3_arg_scope
    assert slim.nets.inception_v3.inception_v3 is inception.inception_v3
    assert [inception.inception_v1.default_image_size, inception.inception_v2.default_image_size,
            inception.inception_v3.default_image_size] == [224, 224, 299]  # fmt: skip


@ALL
def test_nets_factory_builds_the_net(net):
    assert nets_factory.networks_map[net.key] is net.fn
    assert nets_factory.arg_scopes_map[net.key] is net.arg_scope
    fn = nets_factory.get_network_fn(net.key, 1001, weight_decay=0.001, is_training=False)
    assert fn.default_image_size == net.size
    with slim.Graph().as_default():
        logits, _ = fn(_ph([1, net.size, net.size, 3]))
        assert _shape(logits) == [1, 1001]
        assert "BatchNorm" in " ".join(v.op.name for v in slim.get_model_variables())  # under its arg_scope
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []  # is_training=False


@ALL
def test_cli_inspect_prints_parameters_and_flops(net, capsys):
    rc = cli.main(["inspect", net.key])
    out, err = capsys.readouterr()
    assert rc == 0, err
    # What the logits need: the base and the 1000-class logits layer (not the auxiliary head). For v3
    # that is Keras' InceptionV3 count, 23,851,784 (the same batch norms without gamma).
    m = re.search(r"Total parameters: ([\d,]+)", out)
    assert m and int(m.group(1).replace(",", "")) == net.base_params + net.features * 1000 + 1000
    m = re.search(r"Total FLOPs: ([\d,]+)", out)
    assert m and "GFLOPs" in out
    flops = int(m.group(1).replace(",", ""))
    # About 1.5, 1.9 and 5.7 billion multiply-adds at 224, 224 and 299 (2 FLOPs each).
    low, high = {
        "inception_v1": (2.9e9, 3.1e9),
        "inception_v2": (3.8e9, 4.0e9),
        "inception_v3": (11.4e9, 11.6e9),
    }[net.key]
    assert low < flops < high, flops
    assert f"{net.scope}/Logits/SpatialSqueeze" in out and "[?, 1000]" in out
