"""MobileNet v3 and MobileNet EdgeTPU (slimir.nets.mobilenet.mobilenet_v3) against research/slim's
nets/mobilenet/mobilenet_v3.py and the scenarios of mobilenet_v3_test.py: end point shapes of large, small
and EdgeTPU, base-only builds (also of unknown size), group norm instead of batch norm, the reduce-mean pool;
variable names (squeeze-excite convs); the pooled squeeze-excite (average pool, gate, bilinear resize with
aligned corners) against numpy; parameter and multiply-accumulate counts; ONNX export equal to the Session;
training steps that lower the loss."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, conv_macs, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir.nets import nets_factory
from slimir.nets.mobilenet import conv_blocks, mobilenet_v3
from slimir.ops.image import resize_reference


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


def _assert_normalizer(use_groupnorm):
    names = [v.op.name for v in slim.global_variables()]
    assert any("GroupNorm" in n for n in names) == use_groupnorm
    assert any("BatchNorm" in n for n in names) == (not use_groupnorm)


@pytest.mark.parametrize("use_groupnorm", [False, True])
def test_large_small_and_edge_tpu(use_groupnorm):
    with slim.Graph().as_default():
        logits, ep = mobilenet_v3.mobilenet(_ph(1, 224, 224, 3), use_groupnorm=use_groupnorm)
        assert shape(ep["layer_19"]) == [1, 1, 1, 1280] and shape(logits) == [1, 1001]
        _assert_normalizer(use_groupnorm)
    with slim.Graph().as_default():
        _, ep = mobilenet_v3.mobilenet(_ph(1, 224, 224, 3), conv_defs=mobilenet_v3.V3_SMALL,
                                       use_groupnorm=use_groupnorm)
        assert shape(ep["layer_15"]) == [1, 1, 1, 1024]
        _assert_normalizer(use_groupnorm)
    with slim.Graph().as_default():
        _, ep = mobilenet_v3.edge_tpu(_ph(1, 224, 224, 3), use_groupnorm=use_groupnorm)
        assert "Inference mode is created by default" in mobilenet_v3.edge_tpu.__doc__
        assert shape(ep["layer_24"]) == [1, 7, 7, 1280]
        assert ep["layer_24"].name.startswith("MobilenetEdgeTPU")
        _assert_normalizer(use_groupnorm)
    with slim.Graph().as_default():
        _, ep = mobilenet_v3.edge_tpu(_ph(1, 224, 224, 3), scope="Scope")
        assert ep["layer_24"].name.startswith("Scope")


@pytest.mark.slow
@pytest.mark.parametrize("use_groupnorm", [False, True])
def test_base_only(use_groupnorm):
    with slim.Graph().as_default():
        result, ep = mobilenet_v3.mobilenet(_ph(1, 224, 224, 3), conv_defs=mobilenet_v3.V3_LARGE,
                                            use_groupnorm=use_groupnorm, base_only=True, final_endpoint="layer_17")
        assert shape(ep["layer_17"]) == [1, 7, 7, 960] and result is ep["layer_17"]
        _assert_normalizer(use_groupnorm)
    with slim.Graph().as_default():
        result, ep = mobilenet_v3.mobilenet(_ph(None, None, None, 3), conv_defs=mobilenet_v3.V3_LARGE,
                                            base_only=True, final_endpoint="layer_17")
        assert shape(ep["layer_17"]) == [None, None, None, 960] and result is ep["layer_17"]


@pytest.mark.parametrize("reduce_mean", [False, True])
def test_reduce_mean_pooling(reduce_mean):
    with slim.Graph().as_default():
        mobilenet_v3.mobilenet(_ph(1, 224, 224, 3), conv_defs=mobilenet_v3.V3_SMALL,
                               use_reduce_mean_for_pooling=reduce_mean)
        means = [n for n in slim.get_default_graph().nodes if "ReduceMean" in n.name]
        assert bool(means) == reduce_mean


def test_variable_names_and_blocks():
    with slim.Graph().as_default():
        _, ep = mobilenet_v3.large(_ph(1, 224, 224, 3))
        v = var_shapes()
        assert v["MobilenetV3/Conv/weights"] == [3, 3, 3, 16]
        assert v["MobilenetV3/expanded_conv/depthwise/depthwise_weights"] == [3, 3, 16, 1]
        assert "MobilenetV3/expanded_conv/expand/weights" not in v  # expansion factor 1
        # squeeze-excite of the first 5x5 block: 72 channels squeezed to 24
        assert v["MobilenetV3/expanded_conv_3/depthwise/depthwise_weights"] == [5, 5, 72, 1]
        assert v["MobilenetV3/expanded_conv_3/squeeze_excite/Conv/weights"] == [1, 1, 72, 24]
        assert v["MobilenetV3/expanded_conv_3/squeeze_excite/Conv/biases"] == [24]
        assert v["MobilenetV3/expanded_conv_3/squeeze_excite/Conv_1/weights"] == [1, 1, 24, 72]
        assert v["MobilenetV3/expanded_conv_9/expand/weights"] == [1, 1, 80, 184]
        assert v["MobilenetV3/Conv_1/weights"] == [1, 1, 160, 960]
        assert v["MobilenetV3/Conv_2/weights"] == [1, 1, 960, 1280]
        assert v["MobilenetV3/Conv_2/biases"] == [1280]  # normalizer_fn=None
        assert v["MobilenetV3/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1280, 1001]
        assert shape(ep["layer_18"]) == [1, 1, 1, 960]
        assert ep["layer_18"].op.name.startswith("MobilenetV3/AvgPool2D")
        hs = [n for n in slim.get_default_graph().nodes if n.name.startswith("MobilenetV3/Conv/hard_swish/")]
        assert hs
    with slim.Graph().as_default():
        mobilenet_v3.edge_tpu(_ph(1, 224, 224, 3))
        v = var_shapes()
        # a fused block: the 3x3 expansion convolution replaces the depthwise one
        assert v["MobilenetEdgeTPU/expanded_conv_1/expand/weights"] == [3, 3, 16, 128]
        assert not any(k.startswith("MobilenetEdgeTPU/expanded_conv_1/depthwise") for k in v)


def test_hard_swish_values():
    xv = np.linspace(-5, 5, 41).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [41])
        y = mobilenet_v3.hard_swish(x)
        with slim.Session() as sess:
            out = sess.run(y, {x: xv})
    np.testing.assert_allclose(out, xv * np.clip(xv + 3, 0, 6) / 6, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "name, total, trainable, macs",
    [
        # Keras' MobileNetV3Large / MobileNetV3Small (1000 classes) count 5,507,432 / 2,554,968 values, of
        # them 5,483,032 / 2,542,856 trainable; the 1001-class classifier adds 1,281 / 1,025. Multiply-adds:
        # 217M and 57M (the paper's Table 3 gives 219M and 56M); the other counts are derived from the
        # architecture.
        ("mobilenet_v3_large", 5_508_713, 5_484_313, 216_591_040),
        ("mobilenet_v3_small", 2_555_993, 2_543_881, 56_511_424),
        ("mobilenet_v3_large_minimalistic", 3_949_969, 3_925_569, 209_137_984),
        ("mobilenet_v3_small_minimalistic", 2_057_873, 2_045_761, 52_289_472),
        ("mobilenet_edgetpu", 4_131_593, 4_092_713, 990_670_464),
        ("mobilenet_edgetpu_075", 3_019_569, 2_989_441, 624_487_584),
    ],
)
def test_parameter_counts_and_macs(name, total, trainable, macs):
    fn = nets_factory.get_network_fn(name, 1001)
    assert fn.default_image_size == 224
    with slim.Graph().as_default():
        logits, _ = fn(_ph(1, 224, 224, 3))
        assert shape(logits) == [1, 1001]
        assert num_params(slim.get_model_variables()) == total
        assert num_params(slim.trainable_variables()) == trainable
        assert conv_macs() == macs


def test_detection_defs_halve_the_last_layers():
    assert [d.params["num_outputs"] for d in mobilenet_v3.V3_LARGE_DETECTION["spec"][13:17]] == [80, 80, 80, 480]
    assert [d.params["num_outputs"] for d in mobilenet_v3.V3_SMALL_DETECTION["spec"][9:13]] == [48, 48, 48, 288]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_edgetpu"])
def test_onnx_export_matches_session(name):
    check_export(name, (2, 64, 64, 3))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_large_minimalistic", "mobilenet_v3_small_minimalistic",
                                  "mobilenet_edgetpu_075"])
def test_onnx_export_of_the_other_variants(name):
    check_export(name, (1, 64, 64, 3))


@pytest.mark.slow
def test_training_steps_reduce_the_loss():
    assert_decreasing(train_losses("mobilenet_v3_small", (8, 32, 32, 3)))


@pytest.mark.slow
def test_training_steps_reduce_the_loss_of_large_and_edgetpu():
    assert_decreasing(train_losses("mobilenet_v3_large", (8, 32, 32, 3), lr=3e-4))
    assert_decreasing(train_losses("mobilenet_edgetpu", (8, 64, 64, 3)))


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


@pytest.mark.parametrize("size, pool, pooled", [(8, 4, 2), (6, 2, 3), (3, 4, 1)])
def test_pooled_squeeze_excite_values(size, pool, pooled):
    """squeeze_excite(pool=k): a k x k, stride-k VALID average pool (the whole map when it is smaller than k),
    the two 1x1 convs, the gate resized back to the input's size by TF1's tf.image.resize_images (bilinear,
    align_corners=True), times the input."""
    rng = np.random.default_rng(size)
    xv = rng.standard_normal((2, size, size, 16)).astype(np.float32)
    with slim.Graph().as_default():
        x = _ph(None, size, size, 16)
        y = conv_blocks.squeeze_excite(x, squeeze_factor=4, pool=pool)
        resizes = [n for n in slim.get_default_graph().nodes if n.type == "resize"]
        assert [(n.attrs["method"], n.attrs["size"], n.attrs["align_corners"], n.attrs["half_pixel_centers"])
                for n in resizes] == [("bilinear", (size, size), True, False)]
        with slim.Session() as sess:
            for v in slim.global_variables():
                sess.set_variable_value(v, rng.normal(0, 0.5, v.shape.as_list()).astype(np.float32))
            out, w1, b1, w2, b2 = sess.run([y, *slim.get_variables("squeeze_excite/Conv/"),
                                            *slim.get_variables("squeeze_excite/Conv_1/")], {x: xv})
    k = pool if size >= pool else size
    p = xv.astype(np.float64).reshape(2, pooled, k, pooled, k, 16).mean(axis=(2, 4)) if size >= pool else \
        xv.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    squeeze = np.maximum(p @ w1[0, 0] + b1, 0)
    gate = _sigmoid(squeeze @ w2[0, 0] + b2).astype(np.float32)
    want = xv * resize_reference(gate, (size, size), "bilinear", True, False)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_pooled_squeeze_excite_in_a_network_trains_and_exports():
    """MobileNet v3 small with every squeeze-excite pooled (window 2): the gradient flows through the resize."""
    def build(images):
        with slim.arg_scope([conv_blocks.squeeze_excite], pool=2):
            out = nets_factory.get_network_fn("mobilenet_v3_small", 10, is_training=False)(images)
        resizes = [n for n in slim.get_default_graph().nodes if n.type == "resize"]
        assert len(resizes) == 9 and all(n.attrs["align_corners"] for n in resizes)  # V3_SMALL's 9 SE blocks
        return out

    check_export(build, (2, 64, 64, 3))
    with slim.arg_scope([conv_blocks.squeeze_excite], pool=2):
        losses = train_losses("mobilenet_v3_small", (2, 64, 64, 3), lr=1e-3)
    assert_decreasing(losses)
