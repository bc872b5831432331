"""I3D and S3D-G (slimir.nets.i3d, slimir.nets.s3dg, i3d_utils) against research/slim's nets and the scenarios
of i3d_test.py and s3dg_test.py: logits, every end point's shape, final_endpoint truncation (with and without
gating), half-size images and ten frames; variable names (separable temporal convs, self-gating); the center
initializer; self-gating values; parameter counts; ONNX export equal to the Session; training steps."""

import numpy as np
import pytest
from netcheck import assert_decreasing, check_export, num_params, shape, train_losses, var_shapes

import slimir as slim
from slimir import errors
from slimir.nets import i3d, i3d_utils, nets_factory, s3dg

ENDPOINTS = ["Conv2d_1a_7x7", "MaxPool_2a_3x3", "Conv2d_2b_1x1", "Conv2d_2c_3x3", "MaxPool_3a_3x3", "Mixed_3b",
             "Mixed_3c", "MaxPool_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f",
             "MaxPool_5a_2x2", "Mixed_5b", "Mixed_5c"]
# i3d_test / s3dg_test: [frames, height, width, channels] at 64 x 224 x 224
SHAPES = [[32, 112, 112, 64], [32, 56, 56, 64], [32, 56, 56, 64], [32, 56, 56, 192], [32, 28, 28, 192],
          [32, 28, 28, 256], [32, 28, 28, 480], [16, 14, 14, 480], [16, 14, 14, 512], [16, 14, 14, 512],
          [16, 14, 14, 512], [16, 14, 14, 528], [16, 14, 14, 832], [8, 7, 7, 832], [8, 7, 7, 832],
          [8, 7, 7, 1024]]
NETS = {"i3d": (i3d.i3d, i3d.i3d_base), "s3dg": (s3dg.s3dg, s3dg.s3dg_base)}


def _ph(*shape_):
    return slim.placeholder(slim.float32, list(shape_), name="images")


@pytest.mark.parametrize("name", sorted(NETS))
def test_classification_network_and_all_end_points(name):
    net, _ = NETS[name]
    with slim.Graph().as_default():
        logits, ep = net(_ph(5, 64, 224, 224, 3), 1000)
        assert logits.op.name.startswith("InceptionV1/Logits")
        assert shape(logits) == shape(ep["Predictions"]) == [5, 1000]
        assert {k: shape(v) for k, v in ep.items() if k in ENDPOINTS} == {
            k: [5] + s for k, s in zip(ENDPOINTS, SHAPES)}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETS))
def test_base_every_final_endpoint_half_size_and_ten_frames(name):
    _, base = NETS[name]
    with slim.Graph().as_default():
        net, ep = base(_ph(5, 64, 224, 224, 3))
        assert net.op.name.startswith("InceptionV1/Mixed_5c") and list(ep) == ENDPOINTS
    for i, endpoint in enumerate(ENDPOINTS):
        with slim.Graph().as_default():
            kw = {"gating_startat": None} if name == "s3dg" else {}
            out, ep = base(_ph(5, 64, 224, 224, 3), final_endpoint=endpoint, **kw)
            assert out.op.name.startswith("InceptionV1/" + endpoint)
            assert list(ep) == ENDPOINTS[: i + 1]
    with slim.Graph().as_default():
        assert shape(base(_ph(5, 64, 112, 112, 3))[0]) == [5, 8, 4, 4, 1024]
    with slim.Graph().as_default():
        assert shape(base(_ph(5, 10, 224, 224, 3))[0]) == [5, 2, 7, 7, 1024]
    with slim.Graph().as_default(), pytest.raises(errors.InvalidArgumentError, match="Mixed_6a"):
        base(_ph(1, 8, 32, 32, 3), final_endpoint="Mixed_6a")


def test_evaluation_and_reuse():
    with slim.Graph().as_default():
        logits, _ = s3dg.s3dg(_ph(2, 64, 224, 224, 3), 1000, is_training=False)
        assert shape(slim.argmax(logits, 1)) == [2]
        n = len(slim.global_variables())
        i3d.i3d(_ph(2, 16, 112, 112, 3), 1000, is_training=False, scope="I3D")
        i3d.i3d(_ph(1, 16, 112, 112, 3), 1000, is_training=False, scope="I3D", reuse=True)
        assert len(slim.global_variables()) > n


def test_variable_names_and_collections():
    with slim.Graph().as_default():
        with slim.arg_scope(s3dg.s3dg_arg_scope()):
            s3dg.s3dg(_ph(1, 16, 64, 64, 3), 400)
        v = var_shapes()
        assert v["InceptionV1/Conv2d_1a_7x7/weights"] == [3, 7, 7, 3, 64]  # not separable: the first layer
        assert v["InceptionV1/Conv2d_2c_3x3/weights"] == [1, 3, 3, 64, 192]  # separable: spatial ...
        assert v["InceptionV1/Conv2d_2c_3x3/temporal/weights"] == [3, 1, 1, 192, 192]  # ... then temporal
        assert v["InceptionV1/Conv2d_2c_3x3/temporal/biases"] == [192]
        assert v["InceptionV1/Conv2d_2c_3x3/self_gating/transformer_W/weights"] == [1, 1, 1, 192, 192]
        assert v["InceptionV1/Mixed_4f/Branch_2/Conv2d_0b_3x3/temporal/weights"] == [3, 1, 1, 128, 128]
        assert v["InceptionV1/Mixed_5c/Branch_3/Conv2d_0b_1x1/self_gating/transformer_W/weights"] == [
            1, 1, 1, 128, 128]
        assert v["InceptionV1/Logits/Conv2d_0c_1x1/weights"] == [1, 1, 1, 1024, 400]
        assert v["InceptionV1/Logits/Conv2d_0c_1x1/biases"] == [400]
        moving = slim.get_collection("moving_vars")
        assert moving and all(m.op.name.endswith(("moving_mean", "moving_variance")) for m in moving)
        assert len(moving) == 2 * len([k for k in v if k.endswith("BatchNorm/beta")])
    with slim.Graph().as_default():
        with slim.arg_scope(i3d.i3d_arg_scope()):
            i3d.i3d(_ph(1, 16, 64, 64, 3), 400)
        v = var_shapes()
        assert v["InceptionV1/Conv2d_1a_7x7/weights"] == [7, 7, 7, 3, 64]
        assert v["InceptionV1/Mixed_3b/Branch_1/Conv2d_0b_3x3/weights"] == [3, 3, 3, 96, 128]
        assert not any("self_gating" in k or "temporal" in k for k in v)


@pytest.mark.parametrize(
    "name, total, trainable",
    [
        # derived from the architecture (1000 classes): I3D has 12.3M values besides its 1,025,000-value
        # classifier (the paper's Table 1: 12M), S3D-G 9.1M.
        ("i3d", 13_319_544, 13_304_984),
        ("s3dg", 10_148_408, 10_133_848),
    ],
)
def test_parameter_counts(name, total, trainable):
    fn = nets_factory.get_network_fn(name, 1000)
    assert fn.default_image_size == 224 and nets_factory.input_shape(name) == [64, 224, 224, 3]
    with slim.Graph().as_default():
        fn(_ph(1, 64, 224, 224, 3))
        assert num_params(slim.get_model_variables()) == total
        assert num_params(slim.trainable_variables()) == trainable


def test_center_initializer_and_reduced_kernel():
    init = i3d_utils.center_initializer()
    w = init([3, 1, 1, 4, 4])
    assert w.shape == (3, 1, 1, 4, 4)
    np.testing.assert_array_equal(w[1, 0, 0], np.eye(4))
    assert np.count_nonzero(w) == 4
    for bad, msg in (([3, 1, 1, 4, 5], "channel"), ([3, 3, 1, 4, 4], "Spatial"), ([2, 1, 1, 4, 4], "odd"),
                     ([3, 1, 4, 4], "5-D")):
        with pytest.raises(ValueError, match=msg):
            init(bad)
    with slim.Graph().as_default():
        assert i3d_utils.reduced_kernel_size_3d(_ph(1, 1, 4, 9, 3), [2, 7, 7]) == [1, 4, 7]
        assert i3d_utils.reduced_kernel_size_3d(_ph(1, None, 4, 9, 3), [2, 7, 7]) == [2, 7, 7]


def test_self_gating_values():
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(2, 3, 4, 4, 5)).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 3, 4, 4, 5])
        y = s3dg.self_gating(x, scope="g")
        w = slim.get_variables_by_name("weights")[0]
        assert w.op.name == "g/self_gating/transformer_W/weights"
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out, wv = sess.run([y, w], {x: xv})
    gate = 1 / (1 + np.exp(-(xv.mean(axis=(1, 2, 3)) @ wv[0, 0, 0])))
    np.testing.assert_allclose(out, xv * gate[:, None, None, None, :], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETS))
def test_onnx_export_matches_session(name):
    check_export(name, (2, 8, 32, 32, 3), num_classes=10, node_prefix="InceptionV1/InceptionV1/Mixed_4f/")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETS))
def test_training_steps_reduce_the_loss(name):
    assert_decreasing(train_losses(name, (4, 8, 32, 32, 3)))
