"""ResNet v1/v2 (slimir.nets.resnet_utils, resnet_v1, resnet_v2) against TF-Slim's research/slim
resnet_v1_test / resnet_v2_test: the exact conv2d_same numbers, dense (atrous) feature extraction equal to
subsampled nominal-stride features, end point names and shapes, variable names, parameter counts derived
from the architecture (and torchvision's published ResNet-50/101/152 counts, the same architecture), ONNX
export checked against the Session, and training steps."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import slimir as slim
from slimir import errors
from slimir.nets import nets_factory, resnet_utils, resnet_v1, resnet_v2
from slimir.runtime.export import build_model

# ----------------------------------------------------------------------------------------------- helpers


def _grid(batch, height, width, channels):
    """TF-Slim's create_test_input: value i + j at pixel (i, j), tiled over batch and channels."""
    plane = np.arange(height).reshape(height, 1) + np.arange(width).reshape(1, width)
    return np.tile(plane.reshape(1, height, width, 1), [batch, 1, 1, channels]).astype(np.float32)


def _test_input(batch, height, width, channels):
    """A placeholder when a dimension is unknown, else the grid as a constant."""
    if None in (batch, height, width, channels):
        return slim.placeholder(slim.float32, [batch, height, width, channels], name="images")
    return slim.constant(_grid(batch, height, width, channels))


def _num_params(variables):
    return sum(int(np.prod(v.shape.as_list())) for v in variables)


def _shape(t):
    return t.shape.as_list()


def _small_v1(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    include_root_block=True,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v1_small",
):
    """resnet_v1_test's shallow, thin network (base depths 1, 2, 4, 8)."""
    block = resnet_v1.resnet_v1_block
    blocks = [
        block("block1", base_depth=1, num_units=3, stride=2),
        block("block2", base_depth=2, num_units=3, stride=2),
        block("block3", base_depth=4, num_units=3, stride=2),
        block("block4", base_depth=8, num_units=2, stride=1),
    ]
    return resnet_v1.resnet_v1(
        inputs,
        blocks,
        num_classes,
        is_training=is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        include_root_block=include_root_block,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


def _small_v2(
    inputs,
    num_classes=None,
    is_training=True,
    global_pool=True,
    output_stride=None,
    include_root_block=True,
    spatial_squeeze=True,
    reuse=None,
    scope="resnet_v2_small",
):
    block = resnet_v2.resnet_v2_block
    blocks = [
        block("block1", base_depth=1, num_units=3, stride=2),
        block("block2", base_depth=2, num_units=3, stride=2),
        block("block3", base_depth=4, num_units=3, stride=2),
        block("block4", base_depth=8, num_units=2, stride=1),
    ]
    return resnet_v2.resnet_v2(
        inputs,
        blocks,
        num_classes,
        is_training=is_training,
        global_pool=global_pool,
        output_stride=output_stride,
        include_root_block=include_root_block,
        spatial_squeeze=spatial_squeeze,
        reuse=reuse,
        scope=scope,
    )


SMALL = {"v1": (_small_v1, resnet_v1), "v2": (_small_v2, resnet_v2)}


def _set_realistic_values(sess, rng):
    """He-scaled weights and non-trivial batch-norm statistics, so that outputs stay O(1) through deep
    nets (the initializers with zero means and unit variances would make a comparison near-vacuous).
    Values are windows at random offsets into one pool of normal draws: drawing 60M fresh numbers for the
    deepest nets would dominate these tests."""
    pool = rng.standard_normal(3 * 2**20 + 1, dtype=np.float32)
    unit = rng.uniform(0.0, 1.0, 2**14 + 1).astype(np.float32)
    for v in slim.global_variables():
        shape = v.shape.as_list()
        size = int(np.prod(shape))
        name = v.op.name
        if name.endswith("weights"):
            fan_in = shape[0] * shape[1] if name.endswith("depthwise_weights") else int(np.prod(shape[:-1]))
            gain = 2.0 if name.endswith("depthwise_weights") else 1.0
            start = int(rng.integers(0, pool.size - size + 1))
            value = pool[start : start + size].reshape(shape) * np.float32(np.sqrt(gain / fan_in))
        else:
            start = int(rng.integers(0, unit.size - size + 1))
            u = unit[start : start + size].reshape(shape)
            value = 0.5 + 0.5 * u if name.endswith(("gamma", "moving_variance")) else 0.2 * u - 0.1
        sess.set_variable_value(v, value)


# ------------------------------------------------------------------------------------------ resnet_utils


def test_subsample_three_by_three_and_four_by_four():
    with slim.Graph().as_default():
        a = resnet_utils.subsample(
            slim.reshape(slim.constant(np.arange(9, dtype=np.float32)), [1, 3, 3, 1]), 2
        )
        b = resnet_utils.subsample(
            slim.reshape(slim.constant(np.arange(16, dtype=np.float32)), [1, 4, 4, 1]), 2
        )
        same = slim.constant(np.ones((1, 3, 3, 1), np.float32))
        assert resnet_utils.subsample(same, 1) is same
        with slim.Session() as sess:
            va, vb = sess.run([a, b])
    np.testing.assert_array_equal(va.reshape(2, 2), [[0, 2], [6, 8]])
    np.testing.assert_array_equal(vb.reshape(2, 2), [[0, 2], [8, 10]])


def _conv2d_same_case(n):
    """y1 = conv stride 1, y2 = subsample(y1, 2), y3 = conv2d_same stride 2, y4 = conv2d stride 2, with
    the grid as input and as (3x3) kernel, all sharing 'Conv/weights'."""
    with slim.Graph().as_default():
        x = _test_input(1, n, n, 1)
        w = _grid(1, 3, 3, 1).reshape(3, 3, 1, 1)
        slim.get_variable("Conv/weights", initializer=w)
        slim.get_variable("Conv/biases", initializer=np.zeros(1, np.float32))
        slim.get_variable_scope().reuse_variables()
        y1 = slim.conv2d(x, 1, [3, 3], stride=1, scope="Conv")
        y2 = resnet_utils.subsample(y1, 2)
        y3 = resnet_utils.conv2d_same(x, 1, 3, stride=2, scope="Conv")
        y4 = slim.conv2d(x, 1, [3, 3], stride=2, scope="Conv")
        assert len(slim.global_variables()) == 2
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            return [v[0, :, :, 0] for v in sess.run([y1, y2, y3, y4])]


def test_conv2d_same_even():
    y1, y2, y3, y4 = _conv2d_same_case(4)
    np.testing.assert_array_equal(
        y1, [[14, 28, 43, 26], [28, 48, 66, 37], [43, 66, 84, 46], [26, 37, 46, 22]]
    )
    np.testing.assert_array_equal(y2, [[14, 43], [43, 84]])
    np.testing.assert_array_equal(y3, [[14, 43], [43, 84]])  # conv2d_same == conv + subsample
    np.testing.assert_array_equal(y4, [[48, 37], [37, 22]])  # TF's SAME with stride 2 differs on even sizes


def test_conv2d_same_odd():
    y1, y2, y3, y4 = _conv2d_same_case(5)
    np.testing.assert_array_equal(
        y1,
        [
            [14, 28, 43, 58, 34],
            [28, 48, 66, 84, 46],
            [43, 66, 84, 102, 55],
            [58, 84, 102, 120, 64],
            [34, 46, 55, 64, 30],
        ],
    )
    expected = [[14, 43, 34], [43, 84, 55], [34, 55, 30]]
    np.testing.assert_array_equal(y2, expected)
    np.testing.assert_array_equal(y3, expected)
    np.testing.assert_array_equal(y4, expected)


def test_conv2d_same_padding_geometry():
    """Stride > 1: explicit (k-1)//2 before and the rest after, then VALID; stride 1 (the atrous case):
    a SAME convolution with the rate, no pad."""
    with slim.Graph().as_default():
        y7 = resnet_utils.conv2d_same(_test_input(1, 9, 9, 1), 2, 7, stride=2, scope="c7")
        y4 = resnet_utils.conv2d_same(_test_input(1, 9, 9, 1), 2, 4, stride=2, scope="c4")
        y3 = resnet_utils.conv2d_same(_test_input(1, 9, 9, 1), 2, 3, stride=1, rate=2, scope="atrous")
        g = slim.get_default_graph()
        pads = [n.attrs["paddings"] for n in g.nodes if n.type == "pad"]
        assert pads == [((0, 0), (3, 3), (3, 3), (0, 0)), ((0, 0), (1, 2), (1, 2), (0, 0))]
        convs = {n.name.split("/")[0]: n.attrs for n in g.nodes if n.type == "conv2d"}
        assert convs["c7"]["padding"] == "VALID" and convs["c4"]["padding"] == "VALID"
        assert convs["atrous"]["padding"] == "SAME" and tuple(convs["atrous"]["dilations"]) == (2, 2)
        assert _shape(y7) == _shape(y4) == [1, 5, 5, 2]
        assert _shape(y3) == [1, 9, 9, 2]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_end_points_of_a_tiny_bottleneck_network(version):
    module = SMALL[version][1]
    block = module.resnet_v1_block if version == "v1" else module.resnet_v2_block
    blocks = [
        block("block1", base_depth=1, num_units=2, stride=2),
        block("block2", base_depth=2, num_units=2, stride=1),
    ]
    unit = f"bottleneck_{version}"
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()), slim.variable_scope("tiny"):
            with slim.arg_scope([slim.conv2d], outputs_collections="end_points"):
                net = resnet_utils.stack_blocks_dense(_test_input(2, 32, 16, 3), blocks)
            end_points = slim.utils.convert_collection_to_dict("end_points")
        expected = []
        for b in (1, 2):
            expected.append(f"tiny/block{b}/unit_1/{unit}/shortcut")
            for u in (1, 2):
                expected += [f"tiny/block{b}/unit_{u}/{unit}/conv{c}" for c in (1, 2, 3)]
        assert sorted(end_points) == sorted(expected)
        assert _shape(net) == [2, 16, 8, 8]


def _nondense(net, blocks):
    """resnet_v1_test's stacker without output stride control."""
    for block in blocks:
        with slim.variable_scope(block.scope, "block", [net]):
            for i, unit in enumerate(block.args):
                with slim.variable_scope(f"unit_{i + 1}", values=[net]):
                    net = block.unit_fn(net, rate=1, **unit)
    return net


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_atrous_values_bottleneck(version):
    """Dense extraction by stack_blocks_dense then subsampling equals extraction at the nominal stride
    (odd and even input sizes), for every output stride."""
    block = resnet_v1.resnet_v1_block if version == "v1" else resnet_v2.resnet_v2_block
    blocks = [
        block("block1", base_depth=1, num_units=2, stride=2),
        block("block2", base_depth=2, num_units=2, stride=2),
        block("block3", base_depth=4, num_units=2, stride=2),
        block("block4", base_depth=8, num_units=2, stride=1),
    ]
    nominal_stride = 8
    rng = np.random.default_rng(1)
    for output_stride in [1, 2, 4, 8, None]:
        with slim.Graph().as_default():
            with (
                slim.arg_scope(resnet_utils.resnet_arg_scope()),
                slim.arg_scope([slim.batch_norm], is_training=False),
            ):
                inputs = _test_input(1, 30, 31, 3)
                output = resnet_utils.stack_blocks_dense(inputs, blocks, output_stride)
                factor = 1 if output_stride is None else nominal_stride // output_stride
                output = resnet_utils.subsample(output, factor)
                n_vars = len(slim.global_variables())
                slim.get_variable_scope().reuse_variables()
                expected = _nondense(inputs, blocks)
                assert len(slim.global_variables()) == n_vars  # the same weights
            with slim.Session() as sess:
                _set_realistic_values(sess, rng)
                got, want = sess.run([output, expected])
        assert got.shape == want.shape == (1, 4, 4, 32)
        assert np.abs(want).max() > 0.1
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_striding_last_unit_vs_subsample_block_end():
    """store_non_strided_activations moves each block's last stride after its end point: the final output
    is the same, and each intermediate end point is the undecimated version of the strided one."""
    block = resnet_v1.resnet_v1_block
    blocks = [
        block("block1", base_depth=1, num_units=2, stride=2),
        block("block2", base_depth=2, num_units=2, stride=2),
        block("block3", base_depth=4, num_units=2, stride=2),
        block("block4", base_depth=8, num_units=2, stride=1),
    ]
    rng = np.random.default_rng(2)
    for output_stride in [1, 2, 4, 8, None]:
        with slim.Graph().as_default():
            with (
                slim.arg_scope(resnet_utils.resnet_arg_scope()),
                slim.arg_scope([slim.batch_norm], is_training=False),
            ):
                inputs = _test_input(1, 30, 31, 3)
                output = resnet_utils.stack_blocks_dense(
                    inputs,
                    blocks,
                    output_stride,
                    store_non_strided_activations=False,
                    outputs_collections="output",
                )
                out_eps = slim.utils.convert_collection_to_dict("output")
                slim.get_variable_scope().reuse_variables()
                expected = resnet_utils.stack_blocks_dense(
                    inputs,
                    blocks,
                    output_stride,
                    store_non_strided_activations=True,
                    outputs_collections="expected",
                )
                exp_eps = slim.utils.convert_collection_to_dict("expected")
                pairs = []
                for i, b in enumerate(blocks[:-1]):
                    atrous = output_stride is not None and 2**i >= output_stride
                    e = exp_eps[b.scope] if atrous else resnet_utils.subsample(exp_eps[b.scope], 2)
                    pairs.append((out_eps[b.scope], e))
            with slim.Session() as sess:
                _set_realistic_values(sess, rng)
                got, want = sess.run([output, expected])
                np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
                for a, b in pairs:
                    va, vb = sess.run([a, b])
                    assert va.shape == vb.shape
                    np.testing.assert_allclose(va, vb, atol=1e-4, rtol=1e-4)


def test_unreachable_output_stride_raises():
    with slim.Graph().as_default():
        blocks = [resnet_v1.resnet_v1_block("block1", base_depth=1, num_units=2, stride=2)]
        with pytest.raises(errors.InvalidArgumentError, match="output_stride 3"):
            resnet_utils.stack_blocks_dense(_test_input(1, 8, 8, 3), blocks, 3)
        with pytest.raises(ValueError, match="multiple of 4"):
            _small_v1(_test_input(1, 64, 64, 3), output_stride=6)


@pytest.mark.parametrize("fn", [resnet_v1.resnet_v1_50, resnet_v2.resnet_v2_50])
def test_bad_inputs_name_the_network(fn):
    for shape in ([1, 224, 224], [1, 224, 224, None]):
        with (
            slim.Graph().as_default(),
            pytest.raises(errors.ShapeError, match=f"^{fn.__name__}: .*4-D input"),
        ):
            fn(slim.placeholder(slim.float32, shape), 10)
    with (
        slim.Graph().as_default(),
        pytest.raises(errors.ShapeError, match="unit/bottleneck_v1: .*got \\[2, 4, 4\\]"),
        slim.variable_scope("unit"),
    ):
        resnet_v1.bottleneck(slim.placeholder(slim.float32, [2, 4, 4]), 8, 2, 1)


def test_resnet_arg_scope_defaults():
    sc = resnet_utils.resnet_arg_scope()
    conv = sc[slim.arg_scope_func_key(slim.conv2d)]
    bn = sc[slim.arg_scope_func_key(slim.batch_norm)]
    assert conv["normalizer_fn"] is slim.batch_norm
    assert conv["activation_fn"] is slim.nn.relu
    assert conv["normalizer_params"] == bn
    assert bn["decay"] == 0.997 and bn["epsilon"] == 1e-5 and bn["scale"] is True
    assert bn["updates_collections"] == slim.GraphKeys.UPDATE_OPS
    assert sc[slim.arg_scope_func_key(slim.max_pool2d)]["padding"] == "SAME"
    assert (
        "normalizer_fn"
        in resnet_utils.resnet_arg_scope(use_batch_norm=False)[slim.arg_scope_func_key(slim.conv2d)]
    )
    assert (
        resnet_utils.resnet_arg_scope(use_batch_norm=False)[slim.arg_scope_func_key(slim.conv2d)][
            "normalizer_fn"
        ]
        is None
    )
    # weight decay: the L2 loss of every conv's weights, 0.0001 * sum(w^2) / 2
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope(weight_decay=0.01)):
            slim.conv2d(_test_input(1, 4, 4, 2), 3, [3, 3], scope="c")
        (loss,) = slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)
        (w,) = [v for v in slim.global_variables() if v.op.name == "c/weights"]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            lv, wv = sess.run([loss, w])
    np.testing.assert_allclose(lv, 0.01 * np.sum(wv.astype(np.float64) ** 2) / 2, rtol=1e-5)


# ------------------------------------------------------------------------------ small complete networks


def _small_expected_end_points(version, scope="resnet"):
    unit = f"bottleneck_{version}"
    expected = [f"{scope}/conv1"]
    for block in range(1, 5):
        for u in range(1, 4 if block < 4 else 3):
            expected += [f"{scope}/block{block}/unit_{u}/{unit}/conv{c}" for c in (1, 2, 3)]
            expected.append(f"{scope}/block{block}/unit_{u}/{unit}")
        expected.append(f"{scope}/block{block}/unit_1/{unit}/shortcut")
        expected.append(f"{scope}/block{block}")
    return expected + ["global_pool", f"{scope}/logits", f"{scope}/spatial_squeeze", "predictions"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_small_network_end_point_names_and_classification_shapes(version):
    net_fn = SMALL[version][0]
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            logits, end_points = net_fn(_test_input(2, 224, 224, 3), 10, scope="resnet")
        assert sorted(end_points) == sorted(_small_expected_end_points(version))
        assert logits.op.name == "resnet/SpatialSqueeze"
        assert _shape(logits) == [2, 10]
        assert _shape(end_points["predictions"]) == [2, 10]
        assert _shape(end_points["global_pool"]) == [2, 1, 1, 32]
        for name, shape in {
            "resnet/block1": [2, 28, 28, 4],
            "resnet/block2": [2, 14, 14, 8],
            "resnet/block3": [2, 7, 7, 16],
            "resnet/block4": [2, 7, 7, 32],
        }.items():
            assert _shape(end_points[name]) == shape, name


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_small_network_not_squeezed_and_without_batch_norm_scope(version):
    net_fn = SMALL[version][0]
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            logits, end_points = net_fn(
                _test_input(2, 224, 224, 3), 10, spatial_squeeze=False, is_training=None, scope="resnet"
            )
        assert logits.op.name.startswith("resnet/logits")
        assert _shape(logits) == [2, 1, 1, 10]
        assert _shape(end_points["predictions"]) == [2, 1, 1, 10]
        assert "resnet/spatial_squeeze" not in end_points
        # is_training=None leaves batch norm's own default (training): its updates are collected.
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) > 0


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(
    "size, kwargs, expected",
    [
        (321, {}, [41, 21, 11, 11]),  # fully convolutional
        (128, {"include_root_block": False}, [64, 32, 16, 16]),  # rootless
        (321, {"output_stride": 8}, [41, 41, 41, 41]),  # atrous
    ],
)
def test_small_network_fully_convolutional_shapes(version, size, kwargs, expected):
    net_fn = SMALL[version][0]
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            _, end_points = net_fn(
                _test_input(2, size, size, 3),
                10,
                global_pool=False,
                spatial_squeeze=False,
                scope="resnet",
                **kwargs,
            )
        for i, (hw, depth) in enumerate(zip(expected, [4, 8, 16, 32])):
            assert _shape(end_points[f"resnet/block{i + 1}"]) == [2, hw, hw, depth]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_small_network_atrous_values(version):
    """The whole network at output stride 4, 8, 16 then subsampled equals the nominal (32) network."""
    net_fn = SMALL[version][0]
    rng = np.random.default_rng(3)
    for output_stride in [4, 8, 16, 32, None]:
        with slim.Graph().as_default():
            with slim.arg_scope(resnet_utils.resnet_arg_scope()):
                inputs = _test_input(2, 81, 81, 3)
                output, _ = net_fn(
                    inputs, None, is_training=False, global_pool=False, output_stride=output_stride
                )
                factor = 1 if output_stride is None else 32 // output_stride
                output = resnet_utils.subsample(output, factor)
                slim.get_variable_scope().reuse_variables()
                expected, _ = net_fn(inputs, None, is_training=False, global_pool=False)
            with slim.Session() as sess:
                _set_realistic_values(sess, rng)
                got, want = sess.run([output, expected])
        assert got.shape == want.shape == (2, 3, 3, 32)
        assert np.abs(want).max() > 0.1
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_small_network_unknown_sizes(version):
    net_fn = SMALL[version][0]
    images = _grid(2, 65, 65, 3)
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            inputs = _test_input(None, 65, 65, 3)
            logits, _ = net_fn(inputs, 10, spatial_squeeze=False, scope="resnet")
            assert _shape(logits) == [None, 1, 1, 10]
            hw = _test_input(2, None, None, 3)
            dense, _ = net_fn(hw, None, global_pool=False, scope="fcn")
            atrous, _ = net_fn(hw, None, global_pool=False, output_stride=8, scope="atrous")
            assert _shape(dense) == _shape(atrous) == [2, None, None, 32]
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            assert sess.run(logits, {inputs: images}).shape == (2, 1, 1, 10)
            assert sess.run(dense, {hw: images}).shape == (2, 3, 3, 32)
            assert sess.run(atrous, {hw: images}).shape == (2, 9, 9, 32)


# ----------------------------------------------------------------------------------- the full networks

UNITS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}
ALL = [f"resnet_v{v}_{d}" for v in (1, 2) for d in (50, 101, 152, 200)]


def _expected_counts(version, depth, num_classes):
    """(trainable, model-variable) parameter counts from the architecture.

    v1: conv1 7x7x3x64 + BN, then per unit 1x1 / 3x3 / 1x1 convs each with BN (beta, gamma) and a 1x1
    BN'd projection shortcut in each block's first unit. v2: conv1 with biases and no BN; per unit a
    'preact' BN on the input, conv1/conv2 with BN, conv3 and the projection shortcut with biases; a final
    'postnorm' BN. Logits: 1x1 conv with biases. Each BN adds moving mean and variance (non-trainable).
    """
    trainable = bn = 0
    if version == 1:
        trainable += 7 * 7 * 3 * 64
        bn += 64
    else:
        trainable += 7 * 7 * 3 * 64 + 64
    cin = 64
    for units, base in zip(UNITS[depth], (64, 128, 256, 512)):
        out = 4 * base
        for u in range(units):
            if version == 2:
                bn += cin  # preact
            if u == 0:  # projection shortcut
                trainable += cin * out + (out if version == 2 else 0)
                bn += out if version == 1 else 0
            trainable += cin * base + 9 * base * base + base * out
            bn += base + base + (out if version == 1 else 0)
            trainable += out if version == 2 else 0  # conv3 biases
            cin = out
    if version == 2:
        bn += cin  # postnorm
    trainable += 2 * bn + cin * num_classes + num_classes
    return trainable, trainable + 2 * bn


def test_expected_counts_match_published_resnet_figures():
    # torchvision's ResNet-50/101/152 (the same v1 bottleneck architecture, 1000 classes).
    assert _expected_counts(1, 50, 1000)[0] == 25_557_032
    assert _expected_counts(1, 101, 1000)[0] == 44_549_160
    assert _expected_counts(1, 152, 1000)[0] == 60_192_808


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_full_network_build_variables_and_parameter_counts(name):
    version, depth = int(name[8]), int(name.split("_")[-1])
    module = resnet_v1 if version == 1 else resnet_v2
    fn = getattr(module, name)
    assert fn.default_image_size == 224
    with slim.Graph().as_default():
        with slim.arg_scope(module.resnet_arg_scope()):
            logits, end_points = fn(slim.placeholder(slim.float32, [2, 224, 224, 3]), 1001)
        trainable, total = _expected_counts(version, depth, 1001)
        assert _num_params(slim.trainable_variables()) == trainable
        assert _num_params(slim.get_model_variables()) == total
        assert _shape(logits) == [2, 1001]
        assert logits.op.name == f"{name}/SpatialSqueeze"
        unit = f"bottleneck_v{version}"
        shapes = {
            "block1": [2, 28, 28, 256],
            "block2": [2, 14, 14, 512],
            "block3": [2, 7, 7, 1024],
            "block4": [2, 7, 7, 2048],
        }
        for block, shape in shapes.items():
            assert _shape(end_points[f"{name}/{block}"]) == shape
        n_units = sum(UNITS[depth])
        assert len([k for k in end_points if k.endswith(f"/{unit}")]) == n_units
        assert _shape(end_points[f"{name}/block1/unit_1/{unit}/shortcut"]) == [2, 56, 56, 256]
        assert _shape(end_points["global_pool"]) == [2, 1, 1, 2048]
        assert _shape(end_points[f"{name}/logits"]) == [2, 1, 1, 1001]
        assert _shape(end_points["predictions"]) == [2, 1001]
        variables = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert variables[f"{name}/conv1/weights"] == [7, 7, 3, 64]
        assert variables[f"{name}/block1/unit_1/{unit}/shortcut/weights"] == [1, 1, 64, 256]
        assert variables[f"{name}/block4/unit_3/{unit}/conv2/weights"] == [3, 3, 512, 512]
        assert variables[f"{name}/logits/weights"] == [1, 1, 2048, 1001]
        assert variables[f"{name}/logits/biases"] == [1001]
        if version == 1:
            assert f"{name}/conv1/BatchNorm/gamma" in variables
            assert f"{name}/block1/unit_1/{unit}/shortcut/BatchNorm/moving_variance" in variables
        else:
            assert f"{name}/conv1/biases" in variables and f"{name}/conv1/BatchNorm/beta" not in variables
            assert variables[f"{name}/block1/unit_1/{unit}/preact/gamma"] == [64]
            assert variables[f"{name}/block1/unit_1/{unit}/conv3/biases"] == [256]
            assert variables[f"{name}/postnorm/moving_mean"] == [2048]
        n_convs = 1 + 3 * n_units + 4 + 1
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == n_convs


def test_resnet_v1_depth_multiplier_and_min_base_depth():
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            inputs = _test_input(2, 224, 224, 3)
            _, base = resnet_v1.resnet_v1_50(inputs, 10, min_base_depth=1, scope="base")
            _, thin = resnet_v1.resnet_v1_50(
                inputs, 10, min_base_depth=1, depth_multiplier=0.25, scope="thin"
            )
            _, floor = resnet_v1.resnet_v1_50(inputs, 10, min_base_depth=5, depth_multiplier=0, scope="floor")
        for block in ("block1", "block2", "block3", "block4"):
            b, t, f = (
                _shape(ep[f"{s}/{block}"]) for ep, s in ((base, "base"), (thin, "thin"), (floor, "floor"))
            )
            assert b[:3] == t[:3] and t[3] == int(0.25 * b[3])
            assert f[3] == 5 * 4


def test_resnet_reuse_shares_variables():
    with slim.Graph().as_default():
        with slim.arg_scope(resnet_utils.resnet_arg_scope()):
            a, _ = _small_v2(_test_input(2, 64, 64, 3), 10, scope="net")
            n = len(slim.global_variables())
            b, _ = _small_v2(_test_input(1, 64, 64, 3), 10, is_training=False, reuse=True, scope="net")
        assert len(slim.global_variables()) == n
        assert _shape(a) == [2, 10] and _shape(b) == [1, 10]


# ---------------------------------------------------------------------------------- ONNX and training


def _ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_onnx_export_matches_session(name):
    """Inference export at 32x32: the full checker passes and ONNX Runtime computes what slim.Session does.
    The 50-layer nets embed their weights; the deeper ones are exported with the weights as graph inputs
    (build_model(weights=False)) and fed the session's values, which keeps this test fast."""
    rng = np.random.default_rng(4)
    xv = rng.uniform(-1.0, 1.0, (2, 32, 32, 3)).astype(np.float32)
    embed = name.endswith("_50")
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [None, 32, 32, 3], name="images")
        logits, _ = nets_factory.get_network_fn(name, 10, is_training=False)(images)
        with slim.Session() as sess:
            _set_realistic_values(sess, rng)
            expected = sess.run(logits, {images: xv})
            model = build_model(logits, session=sess, weights=embed)
            values = {v.op.name: sess.variable_value(v) for v in slim.global_variables()}
    onnx.checker.check_model(model, full_check=True)
    assert any(n.name.startswith(f"{name}/block3/unit_2/") for n in model.graph.node)
    feeds = {"images": xv}
    if not embed:
        for i in model.graph.input[1:]:
            feeds[i.name] = values[i.name]
        assert len(feeds) > 100
    actual = _ort_run(model, feeds)
    assert actual.shape == expected.shape == (2, 10)
    assert 0.1 < np.abs(expected).max() < 1e4
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet_v1_50", "resnet_v2_50"])
def test_training_steps_reduce_the_loss(name):
    """Loss + weight decay, momentum, create_train_op with the batch-norm update ops: 3 steps on one random
    batch lower the loss, and the moving statistics move."""
    rng = np.random.default_rng(5)
    with slim.Graph().as_default():
        slim.set_random_seed(0)
        x = slim.placeholder(slim.float32, [4, 64, 64, 3], name="images")
        y = slim.placeholder(slim.int64, [4], name="labels")
        logits, _ = nets_factory.get_network_fn(name, 10, weight_decay=1e-4, is_training=True)(x)
        slim.losses.sparse_softmax_cross_entropy(logits, y)
        total = slim.losses.get_total_loss()
        update_ops = slim.get_collection(slim.GraphKeys.UPDATE_OPS)
        bn_layers = len([v for v in slim.global_variables() if v.op.name.endswith("moving_mean")])
        assert len(update_ops) == 2 * bn_layers
        train_op = slim.learning.create_train_op(total, slim.train.MomentumOptimizer(0.001, 0.9))
        moving = [v for v in slim.global_variables() if v.op.name.endswith("moving_mean")]
        feed = {x: rng.uniform(-1, 1, (4, 64, 64, 3)).astype(np.float32), y: rng.integers(0, 10, 4)}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            losses = [float(sess.run(train_op, feed)) for _ in range(3)]
            moved = [np.abs(sess.run(v)).max() for v in moving]
    assert all(np.isfinite(losses))
    assert losses[0] > losses[1] > losses[2], losses
    assert min(moved) > 0.0  # every batch norm's moving mean was updated from its zero initial value
