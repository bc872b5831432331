"""Graph-construction tests for slimir's TF-Slim layers: static shapes, variable names/shapes, scopes,
collections and bad-input errors, checked against TF-Slim 1.1.0 behaviour (tf_slim/layers/layers.py)."""

import numpy as np
import pytest

import slimir as slim
from slimir import errors

# ----------------------------------------------------------------------------------------------- helpers


def _ph(shape, name="x"):
    return slim.placeholder(slim.float32, shape, name=name)


def _shape(t):
    return t.shape.as_list()


def _names(key):
    return [v.op.name for v in slim.get_collection(key)]


def _var(name):
    """The global variable whose op name is `name` (exactly one must exist)."""
    found = [v for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) if v.op.name == name]
    assert len(found) == 1, (name, _names(slim.GraphKeys.GLOBAL_VARIABLES))
    return found[0]


def _var_shapes():
    return {v.op.name: v.shape.as_list() for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES)}


def _check_slimir_value_error(excinfo, *fragments):
    err = excinfo.value
    assert isinstance(err, errors.SlimirError), type(err)
    assert isinstance(err, ValueError), type(err)
    msg = str(err)
    for frag in fragments:
        assert frag in msg, (frag, msg)


# ------------------------------------------------------------------------------------------------ conv2d


def test_conv2d_default_scope_variables_and_shape():
    with slim.Graph().as_default():
        x = _ph([5, 7, 9, 4])
        y = slim.conv2d(x, 32, [3, 3])
        assert _shape(y) == [5, 7, 9, 32]
        assert y.op.name.startswith("Conv/")
        assert _var_shapes() == {"Conv/weights": [3, 3, 4, 32], "Conv/biases": [32]}
        assert _var("Conv/weights").name == "Conv/weights:0"
        # A second unnamed layer gets a uniquified default scope.
        y2 = slim.conv2d(y, 8, [1, 1])
        assert y2.op.name.startswith("Conv_1/")
        assert _var("Conv_1/weights").shape.as_list() == [1, 1, 32, 8]
        assert _var("Conv_1/biases").shape.as_list() == [8]


def test_conv2d_collections():
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        slim.conv2d(x, 16, [3, 3], scope="conv1")
        expected = ["conv1/weights", "conv1/biases"]
        assert sorted(_names(slim.GraphKeys.MODEL_VARIABLES)) == sorted(expected)
        assert sorted(_names(slim.GraphKeys.TRAINABLE_VARIABLES)) == sorted(expected)
        assert sorted(_names(slim.GraphKeys.GLOBAL_VARIABLES)) == sorted(expected)
        assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
        assert sorted(v.op.name for v in slim.get_model_variables()) == sorted(expected)
        assert [v.op.name for v in slim.get_variables("conv1/weights")] == ["conv1/weights"]
        assert [v.op.name for v in slim.get_variables_by_name("biases")] == ["conv1/biases"]


@pytest.mark.parametrize(
    "in_shape, args, kwargs, out_shape, w_shape",
    [
        # TF-Slim's documented/tested shapes.
        ([5, 6, 8, 3], (32, [3, 3]), {"stride": 2}, [5, 3, 4, 32], [3, 3, 3, 32]),
        ([5, 7, 9, 3], (32, [3, 3]), {"padding": "VALID"}, [5, 5, 7, 32], [3, 3, 3, 32]),
        ([5, 7, 9, 3], (32, 3), {}, [5, 7, 9, 32], [3, 3, 3, 32]),
        ([5, 7, 9, 4], (32, [3, 1]), {}, [5, 7, 9, 32], [3, 1, 4, 32]),
        ([5, 7, 9, 4], (32, [1, 3]), {}, [5, 7, 9, 32], [1, 3, 4, 32]),
        ([5, 7, 9, 32], (64, [7, 9]), {"padding": "VALID"}, [5, 1, 1, 64], [7, 9, 32, 64]),
        ([5, 10, 12, 3], (32, [3, 3]), {"rate": 2, "padding": "SAME"}, [5, 10, 12, 32], [3, 3, 3, 32]),
        ([5, 10, 12, 3], (32, [3, 3]), {"rate": 2, "padding": "VALID"}, [5, 6, 8, 32], [3, 3, 3, 32]),
        ([5, 10, 12, 3], (32, [3, 3]), {"rate": [2, 3], "padding": "VALID"}, [5, 6, 6, 32], [3, 3, 3, 32]),
        ([5, 9, 11, 3], (32, [3, 3]), {"rate": 2, "padding": "VALID"}, [5, 5, 7, 32], [3, 3, 3, 32]),
        ([5, 7, 9, 3], (32, [3, 3]), {"stride": [2, 3]}, [5, 4, 3, 32], [3, 3, 3, 32]),
        ([5, 7, 9, 3], (32, [3, 3]), {"stride": 3, "padding": "VALID"}, [5, 2, 3, 32], [3, 3, 3, 32]),
        # Channels-first: weights stay [kh, kw, in, out].
        ([5, 4, 7, 9], (32, [3, 3]), {"data_format": "NCHW"}, [5, 32, 7, 9], [3, 3, 4, 32]),
        (
            [2, 3, 9, 11],
            (8, [3, 3]),
            {"stride": 2, "padding": "VALID", "data_format": "NCHW"},
            [2, 8, 4, 5],
            [3, 3, 3, 8],
        ),
        # Unknown dims propagate as None.
        ([None, 28, 28, 1], (32, [5, 5]), {}, [None, 28, 28, 32], [5, 5, 1, 32]),
        ([None, None, None, 3], (32, [3, 3]), {"padding": "VALID"}, [None, None, None, 32], [3, 3, 3, 32]),
        ([None, 3, None, None], (32, [3, 3]), {"data_format": "NCHW"}, [None, 32, None, None], [3, 3, 3, 32]),
    ],
)
def test_conv2d_output_and_weight_shapes(in_shape, args, kwargs, out_shape, w_shape):
    with slim.Graph().as_default():
        y = slim.conv2d(_ph(in_shape), *args, scope="conv", **kwargs)
        assert _shape(y) == out_shape
        assert _var("conv/weights").shape.as_list() == w_shape
        assert _var("conv/biases").shape.as_list() == [w_shape[-1]]


def test_conv2d_without_biases_and_with_normalizer():
    with slim.Graph().as_default():
        x = _ph([5, 7, 9, 32])
        slim.conv2d(x, 16, [3, 3], biases_initializer=None, scope="nobias")
        assert sorted(_var_shapes()) == ["nobias/weights"]
    with slim.Graph().as_default():
        x = _ph([5, 7, 9, 32])
        net = slim.conv2d(x, 32, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params={"decay": 0.9})
        net = slim.conv2d(net, 32, [3, 3], normalizer_fn=slim.batch_norm, normalizer_params={"scale": True})
        assert _shape(net) == [5, 7, 9, 32]
        # The normalizer replaces the biases.
        assert sorted(_var_shapes()) == sorted(
            [
                "Conv/weights",
                "Conv/BatchNorm/beta",
                "Conv/BatchNorm/moving_mean",
                "Conv/BatchNorm/moving_variance",
                "Conv_1/weights",
                "Conv_1/BatchNorm/beta",
                "Conv_1/BatchNorm/gamma",
                "Conv_1/BatchNorm/moving_mean",
                "Conv_1/BatchNorm/moving_variance",
            ]
        )
        assert len(slim.get_variables("Conv/BatchNorm")) == 3
        assert len(slim.get_variables("Conv_1/BatchNorm")) == 4
        assert len(slim.get_collection(slim.GraphKeys.UPDATE_OPS)) == 4


def test_conv2d_trainable_false():
    with slim.Graph().as_default():
        slim.conv2d(_ph([2, 8, 8, 3]), 4, [3, 3], trainable=False, scope="frozen")
        assert sorted(_names(slim.GraphKeys.MODEL_VARIABLES)) == ["frozen/biases", "frozen/weights"]
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == []


def test_conv2d_regularizers_go_to_regularization_losses():
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        slim.conv2d(x, 4, [3, 3], weights_regularizer=slim.l2_regularizer(0.01), scope="c1")
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 1
        slim.conv2d(
            x,
            4,
            [3, 3],
            weights_regularizer=slim.l2_regularizer(0.01),
            biases_regularizer=slim.l2_regularizer(0.01),
            scope="c2",
        )
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 3
        # Reusing the variables does not add the regularization loss again.
        slim.conv2d(x, 4, [3, 3], weights_regularizer=slim.l2_regularizer(0.01), scope="c1", reuse=True)
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 3
        assert len(slim.get_variables()) == 4


def test_conv2d_reuse_and_non_reuse():
    with slim.Graph().as_default():
        x = _ph([5, 7, 9, 3])
        slim.conv2d(x, 32, [3, 3], scope="conv1")
        assert len(slim.get_variables()) == 2
        y = slim.conv2d(x, 32, [3, 3], scope="conv1", reuse=True)
        assert len(slim.get_variables()) == 2
        assert _shape(y) == [5, 7, 9, 32]
        slim.conv2d(x, 32, [3, 3])
        slim.conv2d(x, 32, [3, 3])
        assert len(slim.get_variables()) == 6


def test_conv2d_variables_collections_list_and_dict():
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        slim.conv2d(x, 4, [3, 3], variables_collections=["my_vars"], scope="a")
        assert sorted(_names("my_vars")) == ["a/biases", "a/weights"]
        slim.conv2d(
            x, 4, [3, 3], variables_collections={"weights": ["only_w"], "biases": ["only_b"]}, scope="b"
        )
        assert _names("only_w") == ["b/weights"]
        assert _names("only_b") == ["b/biases"]
        # Still model variables.
        assert "b/weights" in _names(slim.GraphKeys.MODEL_VARIABLES)


def test_outputs_collections_aliases():
    with slim.Graph().as_default():
        x = _ph([5, 8, 8, 3])
        with slim.variable_scope("net"):
            c = slim.conv2d(x, 4, [3, 3], outputs_collections="outs", scope="conv1")
            p = slim.max_pool2d(c, [2, 2], outputs_collections="outs", scope="pool1")
            f = slim.flatten(p, outputs_collections="outs")
            fc = slim.fully_connected(f, 7, outputs_collections="outs", scope="fc")
        d = slim.utils.convert_collection_to_dict("outs")
        assert list(d.keys()) == ["net/conv1", "net/pool1", "net/Flatten", "net/fc"]
        assert d["net/conv1"].name == c.name
        assert d["net/pool1"].name == p.name
        assert d["net/Flatten"].name == f.name
        assert d["net/fc"].name == fc.name
        assert [t.name for t in slim.get_collection("outs")] == [c.name, p.name, f.name, fc.name]


def test_outputs_collections_alias_ignores_enclosing_name_scope():
    # Variable-scoped layers use the variable scope's name as alias, not the name scope (TF-Slim).
    with slim.Graph().as_default():
        x = _ph([5, 7, 9, 3])
        with slim.name_scope("fe"):
            conv = slim.conv2d(x, 32, [3, 3], outputs_collections="outputs", scope="Conv")
            fc = slim.fully_connected(slim.flatten(x), 7, outputs_collections="outputs", scope="fc")
        d = slim.utils.convert_collection_to_dict("outputs")
        assert list(d.keys()) == ["Conv", "fc"]
        assert d["Conv"].name == conv.name
        assert d["fc"].name == fc.name


@pytest.mark.parametrize(
    "layer, args, alias",
    [
        ("avg_pool2d", ([3, 3],), "AvgPool2D"),
        ("max_pool2d", ([3, 3],), "MaxPool2D"),
        ("dropout", (), "Dropout"),
        ("flatten", (), "Flatten"),
        ("bias_add", (), "BiasAdd"),
        ("batch_norm", (), "BatchNorm"),
        ("layer_norm", (), "LayerNorm"),
        ("conv2d", (4, [3, 3]), "Conv"),
        ("conv2d_transpose", (4, [3, 3]), "Conv2d_transpose"),
        ("separable_conv2d", (4, [3, 3], 2), "SeparableConv2d"),
        ("conv2d_in_plane", ([3, 3],), "ConvInPlane"),
    ],
)
def test_default_scope_used_as_alias(layer, args, alias):
    with slim.Graph().as_default():
        x = _ph([5, 3, 6, 3])
        y = getattr(slim, layer)(x, *args, outputs_collections="outputs")
        d = slim.utils.convert_collection_to_dict("outputs")
        assert list(d.keys()) == [alias]
        assert d[alias].name == y.name
        assert y.op.name.startswith(alias + "/")


def test_one_hot_encoding_alias():
    with slim.Graph().as_default():
        labels = slim.constant(np.array([0, 1, 2], np.int32))
        y = slim.one_hot_encoding(labels, num_classes=3, outputs_collections="outputs")
        assert list(slim.utils.convert_collection_to_dict("outputs").keys()) == ["OneHotEncoding"]
        assert y.op.name.startswith("OneHotEncoding/")


# -------------------------------------------------------------------------------------- conv2d_transpose


@pytest.mark.parametrize(
    "in_shape, num_outputs, kernel, kwargs, out_shape",
    [
        ([5, 10, 12, 3], 32, [3, 3], {"stride": 1, "padding": "SAME"}, [5, 10, 12, 32]),
        ([5, 10, 12, 3], 32, [3, 3], {"stride": 1, "padding": "VALID"}, [5, 12, 14, 32]),
        ([5, 9, 11, 3], 32, [3, 3], {"stride": [2, 2], "padding": "VALID"}, [5, 19, 23, 32]),
        ([5, 9, 11, 3], 32, [3, 3], {"stride": 2, "padding": "SAME"}, [5, 18, 22, 32]),
        ([1, 1, 1, 1], 1, [2, 2], {"stride": [2, 2], "padding": "SAME"}, [1, 2, 2, 1]),
        ([1, 1, 1, 1], 1, [2, 2], {"stride": [2, 2], "padding": "VALID"}, [1, 2, 2, 1]),
        ([1, 2, 2, 1], 1, [2, 2], {"stride": [2, 2], "padding": "SAME"}, [1, 4, 4, 1]),
        ([1, 2, 2, 1], 1, [2, 2], {"stride": [2, 2], "padding": "VALID"}, [1, 4, 4, 1]),
        ([1, 3, 2, 1], 1, [2, 4], {"stride": [2, 1], "padding": "VALID"}, [1, 6, 5, 1]),
        ([1, 3, 2, 1], 1, [2, 4], {"stride": [2, 4], "padding": "VALID"}, [1, 6, 8, 1]),
        ([1, 3, 2, 1], 1, [2, 4], {"stride": [2, 5], "padding": "VALID"}, [1, 6, 10, 1]),
        ([None, 9, 11, 3], 32, [3, 3], {"stride": 2, "padding": "VALID"}, [None, 19, 23, 32]),
        ([None, None, None, 3], 32, [3, 3], {"stride": 2, "padding": "VALID"}, [None, None, None, 32]),
        # Channels-first.
        (
            [5, 3, 10, 12],
            32,
            [3, 3],
            {"stride": 1, "padding": "SAME", "data_format": "NCHW"},
            [5, 32, 10, 12],
        ),
        (
            [5, 3, 10, 12],
            32,
            [3, 3],
            {"stride": 1, "padding": "VALID", "data_format": "NCHW"},
            [5, 32, 12, 14],
        ),
        (
            [5, 3, 9, 11],
            32,
            [3, 3],
            {"stride": [2, 2], "padding": "VALID", "data_format": "NCHW"},
            [5, 32, 19, 23],
        ),
        (
            [1, 1, 3, 2],
            1,
            [2, 4],
            {"stride": [2, 5], "padding": "VALID", "data_format": "NCHW"},
            [1, 1, 6, 10],
        ),
    ],
)
def test_conv2d_transpose_shapes(in_shape, num_outputs, kernel, kwargs, out_shape):
    with slim.Graph().as_default():
        y = slim.conv2d_transpose(_ph(in_shape), num_outputs, kernel, **kwargs)
        assert _shape(y) == out_shape
        assert y.op.name.startswith("Conv2d_transpose/")
        in_ch = in_shape[1] if kwargs.get("data_format") == "NCHW" else in_shape[3]
        # Transposed-conv kernels are [kh, kw, out, in].
        assert _var_shapes() == {
            "Conv2d_transpose/weights": list(kernel) + [num_outputs, in_ch],
            "Conv2d_transpose/biases": [num_outputs],
        }


def test_conv2d_transpose_scope_trainable_and_no_bias():
    with slim.Graph().as_default():
        x = _ph([5, 9, 11, 3])
        y = slim.conv2d_transpose(x, 32, [3, 3], stride=2, padding="VALID", scope="conv7")
        assert y.op.name.startswith("conv7/")
        assert _shape(y) == [5, 19, 23, 32]
        slim.conv2d_transpose(x, 8, [3, 3], trainable=False, biases_initializer=None, scope="frozen")
        assert "frozen/weights" in _names(slim.GraphKeys.MODEL_VARIABLES)
        assert "frozen/weights" not in _names(slim.GraphKeys.TRAINABLE_VARIABLES)
        assert "frozen/biases" not in _var_shapes()
        assert sorted(_names(slim.GraphKeys.TRAINABLE_VARIABLES)) == ["conv7/biases", "conv7/weights"]


# -------------------------------------------------------------------------------------- separable_conv2d


def test_separable_conv2d_variables_and_shape():
    with slim.Graph().as_default():
        y = slim.separable_conv2d(_ph([5, 3, 3, 3]), 32, [3, 3], 2)
        assert _shape(y) == [5, 3, 3, 32]
        assert y.op.name.startswith("SeparableConv2d/")
        assert _var_shapes() == {
            "SeparableConv2d/depthwise_weights": [3, 3, 3, 2],
            "SeparableConv2d/pointwise_weights": [1, 1, 6, 32],
            "SeparableConv2d/biases": [32],
        }
        assert sorted(_names(slim.GraphKeys.MODEL_VARIABLES)) == sorted(_var_shapes())
        assert sorted(_names(slim.GraphKeys.TRAINABLE_VARIABLES)) == sorted(_var_shapes())


def test_separable_conv2d_depthwise_only_when_num_outputs_is_none():
    with slim.Graph().as_default():
        y = slim.separable_conv2d(_ph([5, 3, 3, 3]), None, [3, 3], depth_multiplier=4, scope="conv1")
        assert _shape(y) == [5, 3, 3, 12]
        assert y.op.name.startswith("conv1/")
        assert _var_shapes() == {"conv1/depthwise_weights": [3, 3, 3, 4], "conv1/biases": [12]}


@pytest.mark.parametrize(
    "in_shape, num_outputs, kwargs, out_shape",
    [
        ([5, 3, 3, 3], 32, {"padding": "VALID"}, [5, 1, 1, 32]),
        ([5, 5, 5, 3], 32, {"padding": "VALID", "rate": 2}, [5, 1, 1, 32]),
        ([5, 3, 3, 3], None, {"padding": "VALID"}, [5, 1, 1, 6]),
        ([5, 5, 5, 3], None, {"padding": "VALID", "rate": 2}, [5, 1, 1, 6]),
        ([None, 10, 12, 3], 8, {"stride": 2}, [None, 5, 6, 8]),
        ([4, 3, 10, 12], None, {"stride": 2, "padding": "VALID", "data_format": "NCHW"}, [4, 6, 4, 5]),
        ([4, 3, 10, 12], 5, {"stride": 2, "padding": "VALID", "data_format": "NCHW"}, [4, 5, 4, 5]),
    ],
)
def test_separable_conv2d_shapes(in_shape, num_outputs, kwargs, out_shape):
    with slim.Graph().as_default():
        y = slim.separable_conv2d(_ph(in_shape), num_outputs, [3, 3], 2, scope="sep", **kwargs)
        assert _shape(y) == out_shape
        in_ch = in_shape[1] if kwargs.get("data_format") == "NCHW" else in_shape[3]
        assert _var("sep/depthwise_weights").shape.as_list() == [3, 3, in_ch, 2]
        if num_outputs is None:
            assert "sep/pointwise_weights" not in _var_shapes()
            assert _var("sep/biases").shape.as_list() == [in_ch * 2]
        else:
            assert _var("sep/pointwise_weights").shape.as_list() == [1, 1, in_ch * 2, num_outputs]
            assert _var("sep/biases").shape.as_list() == [num_outputs]


def test_separable_conv2d_regularizer_covers_both_kernels_and_trainable_flag():
    with slim.Graph().as_default():
        x = _ph([5, 3, 3, 3])
        slim.separable_conv2d(x, 32, [3, 3], 2, weights_regularizer=slim.l2_regularizer(0.01), scope="c1")
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 2
        slim.separable_conv2d(
            x, 32, [3, 3], 2, weights_regularizer=slim.l2_regularizer(0.01), scope="c1", reuse=True
        )
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 2
    for num_outputs in (None, 8):
        with slim.Graph().as_default():
            slim.separable_conv2d(_ph([5, 10, 12, 3]), num_outputs, [3, 3], 1, trainable=False)
            assert len(slim.get_model_variables()) == (2 if num_outputs is None else 3)
            assert slim.get_collection(slim.GraphKeys.TRAINABLE_VARIABLES) == []


def test_separable_conv2d_with_batch_norm_variables_collections():
    with slim.Graph().as_default():
        params = {
            "variables_collections": {
                k: ["bn_vars"] for k in ("beta", "gamma", "moving_mean", "moving_variance")
            }
        }
        net = slim.separable_conv2d(
            _ph([5, 3, 3, 3]),
            8,
            [3, 3],
            2,
            normalizer_fn=slim.batch_norm,
            normalizer_params=params,
            scope="conv1",
        )
        slim.separable_conv2d(
            net, 32, [3, 3], 2, normalizer_fn=slim.batch_norm, normalizer_params=params, scope="conv2"
        )
        assert len(slim.get_collection("bn_vars")) == 6
        assert len(slim.get_variables("conv1/BatchNorm")) == 3
        assert len(slim.get_variables("conv2/BatchNorm")) == 3
        assert "conv1/biases" not in _var_shapes()


# -------------------------------------------------------------------------------------- conv2d_in_plane


def test_conv2d_in_plane_shapes_and_variables():
    with slim.Graph().as_default():
        y = slim.conv2d_in_plane(_ph([5, 10, 10, 7]), kernel_size=[1, 2], padding="VALID", scope="grad")
        assert _shape(y) == [5, 10, 9, 7]
        assert _var_shapes() == {"grad/weights": [1, 2, 1, 1], "grad/biases": [7]}
    with slim.Graph().as_default():
        y = slim.conv2d_in_plane(_ph([None, 10, 10, 3]), [3, 3])
        assert _shape(y) == [None, 10, 10, 3]
        assert y.op.name.startswith("ConvInPlane/")
        assert _var_shapes() == {"ConvInPlane/weights": [3, 3, 1, 1], "ConvInPlane/biases": [3]}
    with slim.Graph().as_default():
        y = slim.conv2d_in_plane(_ph([2, 9, 9, 3]), [2, 1], stride=2, padding="VALID")
        assert _shape(y) == [2, 4, 5, 3]


# -------------------------------------------------------------------------------------- fully_connected


def test_fully_connected_default_scope_and_shapes():
    with slim.Graph().as_default():
        y = slim.fully_connected(_ph([5, 27]), 32)
        assert _shape(y) == [5, 32]
        assert y.op.name.startswith("fully_connected/")
        assert _var_shapes() == {"fully_connected/weights": [27, 32], "fully_connected/biases": [32]}
        y2 = slim.fully_connected(y, 10, activation_fn=None)
        assert y2.op.name.startswith("fully_connected_1/")
        assert _var("fully_connected_1/weights").shape.as_list() == [32, 10]
        assert len(slim.get_variables("fully_connected")) == 4  # prefix match, as in TF-Slim


@pytest.mark.parametrize(
    "in_shape, out_shape",
    [
        ([None, 27], [None, 32]),
        ([2, 5, 7], [2, 5, 32]),  # rank 3: applied to the last axis
        ([None, 5, 7], [None, 5, 32]),
        ([None, None, 7], [None, None, 32]),
        ([2, 3, 4, 7], [2, 3, 4, 32]),
    ],
)
def test_fully_connected_works_on_last_axis(in_shape, out_shape):
    with slim.Graph().as_default():
        y = slim.fully_connected(_ph(in_shape), 32, scope="fc")
        assert _shape(y) == out_shape
        assert _var_shapes() == {"fc/weights": [in_shape[-1], 32], "fc/biases": [32]}


def test_fully_connected_normalizer_regularizers_trainable():
    with slim.Graph().as_default():
        x = _ph([5, 27])
        with slim.arg_scope(
            [slim.fully_connected], normalizer_fn=slim.batch_norm, normalizer_params={"decay": 0.9}
        ):
            net = slim.fully_connected(x, 27)
            net = slim.fully_connected(net, 27)
        assert _shape(net) == [5, 27]
        assert len(slim.get_variables()) == 8
        assert len(slim.get_variables("fully_connected/BatchNorm")) == 3
        assert len(slim.get_variables("fully_connected_1/BatchNorm")) == 3
        assert "fully_connected/biases" not in _var_shapes()
    with slim.Graph().as_default():
        x = _ph([5, 27])
        slim.fully_connected(x, 32, weights_regularizer=slim.l2_regularizer(0.01), scope="FC")
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 1
        slim.fully_connected(x, 32, weights_regularizer=slim.l2_regularizer(0.01), scope="FC", reuse=True)
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 1
        assert len(slim.get_variables()) == 2
        slim.fully_connected(x, 3, biases_initializer=None, trainable=False, scope="frozen")
        assert "frozen/biases" not in _var_shapes()
        assert "frozen/weights" in _names(slim.GraphKeys.MODEL_VARIABLES)
        assert "frozen/weights" not in _names(slim.GraphKeys.TRAINABLE_VARIABLES)


# ----------------------------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("pool, prefix", [("max_pool2d", "MaxPool2D"), ("avg_pool2d", "AvgPool2D")])
@pytest.mark.parametrize(
    "in_shape, args, kwargs, out_shape",
    [
        ([5, 3, 6, 3], ([3, 3],), {}, [5, 1, 2, 3]),  # default stride 2, VALID
        ([5, 3, 6, 3], (3,), {}, [5, 1, 2, 3]),
        ([5, 2, 3, 6], ([3, 3],), {"data_format": "NCHW"}, [5, 2, 1, 2]),
        ([5, 3, 6, 3], ([3, 3],), {"padding": "SAME"}, [5, 2, 3, 3]),
        ([5, 3, 3, 6], ([3, 3],), {"padding": "SAME", "data_format": "NCHW"}, [5, 3, 2, 3]),
        ([5, 3, 6, 3], ([3, 3],), {"stride": 1, "padding": "SAME"}, [5, 3, 6, 3]),
        ([5, 3, 6, 3], ([3, 6],), {"stride": 1}, [5, 1, 1, 3]),  # global pooling
        ([None, 28, 28, 32], ([2, 2],), {}, [None, 14, 14, 32]),
        ([None, 7, 7, 8], ([2, 2],), {"padding": "SAME"}, [None, 4, 4, 8]),
        ([None, 7, 7, 8], ([2, 2],), {}, [None, 3, 3, 8]),
        ([2, 9, 8, 1], ([3, 2],), {"stride": [3, 2]}, [2, 3, 4, 1]),
    ],
)
def test_pool_shapes(pool, prefix, in_shape, args, kwargs, out_shape):
    with slim.Graph().as_default():
        y = getattr(slim, pool)(_ph(in_shape), *args, **kwargs)
        assert _shape(y) == out_shape
        assert y.op.name.startswith(prefix + "/")
        assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == []


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d"])
def test_pool_scope(pool):
    with slim.Graph().as_default():
        y = getattr(slim, pool)(_ph([5, 3, 6, 3]), [3, 3], scope="pool1")
        assert y.op.name.startswith("pool1/")


# ------------------------------------------------------------------------------------ dropout / flatten


def test_dropout_shapes_scope_and_no_variables():
    with slim.Graph().as_default():
        x = _ph([5, 3, 3, 3])
        y = slim.dropout(x)
        assert _shape(y) == [5, 3, 3, 3]
        assert y.op.name.startswith("Dropout/")
        y2 = slim.dropout(_ph([None, 10], name="z"), 0.7, noise_shape=[1, 10], scope="drop")
        assert _shape(y2) == [None, 10]
        assert y2.op.name.startswith("drop/")
        y3 = slim.dropout(x, is_training=False)
        assert _shape(y3) == [5, 3, 3, 3]
        assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == []


def test_dropout_not_training_is_identity():
    with slim.Graph().as_default():
        x = _ph([None, 3, 3, 3])
        y = slim.dropout(x, 0.5, is_training=False)
        xv = np.random.default_rng(0).uniform(-1, 1, size=(5, 3, 3, 3)).astype(np.float32)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
        np.testing.assert_array_equal(out, xv)


@pytest.mark.parametrize(
    "in_shape, out_shape",
    [
        ([5, 3, 3, 3], [5, 27]),
        ([None, 3, 3, 3], [None, 27]),
        ([5, 3, 3], [5, 9]),
        ([5, 7], [5, 7]),
        ([5, None], [5, None]),
        ([5], [5, 1]),  # rank 1 becomes [batch, 1], as tf.layers.flatten does
        ([None, None, None, None], [None, None]),
        ([None, 4, None, 2], [None, None]),
    ],
)
def test_flatten_shapes(in_shape, out_shape):
    with slim.Graph().as_default():
        y = slim.flatten(_ph(in_shape))
        assert _shape(y) == out_shape
        assert y.op.name.startswith("Flatten/")


# ------------------------------------------------------------------------ one_hot / unit_norm / softmax


def test_one_hot_encoding_shape_and_dtype():
    with slim.Graph().as_default():
        labels = slim.constant(np.array([0, 1, 2], np.int64))
        y = slim.one_hot_encoding(labels, num_classes=3)
        assert _shape(y) == [3, 3]
        assert y.dtype == slim.float32
        y5 = slim.one_hot_encoding(slim.constant(np.array([4, 0], np.int32)), 5, scope="oh")
        assert _shape(y5) == [2, 5]
        assert y5.op.name.startswith("oh/")


def test_unit_norm_shapes_and_bad_dim():
    with slim.Graph().as_default():
        x = _ph([None, None, 3])
        for dim in range(3):
            assert _shape(slim.unit_norm(x, dim=dim)) == [None, None, 3]
        with pytest.raises(ValueError):
            slim.unit_norm(x, dim=3)
        with pytest.raises(ValueError):
            slim.unit_norm(x, dim=-1)  # TF-Slim rejects negative dims
        assert slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) == []


def test_softmax_and_l2_normalize_shapes():
    with slim.Graph().as_default():
        x = _ph([None, None, 2])
        y = slim.softmax(x)
        assert _shape(y) == [None, None, 2]
        assert y.op.name.startswith("softmax/")
        assert _shape(slim.softmax(_ph([4, 10], name="l"), scope="Predictions")) == [4, 10]
        assert _shape(slim.nn.l2_normalize(x, axis=2)) == [None, None, 2]
        assert _shape(slim.nn.l2_normalize(_ph([3, 5], name="m"), axis=0)) == [3, 5]
        with pytest.raises(ValueError):
            slim.softmax(_ph([3, None], name="bad"))  # the class dimension must be known


# ----------------------------------------------------------------------------------------- batch_norm


def test_batch_norm_default_variables_and_collections():
    with slim.Graph().as_default():
        y = slim.batch_norm(_ph([5, 3, 3, 3]))
        assert _shape(y) == [5, 3, 3, 3]
        assert y.op.name.startswith("BatchNorm/")
        # scale=False by default: no gamma.
        assert _var_shapes() == {
            "BatchNorm/beta": [3],
            "BatchNorm/moving_mean": [3],
            "BatchNorm/moving_variance": [3],
        }
        assert sorted(_names(slim.GraphKeys.MODEL_VARIABLES)) == sorted(_var_shapes())
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == ["BatchNorm/beta"]
        assert slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES) == []
        update_ops = slim.get_collection(slim.GraphKeys.UPDATE_OPS)
        assert len(update_ops) == 2  # moving_mean and moving_variance
        for op in update_ops:
            assert getattr(op, "op", op).name.startswith("BatchNorm/")


def test_batch_norm_scale_center_and_trainable():
    with slim.Graph().as_default():
        slim.batch_norm(_ph([5, 3, 3, 3]), scale=True)
        assert sorted(_var_shapes()) == [
            "BatchNorm/beta",
            "BatchNorm/gamma",
            "BatchNorm/moving_mean",
            "BatchNorm/moving_variance",
        ]
        assert len(slim.get_model_variables()) == 4
        assert sorted(_names(slim.GraphKeys.TRAINABLE_VARIABLES)) == ["BatchNorm/beta", "BatchNorm/gamma"]
    with slim.Graph().as_default():
        slim.batch_norm(_ph([10, 10, 10, 10]), center=False, scale=True, scope="bn")
        assert sorted(_var_shapes()) == ["bn/gamma", "bn/moving_mean", "bn/moving_variance"]
    with slim.Graph().as_default():
        slim.batch_norm(_ph([10, 10, 10, 10]), center=False)
        assert sorted(_var_shapes()) == ["BatchNorm/moving_mean", "BatchNorm/moving_variance"]
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == []
    with slim.Graph().as_default():
        slim.batch_norm(_ph([4, 6]), scale=True, trainable=False)
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == []
        assert len(slim.get_model_variables()) == 4


@pytest.mark.parametrize(
    "in_shape, kwargs, param_shape",
    [
        ([5, 7], {}, [7]),
        ([None, 7], {}, [7]),
        ([None, 4, 4, 6], {}, [6]),
        ([5, 3, 4, 4], {"data_format": "NCHW"}, [3]),
        ([None, 3, None, None], {"data_format": "NCHW"}, [3]),
        ([2, 3, 5], {}, [5]),
    ],
)
def test_batch_norm_param_shapes(in_shape, kwargs, param_shape):
    with slim.Graph().as_default():
        y = slim.batch_norm(_ph(in_shape), scale=True, **kwargs)
        assert _shape(y) == in_shape
        for name in ("beta", "gamma", "moving_mean", "moving_variance"):
            assert _var("BatchNorm/" + name).shape.as_list() == param_shape


def test_batch_norm_update_ops_depend_on_mode_and_updates_collections():
    with slim.Graph().as_default():
        slim.batch_norm(_ph([5, 3, 3, 3]), is_training=False)
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
    with slim.Graph().as_default():
        slim.batch_norm(_ph([5, 3, 3, 3]), updates_collections=None)
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
    with slim.Graph().as_default():
        slim.batch_norm(_ph([5, 3, 3, 3]), updates_collections="my_update_ops")
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
        assert len(slim.get_collection("my_update_ops")) == 2
    with slim.Graph().as_default():
        x = _ph([5, 3, 3, 3])
        with slim.arg_scope([slim.batch_norm], updates_collections="update_ops"):
            slim.batch_norm(x, scope="bn")
            assert len(slim.get_collection("update_ops")) == 2
            slim.batch_norm(x, scope="bn", reuse=True)
            assert len(slim.get_collection("update_ops")) == 4
        assert len(slim.get_variables_by_name("moving_mean")) == 1
        assert len(slim.get_variables_by_name("beta")) == 1


def test_batch_norm_variables_collections_and_param_regularizers():
    with slim.Graph().as_default():
        colls = {name: [name + "_coll"] for name in ("beta", "gamma", "moving_mean", "moving_variance")}
        slim.batch_norm(_ph([5, 5, 5, 3]), scale=True, variables_collections=colls)
        for name in colls:
            assert _names(name + "_coll") == ["BatchNorm/" + name]
    with slim.Graph().as_default():
        slim.batch_norm(
            _ph([5, 3, 3, 3]),
            scale=True,
            param_regularizers={"beta": slim.l2_regularizer(0.1), "gamma": slim.l2_regularizer(0.1)},
        )
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 2


# ---------------------------------------------------------------------------------- bias_add / layer_norm


@pytest.mark.parametrize(
    "in_shape, kwargs, bias_shape",
    [
        ([5, 2], {}, [2]),
        ([5, 2, 3], {}, [3]),
        ([5, 2, 3, 4], {}, [4]),
        ([None, 3, 3, 3], {}, [3]),
        ([5, 6, 3, 4], {"data_format": "NCHW"}, [6]),
    ],
)
def test_bias_add_shapes(in_shape, kwargs, bias_shape):
    with slim.Graph().as_default():
        y = slim.bias_add(_ph(in_shape), **kwargs)
        assert _shape(y) == in_shape
        assert y.op.name.startswith("BiasAdd/")
        assert _var_shapes() == {"BiasAdd/biases": bias_shape}
        assert _names(slim.GraphKeys.MODEL_VARIABLES) == ["BiasAdd/biases"]
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == ["BiasAdd/biases"]


def test_bias_add_regularizer_and_nchw_rank_check():
    with slim.Graph().as_default():
        slim.bias_add(_ph([5, 4]), regularizer=slim.l2_regularizer(0.1), trainable=False, scope="b")
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 1
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == []
        with pytest.raises(ValueError):
            slim.bias_add(_ph([5, 4, 3], name="r3"), data_format="NCHW")


def test_layer_norm_variables_and_shapes():
    with slim.Graph().as_default():
        y = slim.layer_norm(_ph([5, 3, 3, 3]))
        assert _shape(y) == [5, 3, 3, 3]
        assert y.op.name.startswith("LayerNorm/")
        assert _var_shapes() == {"LayerNorm/beta": [3], "LayerNorm/gamma": [3]}
        assert sorted(_names(slim.GraphKeys.MODEL_VARIABLES)) == ["LayerNorm/beta", "LayerNorm/gamma"]
        assert sorted(_names(slim.GraphKeys.TRAINABLE_VARIABLES)) == ["LayerNorm/beta", "LayerNorm/gamma"]
    with slim.Graph().as_default():
        y = slim.layer_norm(_ph([None, 3, 4, 5]), begin_params_axis=1, scope="ln")
        assert _shape(y) == [None, 3, 4, 5]
        assert _var_shapes() == {"ln/beta": [3, 4, 5], "ln/gamma": [3, 4, 5]}
    with slim.Graph().as_default():
        slim.layer_norm(_ph([None, 8]), center=False)
        assert _var_shapes() == {"LayerNorm/gamma": [8]}
    with slim.Graph().as_default():
        slim.layer_norm(_ph([None, 8]), scale=False, trainable=False)
        assert _var_shapes() == {"LayerNorm/beta": [8]}
        assert _names(slim.GraphKeys.TRAINABLE_VARIABLES) == []


def test_layer_norm_bad_axes():
    with slim.Graph().as_default(), pytest.raises(ValueError):
        slim.layer_norm(_ph([10, 300]), begin_norm_axis=2)
    with slim.Graph().as_default(), pytest.raises(ValueError):
        slim.layer_norm(_ph([5, 3, 3, None]))  # params dims must be fully defined


# ---------------------------------------------------------------------------------------- repeat / stack


def test_repeat_with_scope_unrolls_names():
    with slim.Graph().as_default():
        y = slim.repeat(_ph([5, 3, 3, 3]), 3, slim.conv2d, 32, [3, 3], scope="conv1")
        assert _shape(y) == [5, 3, 3, 32]
        assert y.op.name.startswith("conv1/conv1_3/")
        assert [v.op.name for v in slim.get_model_variables()] == [
            "conv1/conv1_1/weights",
            "conv1/conv1_1/biases",
            "conv1/conv1_2/weights",
            "conv1/conv1_2/biases",
            "conv1/conv1_3/weights",
            "conv1/conv1_3/biases",
        ]
        assert _var("conv1/conv1_1/weights").shape.as_list() == [3, 3, 3, 32]
        assert _var("conv1/conv1_2/weights").shape.as_list() == [3, 3, 32, 32]


def test_repeat_without_scope_uses_layer_function_name():
    # conv2d is TF-Slim's alias of convolution2d: repeat names the copies after the function.
    with slim.Graph().as_default():
        y = slim.repeat(_ph([5, 3, 3, 3]), 3, slim.conv2d, 32, [3, 3])
        assert _shape(y) == [5, 3, 3, 32]
        assert y.op.name.startswith("Repeat/convolution2d_3/")
        assert _var("Repeat/convolution2d_1/weights").shape.as_list() == [3, 3, 3, 32]


def test_repeat_inside_arg_scope():
    with slim.Graph().as_default():
        with slim.arg_scope([slim.conv2d], padding="VALID"):
            y = slim.repeat(_ph([1, 9, 9, 3]), 2, slim.conv2d, 4, [3, 3], scope="c")
        assert _shape(y) == [1, 5, 5, 4]


def test_stack_fully_connected_with_scope():
    with slim.Graph().as_default():
        y = slim.stack(_ph([5, 27]), slim.fully_connected, [32, 64, 128], scope="fc")
        assert _shape(y) == [5, 128]
        assert y.op.name.startswith("fc/fc_3/")
        assert [(v.op.name, v.shape.as_list()) for v in slim.get_model_variables()] == [
            ("fc/fc_1/weights", [27, 32]),
            ("fc/fc_1/biases", [32]),
            ("fc/fc_2/weights", [32, 64]),
            ("fc/fc_2/biases", [64]),
            ("fc/fc_3/weights", [64, 128]),
            ("fc/fc_3/biases", [128]),
        ]


def test_stack_without_scope_uses_layer_function_name():
    with slim.Graph().as_default():
        y = slim.stack(_ph([5, 27]), slim.fully_connected, [10, 20, 30])
        assert _shape(y) == [5, 30]
        assert y.op.name.startswith("Stack/fully_connected_3/")
    with slim.Graph().as_default():
        y = slim.stack(_ph([5, 3, 3, 3]), slim.conv2d, [10, 20, 30], kernel_size=[3, 3], padding="SAME")
        assert _shape(y) == [5, 3, 3, 30]
        assert y.op.name.startswith("Stack/convolution2d_3/")


def test_stack_with_tuple_arguments():
    with slim.Graph().as_default():
        y = slim.stack(
            _ph([2, 8, 8, 3]),
            slim.conv2d,
            [(32, [3, 3]), (32, [1, 1]), (64, [3, 3]), (64, [1, 1])],
            scope="core",
        )
        assert _shape(y) == [2, 8, 8, 64]
        assert _var_shapes() == {
            "core/core_1/weights": [3, 3, 3, 32],
            "core/core_1/biases": [32],
            "core/core_2/weights": [1, 1, 32, 32],
            "core/core_2/biases": [32],
            "core/core_3/weights": [3, 3, 32, 64],
            "core/core_3/biases": [64],
            "core/core_4/weights": [1, 1, 64, 64],
            "core/core_4/biases": [64],
        }
        with pytest.raises(ValueError):
            slim.stack(y, slim.conv2d, 32, scope="bad")  # stack_args must be a list or tuple


def test_readme_vgg16_snippet_names():
    # The README's "Working Example: Specifying the VGG16 Layers", conv part, under a variable scope.
    with slim.Graph().as_default():
        inputs = _ph([None, 224, 224, 3])
        with (
            slim.variable_scope("vgg16"),
            slim.arg_scope(
                [slim.conv2d, slim.fully_connected],
                activation_fn=slim.nn.relu,
                weights_initializer=slim.truncated_normal_initializer(0.0, 0.01),
                weights_regularizer=slim.l2_regularizer(0.0005),
            ),
        ):
            net = slim.repeat(inputs, 2, slim.conv2d, 64, [3, 3], scope="conv1")
            net = slim.max_pool2d(net, [2, 2], scope="pool1")
            net = slim.repeat(net, 2, slim.conv2d, 128, [3, 3], scope="conv2")
            net = slim.max_pool2d(net, [2, 2], scope="pool2")
            net = slim.repeat(net, 3, slim.conv2d, 256, [3, 3], scope="conv3")
            net = slim.max_pool2d(net, [2, 2], scope="pool3")
        assert _shape(net) == [None, 28, 28, 256]
        assert net.op.name.startswith("vgg16/pool3/")
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 7
        assert [v.op.name for v in slim.get_model_variables()][-2:] == [
            "vgg16/conv3/conv3_3/weights",
            "vgg16/conv3/conv3_3/biases",
        ]


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, scope",
    [
        (lambda x: slim.conv2d(x, 8, [3, 3], scope="bad_conv"), "bad_conv"),
        (lambda x: slim.conv2d_transpose(x, 8, [3, 3], scope="bad_deconv"), "bad_deconv"),
        (lambda x: slim.separable_conv2d(x, 8, [3, 3], 1, scope="bad_sep"), "bad_sep"),
        (lambda x: slim.max_pool2d(x, [2, 2], scope="bad_pool"), "bad_pool"),
        (lambda x: slim.avg_pool2d(x, [2, 2], scope="bad_avg"), "bad_avg"),
    ],
)
def test_wrong_rank_raises_error_naming_scope(build, scope):
    with slim.Graph().as_default():
        x = _ph([5, 10])
        with pytest.raises(ValueError) as excinfo:
            build(x)
        _check_slimir_value_error(excinfo, scope)


def test_conv2d_rank5_and_fully_connected_rank1_raise():
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.conv2d(_ph([5, 6, 7, 9, 3]), 32, 3, scope="c5")
        _check_slimir_value_error(excinfo, "c5")
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.fully_connected(_ph([7]), 4, scope="fc_rank1")
        _check_slimir_value_error(excinfo, "fc_rank1")
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.fully_connected(_ph([None, None]), 4, scope="fc_unknown_depth")  # last dim must be known
        _check_slimir_value_error(excinfo, "fc_unknown_depth")


@pytest.mark.parametrize(
    "build",
    [
        lambda x: slim.conv2d(x, 0, [3, 3]),
        lambda x: slim.conv2d(x, -4, [3, 3]),
        lambda x: slim.conv2d(x, 8, [0, 3]),
        lambda x: slim.conv2d(x, 8, 0),
        lambda x: slim.conv2d(x, 8, [3, -1]),
        lambda x: slim.conv2d_transpose(x, 0, [3, 3]),
        lambda x: slim.conv2d_transpose(x, 8, [3, 0]),
        lambda x: slim.separable_conv2d(x, 8, [0, 3], 1),
        lambda x: slim.separable_conv2d(x, -8, [3, 3], 1),
        lambda x: slim.fully_connected(slim.flatten(x), -3),
        lambda x: slim.fully_connected(slim.flatten(x), 2.5),  # TF-Slim requires an integer
    ],
)
def test_non_positive_sizes_raise_value_error(build):
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        with pytest.raises(ValueError) as excinfo:
            build(x)
        assert isinstance(excinfo.value, errors.SlimirError)


@pytest.mark.parametrize(
    "build",
    [
        lambda x: slim.conv2d(x, 8, [3, 3], padding="SAMEX"),
        lambda x: slim.conv2d_transpose(x, 8, [3, 3], padding="SAMEX"),
        lambda x: slim.separable_conv2d(x, 8, [3, 3], 1, padding="SAMEX"),
        lambda x: slim.max_pool2d(x, [2, 2], padding="SAMEX"),
        lambda x: slim.avg_pool2d(x, [2, 2], padding="SAMEX"),
        lambda x: slim.conv2d_in_plane(x, [2, 2], padding="SAMEX"),
    ],
)
def test_unknown_padding_raises_value_error(build):
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        with pytest.raises(ValueError) as excinfo:
            build(x)
        assert isinstance(excinfo.value, errors.SlimirError)


@pytest.mark.parametrize(
    "build",
    [
        lambda x: slim.conv2d(x, 8, [3, 3], data_format="CHWN"),
        lambda x: slim.conv2d_transpose(x, 8, [3, 3], data_format="CHWN"),
        lambda x: slim.separable_conv2d(x, 8, [3, 3], 1, data_format="CHWN"),
        lambda x: slim.max_pool2d(x, [2, 2], data_format="CHWN"),
        lambda x: slim.avg_pool2d(x, [2, 2], data_format="CHWN"),
        lambda x: slim.batch_norm(x, data_format="CHWN"),
        lambda x: slim.bias_add(x, data_format="CHWN"),
    ],
)
def test_unknown_data_format_raises_value_error(build):
    with slim.Graph().as_default():
        x = _ph([2, 8, 8, 3])
        with pytest.raises(ValueError) as excinfo:
            build(x)
        assert isinstance(excinfo.value, errors.SlimirError)
        assert "data_format" in str(excinfo.value)


def test_kernel_larger_than_valid_input_raises_naming_shapes():
    with slim.Graph().as_default():
        x = _ph([2, 4, 6, 1])
        with pytest.raises(ValueError) as excinfo:
            slim.conv2d(x, 8, [5, 5], padding="VALID", scope="too_big")
        _check_slimir_value_error(excinfo, "too_big", "4, 6", "5, 5")
    with slim.Graph().as_default():
        x = _ph([None, 4, 6, 1])
        with pytest.raises(ValueError) as excinfo:
            slim.max_pool2d(x, [5, 5], padding="VALID", scope="pool_too_big")
        _check_slimir_value_error(excinfo, "pool_too_big", "4, 6", "5, 5")


def test_stride_and_rate_both_above_one_raise():
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.conv2d(_ph([2, 8, 8, 3]), 8, [3, 3], stride=2, rate=2)
        assert isinstance(excinfo.value, errors.SlimirError)


def test_batch_norm_unknown_channels_raise():
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.batch_norm(_ph([5, 3, 3, None]), data_format="NHWC", scope="bn_nhwc")
        _check_slimir_value_error(excinfo, "bn_nhwc")
    with slim.Graph().as_default():
        with pytest.raises(ValueError) as excinfo:
            slim.batch_norm(_ph([5, None, 3, 3]), data_format="NCHW", scope="bn_nchw")
        _check_slimir_value_error(excinfo, "bn_nchw")
