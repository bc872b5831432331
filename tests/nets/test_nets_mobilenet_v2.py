"""MobileNet v2 (slimir.nets.mobilenet) against research/slim's nets/mobilenet (mobilenet.py,
conv_blocks.py, mobilenet_v2.py, the scenarios of mobilenet_v2_test.py and the checkpoint table of
nets/mobilenet/README.md): scopes and variable names, end points, depth multipliers, output stride,
explicit padding, split convolutions, parameter and multiply-accumulate counts; ONNX export equal to the
Session; training steps that lower the loss."""

import copy

import pytest
from netcheck import assert_decreasing, check_export, conv_macs, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir import errors
from slimir.nets import nets_factory
from slimir.nets.mobilenet import conv_blocks as ops
from slimir.nets.mobilenet import mobilenet, mobilenet_v2


def _ph(*shape_, name="images"):
    return slim.placeholder(slim.float32, list(shape_), name=name)


def _conv_nodes():
    return [n for n in slim.get_default_graph().nodes if n.type == "conv2d"]


def _conv_depths():
    return [n.outputs[0].shape.as_list()[-1] for n in _conv_nodes()]


def test_creation_counts_convolutions_and_exposes_depthwise_outputs():
    """mobilenet_v2_test.testCreation: every spec entry but the first two and the last has an expansion and
    a projection conv; the classifier adds one."""
    with slim.Graph().as_default():
        spec = dict(mobilenet_v2.V2_DEF)
        _, ep = mobilenet.mobilenet(_ph(10, 224, 224, 16), conv_defs=spec)
        assert len(_conv_nodes()) == len(spec["spec"]) * 2 - 2 == 36
        for i in range(2, 17):
            assert f"layer_{i}/depthwise_output" in ep
        assert "layer_2/expansion_output" not in ep  # the first bottleneck does not expand (t=1)


def test_scopes_variable_names_and_end_points():
    with slim.Graph().as_default():
        logits, ep = mobilenet_v2.mobilenet(_ph(1, 224, 224, 3))
        assert shape(logits) == [1, 1001]
        assert logits.op.name == "MobilenetV2/Logits/output"
        assert ep["Predictions"].op.name.startswith("MobilenetV2/Predictions/")
        assert [k for k in ep if "/" not in k] == [f"layer_{i}" for i in range(1, 20)] + [
            "global_pool", "Logits", "Predictions"]
        assert shape(ep["layer_1"]) == [1, 112, 112, 32]
        assert shape(ep["layer_18"]) == [1, 7, 7, 320]
        assert shape(ep["layer_19"]) == [1, 7, 7, 1280]
        assert shape(ep["global_pool"]) == [1, 1, 1, 1280]
        assert ep["layer_18/output"].op.name == "MobilenetV2/expanded_conv_16/output"
        assert ep["layer_3/expansion_output"].op.name == "MobilenetV2/expanded_conv_1/expansion_output"
        v = var_shapes()
        # names of research/slim's mobilenet_v2_1.0_224 checkpoint
        assert v["MobilenetV2/Conv/weights"] == [3, 3, 3, 32]
        assert v["MobilenetV2/Conv/BatchNorm/gamma"] == [32]
        assert v["MobilenetV2/expanded_conv/depthwise/depthwise_weights"] == [3, 3, 32, 1]
        assert v["MobilenetV2/expanded_conv/project/weights"] == [1, 1, 32, 16]
        assert v["MobilenetV2/expanded_conv_1/expand/weights"] == [1, 1, 16, 96]
        assert v["MobilenetV2/expanded_conv_1/expand/BatchNorm/moving_variance"] == [96]
        assert v["MobilenetV2/expanded_conv_16/project/weights"] == [1, 1, 960, 320]
        assert v["MobilenetV2/Conv_1/weights"] == [1, 1, 320, 1280]
        assert v["MobilenetV2/Logits/Conv2d_1c_1x1/weights"] == [1, 1, 1280, 1001]
        assert v["MobilenetV2/Logits/Conv2d_1c_1x1/biases"] == [1001]
        assert len(v) == 262 and not any(k.endswith("/biases") and "Logits" not in k for k in v)


def test_no_classes_returns_the_pool_and_base_only_the_base():
    with slim.Graph().as_default():
        net, ep = mobilenet.mobilenet(_ph(10, 224, 224, 16), conv_defs=copy.deepcopy(mobilenet_v2.V2_DEF),
                                      num_classes=None)
        assert net is ep["global_pool"]
        assert not any("Conv2d_1c_1x1" in v.op.name for v in slim.global_variables())
    with slim.Graph().as_default():
        net, ep = mobilenet_v2.mobilenet_base(_ph(2, 224, 224, 3))
        assert net is ep["layer_19"] and shape(net) == [2, 7, 7, 1280] and "global_pool" not in ep


@pytest.mark.slow
@pytest.mark.parametrize("size, out", [(224, 7), (192, 6), (160, 5), (128, 4), (96, 3)])
def test_image_sizes(size, out):
    with slim.Graph().as_default():
        _, ep = mobilenet_v2.mobilenet(_ph(10, size, size, 3))
        assert shape(ep["layer_18/output"])[1:3] == [out, out]


def test_split_expansion_adds_one_conv_per_block():
    """mobilenet_v2_test.testWithSplits: split_expansion=2 splits each expansion in two."""
    with slim.Graph().as_default():
        spec = copy.deepcopy(mobilenet_v2.V2_DEF)
        spec["overrides"] = {(ops.expanded_conv,): {"split_expansion": 2}}
        mobilenet.mobilenet(_ph(10, 224, 224, 16), conv_defs=spec)
        assert len(_conv_nodes()) == len(spec["spec"]) * 3 - 5
        names = {v.op.name for v in slim.get_model_variables()}
        assert "MobilenetV2/expanded_conv_1/expand_part_0/weights" not in names  # default scope 'Mobilenet'
        assert "Mobilenet/expanded_conv_1/expand_part_1/weights" in names


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("output_stride, size", [(8, 28), (16, 14)])
def test_output_stride(output_stride, size, explicit):
    with slim.Graph().as_default():
        out, _ = mobilenet.mobilenet_base(_ph(10, 224, 224, 16), conv_defs=mobilenet_v2.V2_DEF,
                                          output_stride=output_stride, use_explicit_padding=explicit,
                                          scope="MobilenetV2")
        assert shape(out)[1:3] == [size, size]
        nodes = slim.get_default_graph().nodes
        if explicit:
            assert {n.attrs["padding"] for n in nodes if n.type in ("conv2d", "depthwise_conv2d")} == {"VALID"}
        rates = {tuple(n.attrs["dilations"]) for n in nodes if n.type == "depthwise_conv2d"}
        assert rates == ({(1, 1), (2, 2), (4, 4)} if output_stride == 8 else {(1, 1), (2, 2)})
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match="Output stride"):
        mobilenet.mobilenet_base(_ph(1, 224, 224, 3), conv_defs=mobilenet_v2.V2_DEF, output_stride=3)


def test_divisible_by_and_min_depth():
    with slim.Graph().as_default():
        mobilenet_v2.mobilenet(_ph(10, 224, 224, 16), conv_defs=mobilenet_v2.V2_DEF, divisible_by=16,
                               min_depth=32)
        assert set(_conv_depths()) == {32, 64, 96, 160, 192, 320, 384, 576, 960, 1280, 1001}
    with slim.Graph().as_default(), slim.arg_scope((mobilenet.depth_multiplier,), min_depth=32):
        mobilenet_v2.mobilenet(_ph(10, 224, 224, 2), conv_defs=mobilenet_v2.V2_DEF, depth_multiplier=0.1)
        assert set(_conv_depths()) == {32, 192, 128, 1001}


def test_fine_grained_keeps_the_last_layer():
    with slim.Graph().as_default():
        mobilenet_v2.mobilenet(_ph(10, 224, 224, 2), conv_defs=mobilenet_v2.V2_DEF, depth_multiplier=0.01,
                               finegrain_classification_mode=True)
        assert set(_conv_depths()) == {8, 48, 1001, 1280}


def test_base_with_arg_scoped_min_depth_and_custom_multiplier():
    with slim.Graph().as_default(), slim.arg_scope((mobilenet.depth_multiplier,), min_depth=32):
        net, _ = mobilenet_v2.mobilenet_base(_ph(10, 224, 224, 16), conv_defs=mobilenet_v2.V2_DEF,
                                             depth_multiplier=0.1)
        assert shape(net) == [10, 7, 7, 128]

    def inverse_multiplier(output_params, multiplier):
        output_params["num_outputs"] /= multiplier

    new_def = copy.deepcopy(mobilenet_v2.V2_DEF)
    new_def["spec"][0] = mobilenet.op(slim.conv2d, kernel_size=(3, 3), multiplier_func=inverse_multiplier,
                                      num_outputs=16)
    with slim.Graph().as_default():
        mobilenet_v2.mobilenet_base(_ph(10, 224, 224, 16), conv_defs=new_def, depth_multiplier=0.1)
        assert _conv_depths()[:5] == [160, 8, 48, 8, 48]
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match="depth_multiplier"):
        mobilenet_v2.mobilenet(_ph(1, 224, 224, 3), multiplier=0.5)
    with slim.Graph().as_default(), pytest.raises(errors.ShapeError, match="rank 4"):
        mobilenet_v2.mobilenet(_ph(1, 224, 224))


def test_training_scope_sets_is_training():
    sc = mobilenet.training_scope(is_training=None)
    assert "is_training" not in sc[slim.arg_scope_func_key(slim.batch_norm)]
    for value in (False, True):
        sc = mobilenet.training_scope(is_training=value)
        assert sc[slim.arg_scope_func_key(slim.batch_norm)]["is_training"] is value
    sc = mobilenet_v2.training_scope()
    bn = sc[slim.arg_scope_func_key(slim.batch_norm)]
    assert bn["is_training"] is True and bn["decay"] == 0.997
    assert sc[slim.arg_scope_func_key(slim.dropout)]["keep_prob"] == 0.8
    assert sc[slim.arg_scope_func_key(slim.separable_conv2d)]["weights_regularizer"] is None
    with slim.Graph().as_default():
        with slim.arg_scope(mobilenet_v2.training_scope(weight_decay=1e-4)):
            mobilenet_v2.mobilenet(_ph(2, 96, 96, 3))
        # every conv2d (not the depthwise ones) is decayed; training mode adds the moving-average updates
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 36
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) == 2 * 52


@pytest.mark.parametrize(
    "name, weights, trainable, total, macs",
    [
        # README checkpoint table: 3.47M parameters, 300M MACs (1.0); 6.06M, 582M (1.4); 1.66M, 59M (0.35).
        # The README counts the weights (conv kernels and the classifier); research/slim's checkpoint also
        # holds batch norm's beta/gamma and moving statistics and the classifier's biases.
        ("mobilenet_v2", 3_471_040, 3_506_153, 3_540_265, 300_775_552),
        ("mobilenet_v2_140", 6_061_632, 6_110_569, 6_158_505, 582_197_616),
        ("mobilenet_v2_035", 1_663_328, 1_678_409, 1_692_489, 59_287_088),
    ],
)
def test_parameter_counts_and_macs_match_the_readme(name, weights, trainable, total, macs):
    fn = nets_factory.get_network_fn(name, 1001)
    assert fn.default_image_size == 224
    with slim.Graph().as_default():
        logits, ep = fn(_ph(1, 224, 224, 3))
        # 1.4 widens the last layer too; 0.35 keeps it at 1280 (finegrain_classification_mode)
        last = 1792 if name == "mobilenet_v2_140" else 1280
        assert shape(logits) == [1, 1001] and shape(ep["layer_19"]) == [1, 7, 7, last]
        model = slim.get_model_variables()
        assert num_params([v for v in model if v.op.name.endswith("weights")]) == weights
        assert num_params(slim.trainable_variables()) == trainable
        assert num_params(model) == total
        assert conv_macs() == macs
    readme = {"mobilenet_v2": (3.47, 300), "mobilenet_v2_140": (6.06, 582), "mobilenet_v2_035": (1.66, 59)}[name]
    assert (round(weights / 1e6, 2), macs // 1_000_000) == readme  # the table truncates the MACs


@pytest.mark.slow
def test_group_norm_base():
    with slim.Graph().as_default():
        net, _ = mobilenet_v2.mobilenet_base_group_norm(_ph(2, 224, 224, 3), groups=4)
        assert shape(net) == [2, 7, 7, 1280]
        names = [v.op.name for v in slim.global_variables()]
        assert not any("BatchNorm" in n for n in names)
        assert "MobilenetV2/expanded_conv_1/expand/GroupNorm/gamma" in names
        gn = [n for n in slim.get_default_graph().nodes if n.type == "reshape" and "GroupNorm" in n.name]
        assert gn and all(n.outputs[0].shape.as_list()[3] == 4 for n in gn if len(n.outputs[0].shape) == 5)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v2_035"])
def test_onnx_export_matches_session(name):
    check_export(name, (2, 64, 64, 3), node_prefix="MobilenetV2/expanded_conv_5/")


@pytest.mark.slow
def test_onnx_export_of_the_140_variant():
    check_export("mobilenet_v2_140", (1, 96, 96, 3))


@pytest.mark.slow
def test_training_steps_reduce_the_loss():
    assert_decreasing(train_losses("mobilenet_v2", (8, 32, 32, 3)))
