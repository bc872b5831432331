"""Inception-ResNet-v2 (slimir.nets.inception_resnet_v2) against research/slim's inception_resnet_v2.py and
the scenarios of inception_resnet_v2_test.py: logits, auxiliary logits, end points and their shapes (also
with aligned feature maps and output stride 8), final_endpoint truncation, small and unknown image sizes;
the checkpoint's variable names; parameter counts; ONNX export equal to the Session; training steps."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, conv_macs, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir import errors
from slimir.nets import inception_resnet_v2 as irv2
from slimir.nets import nets_factory

ENDPOINTS = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_3a_3x3", "Conv2d_3b_1x1",
             "Conv2d_4a_3x3", "MaxPool_5a_3x3", "Mixed_5b", "Mixed_6a", "PreAuxLogits", "Mixed_7a",
             "Conv2d_7b_1x1"]
# inception_resnet_v2_test: [height, width, channels] up to PreAuxLogits at 299x299, for the default VALID
# stem, align_feature_maps=True and output_stride=8
UPTO_PRE_AUX = {
    "default": [[149, 149, 32], [147, 147, 32], [147, 147, 64], [73, 73, 64], [73, 73, 80], [71, 71, 192],
                [35, 35, 192], [35, 35, 320], [17, 17, 1088], [17, 17, 1088]],
    "aligned": [[150, 150, 32], [150, 150, 32], [150, 150, 64], [75, 75, 64], [75, 75, 80], [75, 75, 192],
                [38, 38, 192], [38, 38, 320], [19, 19, 1088], [19, 19, 1088]],
    "stride8": [[149, 149, 32], [147, 147, 32], [147, 147, 64], [73, 73, 64], [73, 73, 80], [71, 71, 192],
                [35, 35, 192], [35, 35, 320], [33, 33, 1088], [33, 33, 1088]],
}


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


def test_build_logits_end_points_and_variable_names():
    with slim.Graph().as_default():
        logits, ep = irv2.inception_resnet_v2(_ph(5, 299, 299, 3), 1000)
        assert logits.op.name.startswith("InceptionResnetV2/Logits")
        assert ep["AuxLogits"].op.name.startswith("InceptionResnetV2/AuxLogits")
        assert shape(logits) == shape(ep["AuxLogits"]) == [5, 1000]
        assert shape(ep["Conv2d_7b_1x1"]) == [5, 8, 8, 1536]
        assert shape(ep["PreLogitsFlatten"]) == [5, 1536]
        assert list(ep) == ENDPOINTS + ["AuxLogits", "global_pool", "PreLogitsFlatten", "Logits", "Predictions"]
        v = var_shapes()
        # names of research/slim's inception_resnet_v2_2016_08_30 checkpoint
        assert v["InceptionResnetV2/Repeat/block35_1/Branch_2/Conv2d_0c_3x3/weights"] == [3, 3, 48, 64]
        assert v["InceptionResnetV2/Repeat/block35_10/Conv2d_1x1/weights"] == [1, 1, 128, 320]
        assert v["InceptionResnetV2/Repeat/block35_10/Conv2d_1x1/biases"] == [320]
        assert v["InceptionResnetV2/Repeat_1/block17_20/Branch_1/Conv2d_0c_7x1/weights"] == [7, 1, 160, 192]
        assert v["InceptionResnetV2/Repeat_2/block8_9/Conv2d_1x1/weights"] == [1, 1, 448, 2080]
        assert v["InceptionResnetV2/Block8/Branch_1/Conv2d_0b_1x3/weights"] == [1, 3, 192, 224]
        assert v["InceptionResnetV2/Conv2d_7b_1x1/weights"] == [1, 1, 2080, 1536]
        assert v["InceptionResnetV2/AuxLogits/Conv2d_2a_5x5/weights"] == [5, 5, 128, 768]
        assert v["InceptionResnetV2/AuxLogits/Logits/weights"] == [768, 1000]
        assert v["InceptionResnetV2/Logits/Logits/biases"] == [1000]


@pytest.mark.slow
def test_no_aux_logits_and_no_classes():
    with slim.Graph().as_default():
        logits, ep = irv2.inception_resnet_v2(_ph(5, 299, 299, 3), 1000, create_aux_logits=False)
        assert "AuxLogits" not in ep and shape(logits) == [5, 1000]
    with slim.Graph().as_default():
        net, ep = irv2.inception_resnet_v2(_ph(5, 299, 299, 3), 0)
        assert "AuxLogits" not in ep and "Logits" not in ep
        assert net.op.name.startswith("InceptionResnetV2/Logits/AvgPool")
        assert shape(net) == [5, 1, 1, 1536]


@pytest.mark.parametrize("kind", ["default", "aligned", "stride8"])
def test_end_point_shapes_up_to_pre_aux_logits(kind):
    kw = {"aligned": {"align_feature_maps": True}, "stride8": {"output_stride": 8}}.get(kind, {})
    with slim.Graph().as_default():
        _, ep = irv2.inception_resnet_v2_base(_ph(5, 299, 299, 3), final_endpoint="PreAuxLogits", **kw)
        assert {k: shape(t) for k, t in ep.items()} == {k: [5] + s for k, s in zip(ENDPOINTS, UPTO_PRE_AUX[kind])}
        if kind == "stride8":
            rates = {tuple(n.attrs["dilations"]) for n in slim.get_default_graph().nodes
                     if n.type == "conv2d" and "block17" in n.name and "0b_1x7" in n.name}
            assert rates == {(2, 2)}


@pytest.mark.slow
def test_base_and_every_final_endpoint():
    with slim.Graph().as_default():
        net, ep = irv2.inception_resnet_v2_base(_ph(5, 299, 299, 3))
        assert net.op.name.startswith("InceptionResnetV2/Conv2d_7b_1x1")
        assert shape(net) == [5, 8, 8, 1536] and list(ep) == ENDPOINTS
    for i, name in enumerate(ENDPOINTS):
        with slim.Graph().as_default():
            out, ep = irv2.inception_resnet_v2_base(_ph(1, 299, 299, 3), final_endpoint=name)
            assert out.op.name.startswith("InceptionResnetV2/" + name.replace("PreAuxLogits", "Repeat_1"))
            assert list(ep) == ENDPOINTS[: i + 1]
    with slim.Graph().as_default():
        with pytest.raises(errors.InvalidArgumentError, match="output_stride"):
            irv2.inception_resnet_v2_base(_ph(1, 299, 299, 3), output_stride=4)
        with pytest.raises(errors.InvalidArgumentError, match="PreAuxlogits"):
            irv2.inception_resnet_v2_base(_ph(1, 299, 299, 3), output_stride=8, scope="s8")


def test_half_size_global_pool_and_unknown_batch():
    with slim.Graph().as_default():
        logits, ep = irv2.inception_resnet_v2(_ph(5, 150, 150, 3), 1000)
        assert shape(logits) == [5, 1000] and shape(ep["Conv2d_7b_1x1"]) == [5, 3, 3, 1536]
    with slim.Graph().as_default():
        logits, ep = irv2.inception_resnet_v2(_ph(1, 330, 400, 3), 1000)
        assert shape(logits) == [1, 1000] and shape(ep["Conv2d_7b_1x1"]) == [1, 8, 11, 1536]
    with slim.Graph().as_default():
        logits, _ = irv2.inception_resnet_v2(_ph(None, 299, 299, 3), 1000)
        assert shape(logits) == [None, 1000]
        n = len(slim.global_variables())
        irv2.inception_resnet_v2(_ph(2, 299, 299, 3), 1000, is_training=False, reuse=True)
        assert len(slim.global_variables()) == n


@pytest.mark.slow
def test_parameter_counts():
    """Without the auxiliary head, 1000 classes, under its arg_scope (batch norm with beta only):
    55,813,192 trainable values, 55,873,736 with the moving statistics: the counts of Keras'
    InceptionResNetV2, a port of research/slim's checkpoint. With research/slim's defaults (aux head, 1001
    classes): 59,182,258 trainable. Multiply-adds at 299x299: 13.16G."""
    with slim.Graph().as_default():
        with slim.arg_scope(irv2.inception_resnet_v2_arg_scope()):
            irv2.inception_resnet_v2(_ph(1, 299, 299, 3), 1000, create_aux_logits=False)
        assert num_params(slim.trainable_variables()) == 55_813_192
        assert num_params(slim.get_model_variables()) == 55_873_736
        assert conv_macs() == 13_155_794_016
        # biases of the linear 1x1 convs and the classifier are decayed too (research/slim's arg_scope)
        regs = slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)
        weights = [v for v in slim.trainable_variables() if v.op.name.endswith("weights")]
        biases = [v for v in slim.trainable_variables() if v.op.name.endswith("biases")]
        assert len(biases) == 41 and len(regs) == len(weights) + len(biases)
    with slim.Graph().as_default():
        fn = nets_factory.get_network_fn("inception_resnet_v2", 1001)
        assert fn.default_image_size == 299
        fn(_ph(1, 299, 299, 3))
        assert num_params(slim.trainable_variables()) == 59_182_258


def test_relu6_clips_the_residual():
    with slim.Graph().as_default():
        x = _ph(1, 5, 5, 8)
        irv2.block8(x, activation_fn=slim.nn.relu6)
        assert any(n.type == "clip_by_value" or "clip" in n.type for n in slim.get_default_graph().nodes)


@pytest.mark.slow
def test_onnx_export_matches_session():
    check_export("inception_resnet_v2", (2, 75, 75, 3), create_aux_logits=False,
                 node_prefix="InceptionResnetV2/InceptionResnetV2/Repeat_1/block17_20/")


@pytest.mark.slow
def test_training_steps_reduce_the_loss():
    assert_decreasing(train_losses("inception_resnet_v2", (4, 75, 75, 3), create_aux_logits=False))


@pytest.mark.slow
def test_global_pool_of_an_unknown_image_size_runs():
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [1, None, None, 3])
        logits, ep = irv2.inception_resnet_v2(images, 10, is_training=False, create_aux_logits=False)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out, pre = sess.run([logits, ep["Conv2d_7b_1x1"]], {images: np.ones((1, 107, 139, 3), np.float32)})
        assert out.shape == (1, 10) and pre.shape == (1, 2, 3, 1536)
