"""Inception v4 (slimir.nets.inception_v4) against research/slim's inception_v4.py and the scenarios of
inception_v4_test.py: logits and auxiliary logits, pre-logits, end point names and shapes, final_endpoint
truncation, small and unknown image sizes, reuse, batch-norm scale; parameter counts; ONNX export equal
to the Session; training steps that lower the loss."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, conv_macs, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir import errors
from slimir.nets import inception_v4, nets_factory

ENDPOINTS = (["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Mixed_3a", "Mixed_4a", "Mixed_5a"]
             + [f"Mixed_5{c}" for c in "bcde"] + ["Mixed_6a"] + [f"Mixed_6{c}" for c in "bcdefgh"]
             + ["Mixed_7a"] + [f"Mixed_7{c}" for c in "bcd"])
# inception_v4_test.testAllEndPointsShapes: [height, width, channels] at 299x299
SHAPES = {"Conv2d_1a_3x3": [149, 149, 32], "Conv2d_2a_3x3": [147, 147, 32], "Conv2d_2b_3x3": [147, 147, 64],
          "Mixed_3a": [73, 73, 160], "Mixed_4a": [71, 71, 192], "Mixed_5a": [35, 35, 384],
          **{f"Mixed_5{c}": [35, 35, 384] for c in "bcde"}, "Mixed_6a": [17, 17, 1024],
          **{f"Mixed_6{c}": [17, 17, 1024] for c in "bcdefgh"}, "Mixed_7a": [8, 8, 1536],
          **{f"Mixed_7{c}": [8, 8, 1536] for c in "bcd"}}


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


@pytest.mark.slow
def test_build_logits_and_all_end_point_shapes():
    with slim.Graph().as_default():
        logits, ep = inception_v4.inception_v4(_ph(5, 299, 299, 3), 1000)
        assert logits.op.name.startswith("InceptionV4/Logits")
        assert ep["AuxLogits"].op.name.startswith("InceptionV4/AuxLogits")
        assert ep["Predictions"].op.name == "InceptionV4/Logits/Predictions"
        expected = {k: [5] + v for k, v in SHAPES.items()}
        expected.update({"AuxLogits": [5, 1000], "global_pool": [5, 1, 1, 1536], "PreLogitsFlatten": [5, 1536],
                         "Logits": [5, 1000], "Predictions": [5, 1000]})
        assert {k: shape(v) for k, v in ep.items()} == expected
        v = var_shapes()
        assert v["InceptionV4/Conv2d_1a_3x3/weights"] == [3, 3, 3, 32]
        assert v["InceptionV4/Mixed_5b/Branch_3/Conv2d_0b_1x1/weights"] == [1, 1, 384, 96]
        assert v["InceptionV4/Mixed_6h/Branch_2/Conv2d_0e_1x7/weights"] == [1, 7, 224, 256]
        assert v["InceptionV4/Mixed_7d/Branch_2/Conv2d_0e_3x1/weights"] == [3, 1, 512, 256]
        assert v["InceptionV4/AuxLogits/Conv2d_2a/weights"] == [5, 5, 128, 768]
        assert v["InceptionV4/AuxLogits/Aux_logits/weights"] == [768, 1000]
        assert v["InceptionV4/Logits/Logits/weights"] == [1536, 1000]
        assert v["InceptionV4/Logits/Logits/biases"] == [1000]


def test_pre_logits_and_no_aux_logits():
    with slim.Graph().as_default():
        net, ep = inception_v4.inception_v4(_ph(5, 299, 299, 3), num_classes=None)
        assert net.op.name.startswith("InceptionV4/Logits/AvgPool")
        assert shape(net) == [5, 1, 1, 1536]
        assert "Logits" not in ep and "Predictions" not in ep and "AuxLogits" not in ep
    with slim.Graph().as_default():
        logits, ep = inception_v4.inception_v4(_ph(5, 299, 299, 3), 1000, create_aux_logits=False)
        assert "AuxLogits" not in ep and shape(logits) == [5, 1000]


@pytest.mark.slow
def test_base_network_and_every_final_endpoint():
    with slim.Graph().as_default():
        net, ep = inception_v4.inception_v4_base(_ph(5, 299, 299, 3))
        assert net.op.name.startswith("InceptionV4/Mixed_7d")
        assert shape(net) == [5, 8, 8, 1536]
        assert list(ep) == ENDPOINTS
        for name, t in ep.items():
            assert t.op.name.startswith("InceptionV4/" + name)
    for i, name in enumerate(ENDPOINTS):
        with slim.Graph().as_default():
            out, ep = inception_v4.inception_v4_base(_ph(1, 299, 299, 3), final_endpoint=name)
            assert out.op.name.startswith("InceptionV4/" + name)
            assert list(ep) == ENDPOINTS[: i + 1]
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match="Mixed_8a"):
        inception_v4.inception_v4_base(_ph(1, 299, 299, 3), final_endpoint="Mixed_8a")


def test_half_size_images_global_pool_and_unknown_batch():
    with slim.Graph().as_default():
        logits, ep = inception_v4.inception_v4(_ph(5, 150, 150, 3), 1000)
        assert shape(logits) == [5, 1000] and shape(ep["Mixed_7d"]) == [5, 3, 3, 1536]
    with slim.Graph().as_default():
        logits, ep = inception_v4.inception_v4(_ph(1, 350, 400, 3), 1000)
        assert shape(logits) == [1, 1000] and shape(ep["Mixed_7d"]) == [1, 9, 11, 1536]
    with slim.Graph().as_default():
        logits, _ = inception_v4.inception_v4(_ph(None, 299, 299, 3), 1000)
        assert shape(logits) == [None, 1000]


def test_train_eval_with_reuse_and_batch_norm_scale():
    with slim.Graph().as_default():
        inception_v4.inception_v4(_ph(5, 150, 150, 3), 1000)
        n = len(slim.global_variables())
        logits, _ = inception_v4.inception_v4(_ph(2, 150, 150, 3), 1000, is_training=False, reuse=True)
        assert len(slim.global_variables()) == n and shape(slim.argmax(logits, 1)) == [2]
        # inception_v4_test.testNoBatchNormScaleByDefault
        assert not any(v.op.name.endswith("BatchNorm/gamma") for v in slim.global_variables())
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v4.inception_v4_arg_scope(batch_norm_scale=True)):
            inception_v4.inception_v4(_ph(1, 299, 299, 3), 1000)
        names = {v.op.name for v in slim.global_variables()}
        moving = [n for n in names if n.endswith("moving_mean")]
        assert moving and all(n[: -len("moving_mean")] + "gamma" in names for n in moving)


@pytest.mark.slow
def test_parameter_counts():
    """Derived from the architecture (research/slim publishes none for v4): without the auxiliary head and
    with 1000 classes, 42,648,232 trainable values under inception_arg_scope (batch norm with beta only);
    with a gamma per batch-norm channel added, that is 42,679,816, the count other ports of research/slim's
    Inception v4 give (timm's inception_v4: 42.68M). Multiply-adds: 12.25G at 299x299."""
    with slim.Graph().as_default():
        with slim.arg_scope(inception_v4.inception_v4_arg_scope()):
            inception_v4.inception_v4(_ph(1, 299, 299, 3), 1000, create_aux_logits=False)
        trainable = num_params(slim.trainable_variables())
        betas = num_params([v for v in slim.trainable_variables() if v.op.name.endswith("beta")])
        assert trainable == 42_648_232
        assert trainable + betas == 42_679_816
        assert num_params(slim.get_model_variables()) == 42_711_400
        assert conv_macs() == 12_253_974_624  # convolutions and the classifier
    with slim.Graph().as_default():
        fn = nets_factory.get_network_fn("inception_v4", 1001)
        assert fn.default_image_size == 299
        fn(_ph(1, 299, 299, 3))
        assert num_params(slim.trainable_variables()) == 46_009_106  # with the auxiliary head, 1001 classes
        assert num_params(slim.get_model_variables()) == 46_074_066


@pytest.mark.slow
def test_onnx_export_matches_session():
    check_export("inception_v4", (2, 75, 75, 3), create_aux_logits=False,
                 node_prefix="InceptionV4/InceptionV4/Mixed_6h/")


@pytest.mark.slow
def test_training_steps_reduce_the_loss():
    assert_decreasing(train_losses("inception_v4", (4, 75, 75, 3), create_aux_logits=False))


@pytest.mark.slow
def test_global_pool_of_an_unknown_image_size_runs():
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [1, None, None, 3])
        logits, ep = inception_v4.inception_v4(images, 10, is_training=False, create_aux_logits=False)
        assert shape(logits) == [1, 10]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out, pre = sess.run([logits, ep["Mixed_7d"]], {images: np.ones((1, 107, 139, 3), np.float32)})
        assert out.shape == (1, 10) and pre.shape == (1, 2, 3, 1536)
