"""`import slimir.tf as tf`: TF's core names, argument names and orders on slimir (issue 16 item 1), TF's argument
names on the same `slim.` functions (item 2), TensorShape/Dimension/constant_value, and a clear error for the TF
names slimir leaves out."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import slimir as slim
import slimir.tf as tf
from slimir.errors import DTypeError, NotAvailableError, ShapeError, SlimirError


def _run(fetches, feed=None, graph=None):
    with tf.Session(graph=graph or tf.get_default_graph()) as sess:
        sess.run(tf.global_variables_initializer())
        return sess.run(fetches, feed)


# ------------------------------------------------------------------------------------------
# compat and module structure


def test_compat_v1_is_the_module_and_importable():
    import slimir.tf.compat.v1 as tf1

    assert tf.compat.v1 is tf and tf1 is tf
    assert tf.compat.v1.logging is tf.logging and tf.compat.v1.variable_scope is tf.variable_scope
    assert tf.train is slim.train and tf.losses is slim.losses and tf.summary is slim.summary
    assert tf.compat.v2.float32 is tf.float32 and tf.compat.v2.image.resize is not tf.image.resize


def test_v1_and_v2_image_resize_differ_as_in_tf():
    """tf.compat.v1.image.resize keeps TF1's pixel centers; tf.compat.v2.image.resize uses half-pixel centers
    (the values of TF's ResizeImagesTest and ResizeImagesV2Test)."""
    x = np.array([64, 32, 32, 64, 50, 100], np.float32).reshape(1, 3, 2, 1)
    with tf.Graph().as_default():
        v1 = tf.image.resize(tf.constant(x), [6, 4])
        v2 = tf.compat.v2.image.resize(tf.constant(x), [6, 4])
        n1 = tf.image.resize(tf.constant(x), [6, 4], method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        n2 = tf.compat.v2.image.resize(tf.constant(x), [6, 4], method=tf.compat.v2.image.ResizeMethod.NEAREST_NEIGHBOR)
        a, b, c, d = _run([v1, v2, n1, n2])
    np.testing.assert_allclose(a.reshape(-1)[:8], [64, 48, 32, 32, 48, 48, 48, 48])
    np.testing.assert_allclose(b.reshape(-1)[:8], [64, 56, 40, 32, 56, 52, 44, 40])
    np.testing.assert_array_equal(c, d)
    assert tf.image.ResizeMethod.BILINEAR == 0 and tf.compat.v2.image.ResizeMethod.BILINEAR == "bilinear"


def test_missing_names_raise_a_slimir_error_that_says_what_to_use():
    with pytest.raises(NotAvailableError, match=r"tf\.cond .*Python bools"):
        tf.cond  # noqa: B018
    with pytest.raises(NotAvailableError, match=r"tf\.nn\.no_such_op is not available .*README"):
        tf.nn.no_such_op  # noqa: B018
    with pytest.raises(NotAvailableError, match=r"tf\.compat\.v2\.keras"):
        tf.compat.v2.keras  # noqa: B018
    err = NotAvailableError("x")
    assert isinstance(err, SlimirError) and isinstance(err, AttributeError)
    assert not hasattr(tf, "while_loop") and getattr(tf.image, "crop_and_resize", None) is None
    assert hasattr(tf.nn, "relu") and hasattr(tf, "GraphKeys")


def test_dtypes():
    assert tf.float32 is slim.float32 and tf.int64 is slim.int64 and tf.bool is slim.bool_
    assert tf.as_dtype("bfloat16") is tf.bfloat16 and tf.bfloat16 != tf.float32 and tf.bfloat16.is_floating
    assert tf.dtypes.as_dtype(np.float32) is tf.float32
    with pytest.raises(DTypeError, match="bfloat16 is not available in slimir"):
        tf.bfloat16.as_numpy_dtype  # noqa: B018


# ------------------------------------------------------------------------------------------
# TF's argument names (and TF1's positional orders)


def test_tf_keyword_names():
    x0 = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 3])
        fetches = {
            "pad": tf.pad(tensor=x, paddings=[[0, 0], [1, 2], [0, 0], [0, 0]], mode="CONSTANT", constant_values=7),
            "reflect": tf.pad(x, np.array([[0, 0], [1, 1], [2, 2], [0, 0]]), "REFLECT"),
            "shape": tf.shape(input=x, out_type=tf.int64),
            "shape_v1_order": tf.shape(x, "my_shape"),
            "transpose": tf.transpose(a=x, perm=[0, 3, 1, 2]),
            "reshape": tf.reshape(tensor=x, shape=[-1, 48]),
            "squeeze": tf.squeeze(input=x[:, :1], axis=[1]),
            "expand": tf.expand_dims(input=x, axis=0),
            "expand_dim": tf.expand_dims(x, dim=-1),
            "identity": tf.identity(input=x),
            "tile": tf.tile(input=x, multiples=tf.constant([1, 2, 1, 1])),
            "slice": tf.slice(input_=x, begin=[0, 1, 1, 0], size=[-1, 2, 2, 1]),
            "zeros_like": tf.zeros_like(tensor=x),
            "relu": tf.nn.relu(features=x - 50.0),
            "max_pool": tf.nn.max_pool(input=x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID"),
            "concat": tf.concat(values=[x, x], axis=3),
            "split": tf.split(axis=3, num_or_size_splits=3, value=x)[1],
            "mean": tf.reduce_mean(input_tensor=x, axis=[1, 2], keepdims=True),
            "conv": tf.nn.conv2d(x, filter=tf.ones([1, 1, 3, 2]), strides=[1, 1, 1, 1], padding="SAME"),
        }
        assert fetches["shape_v1_order"].op.name == "my_shape"
        v = _run(fetches, {x: x0})
    np.testing.assert_array_equal(v["pad"], np.pad(x0, [[0, 0], [1, 2], [0, 0], [0, 0]], constant_values=7))
    np.testing.assert_array_equal(v["reflect"], np.pad(x0, [[0, 0], [1, 1], [2, 2], [0, 0]], mode="reflect"))
    assert v["shape"].dtype == np.int64 and list(v["shape"]) == [2, 4, 4, 3]
    np.testing.assert_array_equal(v["transpose"], x0.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(v["reshape"], x0.reshape(-1, 48))
    np.testing.assert_array_equal(v["squeeze"], x0[:, 0])
    assert v["expand"].shape == (1, 2, 4, 4, 3) and v["expand_dim"].shape == (2, 4, 4, 3, 1)
    np.testing.assert_array_equal(v["tile"], np.tile(x0, [1, 2, 1, 1]))
    np.testing.assert_array_equal(v["slice"], x0[:, 1:3, 1:3, 0:1])
    np.testing.assert_array_equal(v["relu"], np.maximum(x0 - 50, 0))
    np.testing.assert_array_equal(v["max_pool"], x0.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)))
    np.testing.assert_array_equal(v["split"], x0[..., 1:2])
    np.testing.assert_allclose(v["mean"], x0.mean(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(v["conv"], np.repeat(x0.sum(axis=3, keepdims=True), 2, axis=3))


def test_slim_functions_take_tf_names_and_keep_their_own():
    x0 = np.arange(6, dtype=np.float32).reshape(2, 3)
    with slim.Graph().as_default():
        x = slim.constant(x0)
        pairs = [(slim.pad(tensor=x, paddings=[[1, 0], [0, 1]]), slim.pad(x=x, paddings=[[1, 0], [0, 1]])),
                 (slim.shape(input=x), slim.shape(x=x)), (slim.transpose(a=x), slim.transpose(x=x)),
                 (slim.reshape(tensor=x, shape=[3, 2]), slim.reshape(x, [3, 2])),
                 (slim.identity(input=x), slim.identity(x=x)),
                 (slim.tile(input=x, multiples=[2, 1]), slim.tile(x, [2, 1])),
                 (slim.nn.relu(features=x - 2.0), slim.nn.relu(x - 2.0)),
                 (slim.squeeze(input=x[None]), slim.squeeze(x[None])),
                 (slim.expand_dims(input=x, axis=1), slim.expand_dims(x, 1)),
                 (slim.zeros_like(tensor=x), slim.zeros_like(x))]
        vals = _run(pairs)
        with pytest.raises(TypeError, match="both tensor= and x="):
            slim.pad(x=x, tensor=x, paddings=[[0, 0], [0, 0]])
    for a, b in vals:
        np.testing.assert_array_equal(a, b)


def test_pad_with_a_tensor_as_paddings():
    """The bug of issue 16: tf.pad with a Tensor as paddings raised 'cannot reshape array of size 1 into shape (2)'
    (pix2pix's discriminator pads with tf.constant(..., dtype=tf.int32))."""
    x0 = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 4, 4, 1])
        spatial_pad = tf.constant([[0, 0], [2, 2], [2, 2], [0, 0]], dtype=tf.int32)
        y = tf.pad(tensor=x, paddings=spatial_pad, mode="REFLECT")
        z = tf.pad(x, tf.stack([[0, 0], [0, tf.shape(x)[1] - 3], [0, 0], [0, 0]]))
        assert y.shape == [None, 8, 8, 1] and z.shape == [None, 5, 4, 1]
        yv, zv = _run([y, z], {x: x0})
        with pytest.raises(SlimirError, match="only known at run time"):
            tf.pad(x, tf.stack([[tf.shape(x)[0], 0], [0, 0], [0, 0], [0, 0]]))
    np.testing.assert_array_equal(yv, np.pad(x0, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="reflect"))
    np.testing.assert_array_equal(zv, np.pad(x0, [[0, 0], [0, 1], [0, 0], [0, 0]]))


def test_reshape_to_run_time_shapes():
    """cyclegan: tf.reshape(logits, tf.shape(images)) with a run-time batch; pix2pix: a shape list with None."""
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 2, 3])
        y = tf.reshape(x * 2.0, tf.shape(x))
        z = tf.reshape(x, [tf.shape(x)[0], 6])
        w = tf.reshape(x, [None, 6])
        assert y.shape == [None, 2, 3] and z.shape == [None, 6] and w.shape == [None, 6]
        yv, zv = _run([y, z], {x: np.ones((4, 2, 3), np.float32)})
    assert yv.shape == (4, 2, 3) and zv.shape == (4, 6)


# ------------------------------------------------------------------------------------------
# TensorShape, Dimension, constant_value


def test_tensor_shape_methods():
    with tf.Graph().as_default():
        net = tf.placeholder(tf.float32, [None, 7, 7, 3])
        shape = net.get_shape()
        assert isinstance(shape, tf.TensorShape)
        shape.assert_has_rank(4)
        shape.assert_is_compatible_with([5, 7, 7, 3])
        shape[1:].assert_is_fully_defined()
        assert shape.with_rank(4) is shape and shape.with_rank_at_least(2) is shape
        assert shape.merge_with([8, None, 7, None]).as_list() == [8, 7, 7, 3]
        assert shape.num_elements() is None and shape[1:].num_elements() == 147
        assert shape.is_compatible_with(tf.TensorShape([1, 7, 7, 3])) and not shape.is_compatible_with([1, 7, 3])
        assert shape.concatenate([2]).as_list() == [None, 7, 7, 3, 2] and shape.dims == [None, 7, 7, 3]
        with pytest.raises(ValueError, match=r"Shape \[None, 7, 7, 3\] must have rank 2"):
            shape.assert_has_rank(2)
        with pytest.raises(ValueError, match="is not fully defined"):
            shape.assert_is_fully_defined()
        with pytest.raises(ValueError, match="are incompatible"):
            shape.assert_is_compatible_with([None, 6, 7, 3])
        with pytest.raises(ShapeError, match="are not compatible"):
            shape.merge_with([1, 2, 3, 4])
        with pytest.raises(ValueError, match="must have rank at most 3"):
            shape.with_rank_at_most(3)


def test_dimension():
    d = tf.Dimension(5)
    assert d.value == 5 and int(d) == 5 and (d * 2).value == 10 and (d + tf.Dimension(None)).value is None
    assert tf.dimension_value(d) == 5 and tf.compat.dimension_value(None) is None and tf.dimension_value(3) == 3
    assert tf.Dimension(None).is_compatible_with(4) and not d.is_compatible_with(4)
    with pytest.raises(ValueError):
        tf.Dimension(3).merge_with(4)


def test_constant_value():
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 8, 6, 3])
        s = tf.shape(x)
        np.testing.assert_array_equal(tf.tensor_util.constant_value(tf.constant([[0, 0], [1, 1]])), [[0, 0], [1, 1]])
        assert tf.tensor_util.constant_value(s) is None  # the batch is only known at run time
        assert tf.get_static_value(s[1] * 2 + 1) == 17
        np.testing.assert_array_equal(tf.get_static_value(tf.shape(tf.zeros([2, 3]))), [2, 3])
        assert tf.tensor_util.constant_value(x) is None
        assert tf.tensor_util.constant_value(tf.random_uniform([2])) is None  # random: never constant
        np.testing.assert_array_equal(tf.tensor_util.constant_value(tf.stack([s[2], s[1]])), [6, 8])


# ------------------------------------------------------------------------------------------
# logging, test, initializers, nn extras, misc ops


def test_logging(caplog):
    with caplog.at_level(logging.INFO, logger="tensorflow"):
        tf.logging.set_verbosity(tf.logging.INFO)
        tf.compat.v1.logging.info("built %s with %d layers", "net", 3)
        tf.logging.debug("hidden")
        tf.logging.warning("careful")
        assert tf.logging.INFO == logging.INFO and tf.logging.get_verbosity() == logging.INFO
    msgs = [r.getMessage() for r in caplog.records]
    assert "built net with 3 layers" in msgs and "careful" in msgs and "hidden" not in msgs


def test_is_gpu_available_follows_onnxruntime():
    import onnxruntime

    assert tf.test.is_gpu_available() == ("CUDAExecutionProvider" in onnxruntime.get_available_providers())
    assert isinstance(tf.test.is_gpu_available(cuda_only=True), bool)


def test_tf_variance_scaling_initializer():
    """TF core's (scale, mode, distribution): the truncated normal is rescaled to variance scale / fan."""
    init = tf.variance_scaling_initializer(scale=2.0, mode="fan_in", distribution="truncated_normal", seed=1)
    w = init([3, 3, 64, 256])
    assert abs(w.std() - np.sqrt(2.0 / (9 * 64))) < 0.01 * np.sqrt(2.0 / (9 * 64)) * 5
    u = tf.initializers.variance_scaling(1.0, "fan_avg", "uniform", seed=2)([100, 300])
    assert np.abs(u).max() <= np.sqrt(3.0 / 200) and abs(u.std() - np.sqrt(1.0 / 200)) < 0.002
    with pytest.raises(ValueError, match="Invalid `mode`"):
        tf.variance_scaling_initializer(mode="FAN_IN")


def test_misc_ops():
    x0 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    with tf.Graph().as_default():
        x = tf.constant(x0)
        v = tf.Variable(tf.zeros([2]), name="v")
        assert isinstance(v, tf.Variable) and v.op.name == "v"
        out = {
            "ss": tf.strided_slice(x, [0, 1, 0], [2, 3, 4], [1, 1, 2], shrink_axis_mask=1, end_mask=4),
            "ss_new": tf.strided_slice(x, [0, 0], [1, 2], new_axis_mask=2, shrink_axis_mask=1),
            "oh": tf.one_hot([0, 2], 3, on_value=5, off_value=-1),
            "ohf": tf.one_hot(tf.constant([1]), 2),
            "gather": tf.gather(x, [2, 0], axis=2),
            "norm": tf.clip_by_norm(tf.constant([3.0, 4.0]), 1.0),
            "swish": tf.nn.swish(tf.constant([1.0, -2.0])),
            "selu": tf.nn.selu(tf.constant([1.0, -2.0])),
            "range": tf.range(3, dtype=tf.float32),
            "fill": tf.fill([2], 1.5),
            "where": tf.where(tf.constant([True, False]), tf.constant([1, 2]), tf.constant([3, 4])),
            "size": tf.size(x),
            "matmul": tf.matmul(tf.constant(x0[0]), tf.constant(x0[1]), adjoint_b=True),
        }
        vals = _run(out)
        with pytest.raises(SlimirError, match="where"):
            tf.where(tf.constant([True]))
    np.testing.assert_array_equal(vals["ss"], x0[0, 1:3, 0:4:2])
    np.testing.assert_array_equal(vals["ss_new"], x0[0, None])
    assert vals["oh"].dtype == np.int32 and vals["oh"].tolist() == [[5, -1, -1], [-1, -1, 5]]
    assert vals["ohf"].dtype == np.float32
    np.testing.assert_array_equal(vals["gather"], x0[:, :, [2, 0]])
    np.testing.assert_allclose(vals["norm"], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(vals["swish"], [1 / (1 + np.exp(-1)), -2 / (1 + np.exp(2))], rtol=1e-6)
    np.testing.assert_allclose(vals["selu"], [1.0507009873554805, 1.0507009873554805 * 1.6732632423543772 *
                                             (np.exp(-2.0) - 1)], rtol=1e-6)
    assert vals["range"].dtype == np.float32 and vals["fill"].dtype == np.float32
    assert vals["where"].tolist() == [1, 4] and vals["size"] == 24
    np.testing.assert_allclose(vals["matmul"], x0[0] @ x0[1].T)


def test_assert_and_count_up_to_through_tf():
    with tf.Graph().as_default():
        counter = tf.Variable(tf.constant(0, dtype=tf.int64))
        c = counter.count_up_to(2)
        x = tf.placeholder(tf.float32, [])
        check = tf.Assert(x > 0, ["x =", x])
        with tf.control_dependencies([check]):
            y = tf.identity(x)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            assert [sess.run(c), sess.run(c)] == [0, 1]
            with pytest.raises(tf.errors.OutOfRangeError):
                sess.run(c)
            assert sess.run(y, {x: 2.0}) == 2.0
            with pytest.raises(tf.errors.InvalidArgumentError, match=r"x = \[-1.0\]"):
                sess.run(y, {x: -1.0})
