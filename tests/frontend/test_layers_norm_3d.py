"""slim.group_norm, slim.instance_norm and the 3-D layers (slimir/layers.py) against TF-Slim's layers.py and
layers_test.py: group_norm and instance_norm (values, variable names and shapes, layouts, errors; their
gradients are in tests/grad/test_layer_norm_grads.py), conv3d / max_pool3d / avg_pool3d (scopes, variables,
shapes, arg_scope, normalizer, values against the op references)."""

import numpy as np
import pytest

import slimir as slim
from slimir import errors
from slimir.ops import conv3d as conv3d_ops


def _run(outputs, feed):
    with slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        return sess.run(outputs, feed)


def _group_norm_np(x, groups, caxis, raxes, eps=1e-6):
    x = np.moveaxis(x.astype(np.float64), caxis, -1)
    c = x.shape[-1]
    keep = [a if a < caxis else a - 1 for a in raxes]  # axes after moving the channel axis last
    xr = x.reshape(x.shape[:-1] + (groups, c // groups))
    axes = tuple(sorted(keep)) + (xr.ndim - 1,)
    m = xr.mean(axis=axes, keepdims=True)
    v = xr.var(axis=axes, keepdims=True)
    return np.moveaxis(((xr - m) / np.sqrt(v + eps)).reshape(x.shape), -1, caxis)


@pytest.mark.parametrize("shape, groups, caxis, raxes", [((2, 5, 6, 8), 4, -1, (-3, -2)),
                                                          ((2, 8, 5, 6), 2, 1, (-2, -1)),
                                                          ((3, 4, 5, 6, 12), 3, -1, (-4, -3, -2)),
                                                          ((4, 6), 3, -1, ())])
def test_group_norm_values(shape, groups, caxis, raxes):
    rng = np.random.default_rng(0)
    xv = (rng.normal(size=shape) * 3 + 1).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None] + list(shape[1:]))
        y = slim.group_norm(x, groups=groups, channels_axis=caxis, reduction_axes=raxes)
        out = _run(y, {x: xv})
        c = shape[caxis]
        assert {v.op.name: v.shape.as_list() for v in slim.get_model_variables()} == {
            "GroupNorm/beta": [c], "GroupNorm/gamma": [c]}
    want = _group_norm_np(xv, groups, caxis % len(shape), [a % len(shape) for a in raxes])
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)


def test_group_norm_params_activation_and_errors():
    rng = np.random.default_rng(1)
    xv = rng.normal(size=(2, 3, 3, 4)).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 3, 3, 4])
        y = slim.group_norm(x, groups=2, activation_fn=slim.nn.relu, scope="gn", center=False,
                            param_initializers={"gamma": slim.constant_initializer(2.0)})
        assert [v.op.name for v in slim.trainable_variables()] == ["gn/gamma"]
        out = _run(y, {x: xv})
        np.testing.assert_allclose(out, np.maximum(2 * _group_norm_np(xv, 2, 3, [1, 2]), 0), rtol=1e-4, atol=1e-4)
        with pytest.raises(ValueError, match="Invalid groups 8 for 4 channels"):
            slim.group_norm(x, groups=8)
        with pytest.raises(ValueError, match="not commensurate"):
            slim.group_norm(x, groups=3)
        with pytest.raises(ValueError, match="mutually exclusive"):
            slim.group_norm(x, groups=2, reduction_axes=(-2, -1))
        with pytest.raises(errors.ShapeError, match="undefined channel"):
            slim.group_norm(slim.placeholder(slim.float32, [2, 3, 3, None]))
        with pytest.raises(errors.ShapeError, match="out of bounds"):
            slim.group_norm(x, channels_axis=4)


@pytest.mark.parametrize("df", ["NHWC", "NCHW"])
def test_instance_norm_values(df):
    rng = np.random.default_rng(2)
    xv = (rng.normal(size=(3, 5, 6, 4)) * 2 - 1).astype(np.float32)
    feed_v = xv if df == "NHWC" else np.transpose(xv, (0, 3, 1, 2))
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, list(feed_v.shape))
        y = slim.instance_norm(x, data_format=df,
                               param_initializers={"beta": slim.constant_initializer(0.5),
                                                   "gamma": slim.constant_initializer(3.0)})
        assert {v.op.name: v.shape.as_list() for v in slim.get_model_variables()} == {
            "InstanceNorm/beta": [4], "InstanceNorm/gamma": [4]}
        out = _run(y, {x: feed_v})
    m = xv.astype(np.float64).mean(axis=(1, 2), keepdims=True)
    v = xv.astype(np.float64).var(axis=(1, 2), keepdims=True)
    want = 3.0 * (xv - m) / np.sqrt(v + 1e-6) + 0.5
    if df == "NCHW":
        want = np.transpose(want, (0, 3, 1, 2))
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    with slim.Graph().as_default():
        with pytest.raises(errors.ShapeError, match="rank >= 3"):
            slim.instance_norm(slim.placeholder(slim.float32, [2, 3]))
        with pytest.raises(ValueError, match="data_format"):
            slim.instance_norm(slim.placeholder(slim.float32, [2, 3, 3, 3]), data_format="NDHWC")


def test_conv3d_layer():
    rng = np.random.default_rng(3)
    xv = rng.normal(size=(2, 4, 6, 6, 3)).astype(np.float32)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 4, 6, 6, 3])
        y = slim.conv3d(x, 5, [3, 3, 3], stride=[1, 2, 2])
        assert y.op.name.startswith("Conv/") and y.shape.as_list() == [2, 4, 3, 3, 5]
        v = {v.op.name: v.shape.as_list() for v in slim.get_model_variables()}
        assert v == {"Conv/weights": [3, 3, 3, 3, 5], "Conv/biases": [5]}
        with slim.arg_scope([slim.conv3d], normalizer_fn=slim.batch_norm, padding="VALID"):
            z = slim.conv3d(x, 4, 3, scope="c2")
        assert z.shape.as_list() == [2, 2, 4, 4, 4]
        assert "c2/biases" not in {v.op.name for v in slim.global_variables()}
        assert "c2/BatchNorm/moving_mean" in {v.op.name for v in slim.global_variables()}
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out, w, b = sess.run([y] + slim.get_variables("Conv"), {x: xv})
        want = np.maximum(conv3d_ops.conv3d_reference(xv, w, (1, 2, 2), (1, 1, 1), "SAME", "NDHWC") + b, 0)
        np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
        with pytest.raises(errors.ShapeError, match="rank 5"):
            slim.conv3d(slim.placeholder(slim.float32, [2, 6, 6, 3]), 4, 3)
        with pytest.raises(ValueError, match="kernel_size"):
            slim.conv3d(x, 4, [3, 3])
        ncdhw = slim.conv3d(slim.placeholder(slim.float32, [2, 3, 4, 6, 6]), 7, [1, 3, 3], data_format="NCDHW",
                            scope="nc")
        assert ncdhw.shape.as_list() == [2, 7, 4, 6, 6]


def test_pool3d_layers():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [2, 8, 9, 9, 3])
        m = slim.max_pool3d(x, [2, 3, 3])
        a = slim.avg_pool3d(x, 3, stride=1, padding="SAME", scope="pool")
        assert m.op.name.startswith("MaxPool3D/") and m.shape.as_list() == [2, 4, 4, 4, 3]
        assert a.op.name.startswith("pool/") and a.shape.as_list() == [2, 8, 9, 9, 3]
        with slim.arg_scope([slim.max_pool3d], stride=1, padding="SAME"):
            assert slim.max_pool3d(x, [1, 3, 3]).shape.as_list() == [2, 8, 9, 9, 3]
        with pytest.raises(errors.ShapeError, match="rank 5"):
            slim.avg_pool3d(slim.placeholder(slim.float32, [2, 8, 8, 3]), 2)
