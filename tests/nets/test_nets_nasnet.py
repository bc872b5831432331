"""NASNet-A and PNASNet (slimir.nets.nasnet) against research/slim's nets/nasnet (nasnet.py, pnasnet.py,
nasnet_utils.py and the scenarios of nasnet_test.py, pnasnet_test.py, nasnet_utils_test.py): logits,
auxiliary logits, pre-logits, every end point's shape, final_endpoint, hyperparameter overrides (NCHW, no
auxiliary head, bounded activations), drop-path; the checkpoints' variable names; parameter counts; ONNX
export equal to the Session; training steps that lower the loss."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, conv_macs, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir import errors
from slimir.nets import nets_factory
from slimir.nets.nasnet import nasnet, nasnet_utils, pnasnet


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


# nasnet_test / pnasnet_test: [height, width, channels] of every end point (batch 5 there)
CIFAR = {"Stem": [32, 32, 96], **{f"Cell_{i}": [32, 32, 192] for i in range(6)},
         **{f"Cell_{i}": [16, 16, 384] for i in range(6, 12)}, **{f"Cell_{i}": [8, 8, 768] for i in range(12, 18)},
         "Reduction_Cell_0": [16, 16, 256], "Reduction_Cell_1": [8, 8, 512], "global_pool": [768]}
MOBILE = {"Stem": [28, 28, 88], **{f"Cell_{i}": [28, 28, 264] for i in range(4)},
          **{f"Cell_{i}": [14, 14, 528] for i in range(4, 8)}, **{f"Cell_{i}": [7, 7, 1056] for i in range(8, 12)},
          "Reduction_Cell_0": [14, 14, 352], "Reduction_Cell_1": [7, 7, 704], "global_pool": [1056]}
LARGE = {"Stem": [42, 42, 336], **{f"Cell_{i}": [42, 42, 1008] for i in range(6)},
         **{f"Cell_{i}": [21, 21, 2016] for i in range(6, 12)}, **{f"Cell_{i}": [11, 11, 4032] for i in range(12, 18)},
         "Reduction_Cell_0": [21, 21, 1344], "Reduction_Cell_1": [11, 11, 2688], "global_pool": [4032]}
P_LARGE = {"Stem": [42, 42, 540], **{f"Cell_{i}": [42, 42, 1080] for i in range(4)},
           **{f"Cell_{i}": [21, 21, 2160] for i in range(4, 8)}, **{f"Cell_{i}": [11, 11, 4320] for i in range(8, 12)},
           "global_pool": [4320]}
P_MOBILE = {"Stem": [28, 28, 135], **{f"Cell_{i}": [28, 28, 270] for i in range(3)},
            **{f"Cell_{i}": [14, 14, 540] for i in range(3, 6)}, **{f"Cell_{i}": [7, 7, 1080] for i in range(6, 9)},
            "global_pool": [1080]}

MODELS = {
    "cifar": (nasnet.build_nasnet_cifar, nasnet.nasnet_cifar_arg_scope, 32, 10, CIFAR),
    "mobile": (nasnet.build_nasnet_mobile, nasnet.nasnet_mobile_arg_scope, 224, 1000, MOBILE),
    "large": (nasnet.build_nasnet_large, nasnet.nasnet_large_arg_scope, 331, 1000, LARGE),
    "pnasnet_mobile": (pnasnet.build_pnasnet_mobile, pnasnet.pnasnet_mobile_arg_scope, 224, 1000, P_MOBILE),
    "pnasnet_large": (pnasnet.build_pnasnet_large, pnasnet.pnasnet_large_arg_scope, 331, 1000, P_LARGE),
}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(MODELS))
def test_all_end_point_shapes_and_logits(model):
    build, scope_fn, size, classes, shapes = MODELS[model]
    with slim.Graph().as_default():
        with slim.arg_scope(scope_fn()):
            logits, ep = build(_ph(2, size, size, 3), classes)  # is_training=True: with the auxiliary head
        expected = {k: [2] + v for k, v in shapes.items()}
        expected.update({"AuxLogits": [2, classes], "Logits": [2, classes], "Predictions": [2, classes]})
        assert {k: shape(v) for k, v in ep.items()} == expected
        assert logits.op.name.startswith("final_layer/FC")
        assert ep["AuxLogits"].op.name.startswith("aux_")


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(MODELS))
def test_pre_logits_and_no_aux_head(model):
    build, scope_fn, size, classes, shapes = MODELS[model]
    with slim.Graph().as_default(), slim.arg_scope(scope_fn()):
        net, ep = build(_ph(2, size, size, 3), None)
        assert shape(net) == [2] + shapes["global_pool"]
        assert "Logits" not in ep and "AuxLogits" not in ep
    config = {"cifar": nasnet.cifar_config, "mobile": nasnet.mobile_imagenet_config,
              "large": nasnet.large_imagenet_config, "pnasnet_mobile": pnasnet.mobile_imagenet_config,
              "pnasnet_large": pnasnet.large_imagenet_config}[model]()
    config.set_hparam("use_aux_head", 0)
    with slim.Graph().as_default(), slim.arg_scope(scope_fn()):
        _, ep = build(_ph(2, size, size, 3), classes, config=config)
        assert "AuxLogits" not in ep and "Logits" in ep
    with slim.Graph().as_default(), slim.arg_scope(scope_fn()):
        _, ep = build(_ph(2, size, size, 3), classes, is_training=False)
        assert "AuxLogits" not in ep  # the auxiliary head is a training-only head


@pytest.mark.slow
def test_variable_names_of_the_checkpoints():
    with slim.Graph().as_default(), slim.arg_scope(nasnet.nasnet_mobile_arg_scope()):
        nasnet.build_nasnet_mobile(_ph(1, 224, 224, 3), 1001)
        v = var_shapes()
        assert v["conv0/weights"] == [3, 3, 3, 32]
        assert v["conv0_bn/gamma"] == [32]
        assert v["cell_stem_0/1x1/weights"] == [1, 1, 32, 11]
        assert v["cell_stem_0/comb_iter_0/left/separable_5x5_1/depthwise_weights"] == [5, 5, 11, 1]
        assert v["cell_stem_0/comb_iter_0/left/separable_5x5_1/pointwise_weights"] == [1, 1, 11, 11]
        assert v["cell_stem_0/comb_iter_0/left/bn_sep_5x5_2/beta"] == [11]
        assert v["cell_stem_1/path1_conv/weights"] == [1, 1, 32, 11]
        assert v["cell_stem_1/final_path_bn/moving_variance"] == [22]
        assert v["cell_0/path1_conv/weights"] == [1, 1, 44, 22]  # the previous state is 56x56: reduced
        assert v["cell_1/prev_1x1/weights"] == [1, 1, 88, 44]
        assert v["reduction_cell_0/comb_iter_0/right/separable_7x7_1/depthwise_weights"] == [7, 7, 88, 1]
        assert v["cell_11/comb_iter_4/left/separable_3x3_2/pointwise_weights"] == [1, 1, 176, 176]
        assert v["aux_7/aux_logits/proj/weights"] == [1, 1, 528, 128]
        assert v["aux_7/aux_logits/Conv/weights"] == [4, 4, 128, 768]
        assert v["aux_7/aux_logits/FC/weights"] == [768, 1001]
        assert v["final_layer/FC/weights"] == [1056, 1001]
        assert v["final_layer/FC/biases"] == [1001]
        assert not any(k.endswith("/biases") and "FC" not in k for k in v)  # convolutions have no biases


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, total, macs",
    [
        # Keras' NASNetMobile / NASNetLarge (ports of research/slim's checkpoints, 1000 classes): 5,326,716 and
        # 88,949,818 values; the paper: 564M and 23.8B multiply-adds. The others are derived from the
        # architecture (PNASNet's paper: 5.1M / 588M mobile, 86.1M / 25.0B large).
        ("nasnet_mobile", 5_326_716, 564),
        ("nasnet_large", 88_949_818, 23_800),
        ("pnasnet_mobile", 5_098_151, 588),
        ("pnasnet_large", 86_234_656, 25_000),
    ],
)
def test_parameter_counts_and_macs(name, total, macs):
    fn = nets_factory.get_network_fn(name, 1000)
    size = fn.default_image_size
    with slim.Graph().as_default():
        fn(_ph(1, size, size, 3))
        assert num_params(slim.get_model_variables()) == total
        tolerance = 0.01 if macs > 1000 else 0.005
        assert abs(conv_macs() / 1e6 - macs) / macs < tolerance


def test_cifar_parameter_count():
    """The paper's NASNet-A (6 @ 768) for CIFAR-10: 3.3M parameters."""
    with slim.Graph().as_default():
        nets_factory.get_network_fn("nasnet_cifar", 10)(_ph(1, 32, 32, 3))
        weights = [v for v in slim.trainable_variables() if "weights" in v.op.name]
        assert num_params(weights) == 3_309_280
        assert num_params(slim.get_model_variables()) == 3_383_786


@pytest.mark.slow
def test_final_endpoint_and_unknown_layer():
    with slim.Graph().as_default(), slim.arg_scope(nasnet.nasnet_large_arg_scope()):
        net, ep = nasnet.build_nasnet_large(_ph(1, 331, 331, 3), 1000, final_endpoint="Cell_5")
        assert list(ep)[-1] == "Cell_5" and net is ep["Cell_5"] and shape(net) == [1, 42, 42, 1008]
    with slim.Graph().as_default(), slim.arg_scope(pnasnet.pnasnet_large_arg_scope()):
        net, ep = pnasnet.build_pnasnet_large(_ph(1, 331, 331, 3), 1000, final_endpoint="Cell_7")
        assert list(ep) == ["Stem"] + [f"Cell_{i}" for i in range(8)] and shape(net) == [1, 21, 21, 2160]
    with slim.Graph().as_default(), slim.arg_scope(pnasnet.pnasnet_mobile_arg_scope()):
        _, ep = pnasnet.build_pnasnet_mobile(_ph(1, 224, 224, 3), 1000, final_endpoint="Cell_99")
        assert "Predictions" in ep  # an unknown end point builds the whole network, as research/slim


@pytest.mark.slow
def test_nchw_override():
    config = pnasnet.mobile_imagenet_config()
    config.set_hparam("data_format", "NCHW")
    with slim.Graph().as_default(), slim.arg_scope(pnasnet.pnasnet_mobile_arg_scope()):
        _, ep = pnasnet.build_pnasnet_mobile(_ph(2, 224, 224, 3), 1000, config=config)
        assert shape(ep["Stem"]) == [2, 135, 28, 28]
        assert shape(ep["Cell_8"]) == [2, 1080, 7, 7]
        assert shape(ep["global_pool"]) == [2, 1080]
    with pytest.raises(errors.InvalidArgumentError, match="Unknown hyperparameter"):
        config.set_hparam("no_such_thing", 1)


def test_bounded_activation_clips():
    config = pnasnet.mobile_imagenet_config()
    config.set_hparam("use_bounded_activation", True)
    with slim.Graph().as_default(), slim.arg_scope(pnasnet.pnasnet_mobile_arg_scope()):
        pnasnet.build_pnasnet_mobile(_ph(1, 224, 224, 3), 1000, config=config)
        types = {n.type for n in slim.get_default_graph().nodes}
        assert "relu6" in types and "relu" not in types


def test_calc_reduction_layers_and_channel_helpers():
    """nasnet_utils_test: reduction cells after 1/3 and 2/3 of the cells."""
    assert nasnet_utils.calc_reduction_layers(18, 2) == [6, 12]
    assert nasnet_utils.calc_reduction_layers(12, 2) == [4, 8]
    assert nasnet_utils.calc_reduction_layers(9, 2) == [3, 6]
    with slim.arg_scope([nasnet_utils.get_channel_index], data_format="NHWC"):
        assert nasnet_utils.get_channel_index() == 3
    with slim.arg_scope([nasnet_utils.get_channel_dim], data_format="NCHW"):
        assert nasnet_utils.get_channel_dim([1, 7, 5, 5]) == 7
    with pytest.raises(errors.InvalidArgumentError, match="data_format"):
        nasnet_utils.get_channel_index()


def test_factorized_reduction_and_global_avg_pool_values():
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(2, 6, 6, 4)).astype(np.float32)
    with slim.Graph().as_default(), slim.arg_scope(
            [nasnet_utils.factorized_reduction, nasnet_utils.global_avg_pool], data_format="NHWC"):
        x = slim.placeholder(slim.float32, [2, 6, 6, 4])
        with slim.arg_scope([slim.conv2d], activation_fn=None, biases_initializer=None), \
                slim.arg_scope([slim.batch_norm], is_training=False):
            y = nasnet_utils.factorized_reduction(x, 6, 2)
        pooled = nasnet_utils.global_avg_pool(x)
        w1 = rng.normal(size=(1, 1, 4, 3)).astype(np.float32)
        w2 = rng.normal(size=(1, 1, 4, 3)).astype(np.float32)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            sess.set_variable_value(slim.get_variables_by_name("path1_conv/weights")[0], w1)
            sess.set_variable_value(slim.get_variables_by_name("path2_conv/weights")[0], w2)
            out, p = sess.run([y, pooled], {x: xv})
    # path 1 samples the even pixels, path 2 the odd ones (shifted by one, zero-padded at the end)
    shifted = np.pad(xv, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1:, 1:, :]
    want = np.concatenate([xv[:, ::2, ::2] @ w1[0, 0], shifted[:, ::2, ::2] @ w2[0, 0]], axis=-1)
    want = want / np.sqrt(1.0 + 1e-3)  # inference batch norm with its initial statistics
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p, xv.mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)


def test_drop_path_in_training():
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.placeholder(slim.float32, [400, 2, 2, 3])
        y = nasnet_utils.drop_path(x, 0.6)
        z = nasnet_utils.drop_path(x, 0.6, is_training=False)
        assert z is x
        with slim.Session() as sess:
            out = sess.run(y, {x: np.ones((400, 2, 2, 3), np.float32)})
        kept = out.reshape(400, -1)
        assert np.all(np.isclose(kept, 0.0) | np.isclose(kept, 1 / 0.6))
        assert (kept == kept[:, :1]).all()  # one decision per example
        assert 0.5 < (kept[:, 0] > 0).mean() < 0.7
        with pytest.raises(errors.ShapeError, match="batch size"):
            nasnet_utils.drop_path(slim.placeholder(slim.float32, [None, 2, 2, 3]), 0.5)


def test_drop_path_keep_prob_follows_depth_and_progress():
    """v3 drop-path: keep = 1 - min(1, step / total_training_steps) * (cell+1)/total_cells * (1 - keep_prob)."""
    cell = nasnet_utils.NasNetANormalCell(8, 0.6, total_num_cells=4, total_training_steps=100)
    cell._cell_num = 1
    with slim.Graph().as_default():
        step = slim.placeholder(slim.float32, [])
        x = slim.placeholder(slim.float32, [2000, 1, 1, 1])
        y = cell._apply_drop_path(x, current_step=step)
        with slim.Session() as sess:
            for s, want in ((0.0, 1.0), (50.0, 1 - 0.5 * 0.5 * 0.4), (400.0, 1 - 0.5 * 0.4)):
                out = sess.run(y, {x: np.ones((2000, 1, 1, 1), np.float32), step: s}).ravel()
                assert np.allclose(out[out > 0], 1 / want, rtol=1e-5)
                assert abs((out > 0).mean() - want) < 0.04


@pytest.mark.slow
def test_onnx_export_matches_session():
    check_export("nasnet_cifar", (2, 32, 32, 3), num_classes=10, node_prefix="cell_17/comb_iter_4/")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_mobile", "pnasnet_mobile"])
def test_onnx_export_of_the_mobile_models(name):
    check_export(name, (1, 96, 96, 3))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_large", "pnasnet_large"])
def test_onnx_export_of_the_large_models(name):
    check_export(name, (1, 64, 64, 3))


@pytest.mark.slow
def test_training_steps_reduce_the_loss():
    # the fan-out initialisation of the 10-way classifier starts with large logits: a small step
    assert_decreasing(train_losses("nasnet_cifar", (4, 32, 32, 3), lr=1e-4))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nasnet_mobile", "pnasnet_mobile"])
def test_training_steps_reduce_the_loss_of_the_mobile_models(name):
    # 1000 classes: the fan-out initialisation of a 10-way classifier gives logits so large that the 0.5
    # dropout before it makes the loss jump from step to step
    assert_decreasing(train_losses(name, (4, 96, 96, 3), num_classes=1000))
