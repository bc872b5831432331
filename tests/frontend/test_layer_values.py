"""Numeric tests of slimir's TF-Slim layers run through slim.Session, compared with small numpy references
written here (TF semantics: asymmetric SAME padding, [kh, kw, out, in] transposed kernels, ...)."""

import math

import numpy as np
import pytest

import slimir as slim

RTOL = 1e-5
ATOL = 1e-5


# ----------------------------------------------------------------------------------------------- helpers


def _ph(shape, name="x"):
    return slim.placeholder(slim.float32, shape, name=name)


def _var(name):
    found = [v for v in slim.get_collection(slim.GraphKeys.GLOBAL_VARIABLES) if v.op.name == name]
    assert len(found) == 1, name
    return found[0]


def _rand(rng, shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape).astype(np.float32)


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    actual = np.asarray(actual)
    assert actual.shape == np.shape(expected), (actual.shape, np.shape(expected))
    np.testing.assert_allclose(actual, np.asarray(expected, np.float64), rtol=rtol, atol=atol)


def _random_bias():
    return slim.truncated_normal_initializer(stddev=0.5)


def _pads(size, k_eff, stride, padding):
    """TF output size and (before, after) padding for one spatial dim."""
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k_eff - size, 0)
        return out, total // 2, total - total // 2
    assert padding == "VALID"
    return -(-(size - k_eff + 1) // stride), 0, 0


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _windows(x, kh, kw, stride, padding, rate=(1, 1), pad_value=0.0):
    """Yields (i, j, patch) with patch [N, OH, OW, C] for kernel tap (i, j); x is NHWC."""
    sh, sw = _pair(stride)
    rh, rw = _pair(rate)
    _n, h, w, _c = x.shape
    oh, top, bottom = _pads(h, (kh - 1) * rh + 1, sh, padding)
    ow, left, right = _pads(w, (kw - 1) * rw + 1, sw, padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    for i in range(kh):
        for j in range(kw):
            yield (
                i,
                j,
                xp[:, i * rh : i * rh + (oh - 1) * sh + 1 : sh, j * rw : j * rw + (ow - 1) * sw + 1 : sw, :],
            )


def np_conv2d(x, w, stride=1, padding="SAME", rate=1):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    out = None
    for i, j, patch in _windows(x, w.shape[0], w.shape[1], stride, padding, rate):
        term = np.tensordot(patch, w[i, j], axes=([3], [0]))
        out = term if out is None else out + term
    return out


def np_depthwise(x, w, stride=1, padding="SAME", rate=1):
    """w: [kh, kw, C, M]; output channel c * M + m, as tf.nn.depthwise_conv2d."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    out = None
    for i, j, patch in _windows(x, w.shape[0], w.shape[1], stride, padding, rate):
        term = patch[..., :, None] * w[i, j]
        out = term if out is None else out + term
    n, oh, ow, c, m = out.shape
    return out.reshape(n, oh, ow, c * m)


def np_pool(x, k, stride, padding, kind):
    kh, kw = _pair(k)
    x = x.astype(np.float64)
    patches = np.stack([p for _, _, p in _windows(x, kh, kw, stride, padding, pad_value=np.nan)], axis=0)
    if kind == "max":
        return np.nanmax(patches, axis=0)
    return np.nanmean(patches, axis=0)  # padding excluded from the count, as TF's AvgPool


def np_conv2d_transpose(x, w, stride, padding):
    """x: NHWC [N, H, W, C]; w: [kh, kw, O, C] (TF's transposed-conv layout)."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    sh, sw = _pair(stride)
    n, h, wd, _c = x.shape
    kh, kw, o, _ = w.shape
    if padding == "SAME":
        oh, ow = h * sh, wd * sw
    else:
        oh, ow = h * sh + max(kh - sh, 0), wd * sw + max(kw - sw, 0)
    top = max((h - 1) * sh + kh - oh, 0) // 2
    left = max((wd - 1) * sw + kw - ow, 0) // 2
    full = np.zeros((n, max((h - 1) * sh + kh, top + oh), max((wd - 1) * sw + kw, left + ow), o))
    for i in range(h):
        for j in range(wd):
            full[:, i * sh : i * sh + kh, j * sw : j * sw + kw, :] += np.einsum(
                "nc,abdc->nabd", x[:, i, j, :], w
            )
    return full[:, top : top + oh, left : left + ow, :]


def _relu(v):
    return np.maximum(v, 0.0)


def _nchw(a):
    return np.transpose(a, (0, 3, 1, 2))


def _nhwc(a):
    return np.transpose(a, (0, 2, 3, 1))


# ------------------------------------------------------------------------------------------- references


def test_numpy_references_self_check():
    # Guards the references themselves against hand-computed values.
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 4, 1)  # [1, 2, 3, 4]
    w = np.array([1.0, 10.0, 100.0], np.float32).reshape(1, 3, 1, 1)
    # SAME, stride 2, width 4, k 3: total pad 1 -> 0 before, 1 after.
    np.testing.assert_allclose(np_conv2d(x, w, stride=[1, 2]).ravel(), [321, 43])
    np.testing.assert_allclose(np_conv2d(x, w, padding="VALID").ravel(), [321, 432])
    np.testing.assert_allclose(np_pool(x, [1, 3], [1, 2], "SAME", "avg").ravel(), [2.0, 3.5])
    np.testing.assert_allclose(np_pool(x, [1, 3], [1, 1], "SAME", "avg").ravel(), [1.5, 2, 3, 3.5])
    np.testing.assert_allclose(np_pool(-x, [1, 2], [1, 2], "SAME", "max").ravel(), [-1, -3])
    # Transposed conv, 1x1 input, stride 2, k 2, SAME -> kernel copied.
    wt = np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1, 1)
    np.testing.assert_allclose(
        np_conv2d_transpose(np.ones((1, 1, 1, 1)), wt, 2, "SAME").ravel(), [1, 2, 3, 4]
    )
    # Transpose is the adjoint of conv: <conv(y), x> == <y, convT(x)>.
    rng = np.random.default_rng(0)
    for k, padding, y_shape in [
        (3, "SAME", (1, 8, 6, 2)),
        (3, "VALID", (1, 7, 9, 2)),
        (4, "SAME", (1, 8, 6, 2)),
        (4, "VALID", (1, 8, 6, 2)),
    ]:
        y = rng.standard_normal(y_shape)
        wk = rng.standard_normal((k, k, 2, 4))
        cy = np_conv2d(y, wk, stride=2, padding=padding)
        xx = rng.standard_normal(cy.shape)
        ct = np_conv2d_transpose(xx, wk, 2, padding)
        assert ct.shape == y.shape
        np.testing.assert_allclose(np.sum(cy * xx), np.sum(y * ct), rtol=1e-10)


# ------------------------------------------------------------------------------------------------ conv2d


@pytest.mark.parametrize(
    "in_hw, kernel, stride, padding, rate",
    [
        ((8, 7), [3, 3], 1, "SAME", 1),
        ((8, 7), [3, 3], 1, "VALID", 1),
        ((8, 7), [3, 3], 2, "SAME", 1),  # odd total padding -> more on the bottom/right
        ((8, 7), [3, 3], 2, "VALID", 1),
        ((8, 7), [3, 3], 3, "SAME", 1),
        ((8, 7), [3, 3], 3, "VALID", 1),
        ((8, 7), [2, 4], [2, 1], "SAME", 1),
        ((8, 7), [4, 4], 2, "SAME", 1),
        ((9, 10), [3, 3], 1, "SAME", 2),
        ((9, 10), [3, 3], 1, "VALID", 2),
        ((9, 10), [3, 2], 1, "SAME", [2, 3]),
    ],
)
def test_conv2d_nhwc_matches_numpy(in_hw, kernel, stride, padding, rate):
    rng = np.random.default_rng(1)
    xv = _rand(rng, (2,) + in_hw + (3,))
    with slim.Graph().as_default():
        x = _ph([None, in_hw[0], in_hw[1], 3])
        y = slim.conv2d(
            x,
            5,
            kernel,
            stride=stride,
            padding=padding,
            rate=rate,
            biases_initializer=_random_bias(),
            scope="conv",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("conv/weights"))
            b = sess.run(_var("conv/biases"))
            out = sess.run(y, feed_dict={x: xv})
    assert w.shape == tuple(kernel) + (3, 5)
    assert np.any(b != 0)
    expected = _relu(np_conv2d(xv, w, stride, padding, rate) + b)
    assert y.shape.as_list() == [None] + list(expected.shape[1:])
    _close(out, expected)


@pytest.mark.parametrize("stride, padding", [(1, "SAME"), (2, "SAME"), (2, "VALID"), (3, "VALID")])
def test_conv2d_nchw_matches_numpy(stride, padding):
    rng = np.random.default_rng(2)
    xv = _rand(rng, (2, 3, 8, 7))  # NCHW
    with slim.Graph().as_default():
        x = _ph([2, 3, 8, 7])
        y = slim.conv2d(
            x,
            4,
            [3, 3],
            stride=stride,
            padding=padding,
            data_format="NCHW",
            activation_fn=None,
            biases_initializer=_random_bias(),
            scope="conv",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("conv/weights"))
            b = sess.run(_var("conv/biases"))
            out = sess.run(y, feed_dict={x: xv})
    assert w.shape == (3, 3, 3, 4)  # weights stay HWIO for NCHW
    expected = _nchw(np_conv2d(_nhwc(xv), w, stride, padding) + b)
    _close(out, expected)


def test_conv2d_activation_none_and_normalizer_free_bias():
    rng = np.random.default_rng(3)
    xv = _rand(rng, (3, 5, 5, 2))
    with slim.Graph().as_default():
        x = _ph([3, 5, 5, 2])
        y = slim.conv2d(
            x, 3, [3, 3], activation_fn=None, biases_initializer=slim.constant_initializer(0.25), scope="lin"
        )
        y6 = slim.conv2d(
            x,
            3,
            [1, 1],
            activation_fn=slim.nn.relu6,
            biases_initializer=None,
            weights_initializer=slim.constant_initializer(4.0),
            scope="r6",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("lin/weights"))
            out, out6 = sess.run([y, y6], feed_dict={x: xv})
    expected = np_conv2d(xv, w) + 0.25
    assert np.any(expected < 0)
    _close(out, expected)
    _close(out6, np.clip(np.repeat(4.0 * xv.sum(axis=3, keepdims=True), 3, axis=3), 0.0, 6.0))


def test_conv2d_weights_regularizer_value():
    with slim.Graph().as_default():
        x = _ph([1, 4, 4, 2])
        slim.conv2d(x, 3, [3, 3], weights_regularizer=slim.l2_regularizer(0.05), scope="reg")
        (loss,) = slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("reg/weights"))
            value = sess.run(loss)
    # l2_regularizer(scale) = scale * sum(w ** 2) / 2
    _close(value, 0.05 * np.sum(w.astype(np.float64) ** 2) / 2)


# -------------------------------------------------------------------------------------- conv2d_transpose


@pytest.mark.parametrize(
    "in_hw, kernel, stride, padding",
    [
        ((4, 5), [3, 3], 1, "SAME"),
        ((4, 5), [3, 3], 1, "VALID"),
        ((4, 5), [3, 3], 2, "SAME"),
        ((4, 5), [3, 3], 2, "VALID"),
        ((3, 4), [4, 4], 2, "SAME"),  # even kernel: total crop 2 -> 1 before
        ((3, 2), [2, 4], [2, 1], "VALID"),
        ((3, 2), [2, 4], [2, 5], "VALID"),  # stride > kernel: zero rows appended
        ((2, 2), [1, 1], 2, "SAME"),
    ],
)
def test_conv2d_transpose_matches_numpy(in_hw, kernel, stride, padding):
    rng = np.random.default_rng(4)
    xv = _rand(rng, (2,) + in_hw + (3,))
    with slim.Graph().as_default():
        x = _ph([None, in_hw[0], in_hw[1], 3])
        y = slim.conv2d_transpose(
            x,
            4,
            kernel,
            stride=stride,
            padding=padding,
            activation_fn=None,
            biases_initializer=_random_bias(),
            scope="up",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("up/weights"))
            b = sess.run(_var("up/biases"))
            out = sess.run(y, feed_dict={x: xv})
    assert w.shape == tuple(kernel) + (4, 3)
    expected = np_conv2d_transpose(xv, w, stride, padding) + b
    assert y.shape.as_list() == [None] + list(expected.shape[1:])
    _close(out, expected)


def test_conv2d_transpose_relu_default():
    rng = np.random.default_rng(5)
    xv = _rand(rng, (1, 3, 3, 2))
    with slim.Graph().as_default():
        x = _ph([1, 3, 3, 2])
        y = slim.conv2d_transpose(x, 2, [3, 3], stride=2, scope="up")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("up/weights"))
            out = sess.run(y, feed_dict={x: xv})
    _close(out, _relu(np_conv2d_transpose(xv, w, 2, "SAME")))


# --------------------------------------------------------------------------- separable / depthwise / in-plane


@pytest.mark.parametrize(
    "stride, padding, rate",
    [(1, "SAME", 1), (2, "SAME", 1), (1, "VALID", 1), (2, "VALID", 1), (1, "SAME", 2)],
)
def test_separable_conv2d_matches_numpy(stride, padding, rate):
    rng = np.random.default_rng(6)
    xv = _rand(rng, (2, 7, 6, 3))
    with slim.Graph().as_default():
        x = _ph([2, 7, 6, 3])
        y = slim.separable_conv2d(
            x,
            5,
            [3, 3],
            depth_multiplier=2,
            stride=stride,
            padding=padding,
            rate=rate,
            biases_initializer=_random_bias(),
            scope="sep",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            dw = sess.run(_var("sep/depthwise_weights"))
            pw = sess.run(_var("sep/pointwise_weights"))
            b = sess.run(_var("sep/biases"))
            out = sess.run(y, feed_dict={x: xv})
    assert dw.shape == (3, 3, 3, 2) and pw.shape == (1, 1, 6, 5)
    depth = np_depthwise(xv, dw, stride, padding, rate)
    expected = _relu(np.tensordot(depth, pw[0, 0].astype(np.float64), axes=([3], [0])) + b)
    _close(out, expected)


@pytest.mark.parametrize("stride, padding", [(1, "SAME"), (2, "VALID")])
def test_depthwise_only_separable_conv2d_matches_numpy(stride, padding):
    rng = np.random.default_rng(7)
    xv = _rand(rng, (2, 6, 6, 3))
    with slim.Graph().as_default():
        x = _ph([None, 6, 6, 3])
        y = slim.separable_conv2d(
            x,
            None,
            [3, 3],
            depth_multiplier=3,
            stride=stride,
            padding=padding,
            activation_fn=None,
            biases_initializer=_random_bias(),
            scope="dw",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            dw = sess.run(_var("dw/depthwise_weights"))
            b = sess.run(_var("dw/biases"))
            out = sess.run(y, feed_dict={x: xv})
    assert dw.shape == (3, 3, 3, 3) and b.shape == (9,)
    _close(out, np_depthwise(xv, dw, stride, padding) + b)


def test_depthwise_separable_conv2d_nchw_matches_numpy():
    rng = np.random.default_rng(8)
    xv = _rand(rng, (2, 3, 7, 6))
    with slim.Graph().as_default():
        x = _ph([2, 3, 7, 6])
        y = slim.separable_conv2d(
            x,
            None,
            [3, 3],
            depth_multiplier=2,
            stride=2,
            data_format="NCHW",
            activation_fn=None,
            biases_initializer=_random_bias(),
            scope="dw",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            dw = sess.run(_var("dw/depthwise_weights"))
            b = sess.run(_var("dw/biases"))
            out = sess.run(y, feed_dict={x: xv})
    _close(out, _nchw(np_depthwise(_nhwc(xv), dw, 2, "SAME") + b))


def test_conv2d_in_plane_image_gradients():
    rng = np.random.default_rng(9)
    xv = _rand(rng, (5, 10, 10, 7), 0.0, 1.0)
    with slim.Graph().as_default():
        x = _ph([None, None, None, 7])
        horz = slim.conv2d_in_plane(
            x,
            weights_initializer=slim.constant_initializer([1, -1]),
            kernel_size=[1, 2],
            padding="VALID",
            activation_fn=None,
            scope="h",
        )
        vert = slim.conv2d_in_plane(
            x,
            weights_initializer=slim.constant_initializer([1, -1]),
            kernel_size=[2, 1],
            padding="VALID",
            activation_fn=None,
            scope="v",
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            h_out = sess.run(horz, feed_dict={x: xv})
            v_out = sess.run(vert, feed_dict={x: xv})
    _close(h_out, xv[:, :, :-1, :] - xv[:, :, 1:, :])
    _close(v_out, xv[:, :-1, :, :] - xv[:, 1:, :, :])


def test_conv2d_in_plane_matches_depthwise_with_tiled_kernel():
    rng = np.random.default_rng(10)
    xv = _rand(rng, (2, 7, 7, 3))
    with slim.Graph().as_default():
        x = _ph([2, 7, 7, 3])
        y = slim.conv2d_in_plane(x, [3, 3], stride=2, biases_initializer=_random_bias(), scope="ip")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("ip/weights"))
            b = sess.run(_var("ip/biases"))
            out = sess.run(y, feed_dict={x: xv})
    tiled = np.tile(w, (1, 1, 3, 1))
    _close(out, _relu(np_depthwise(xv, tiled, 2, "SAME") + b))


# ----------------------------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    "in_hw, kernel, stride, padding",
    [
        ((7, 8), [3, 3], 2, "SAME"),
        ((7, 8), [3, 3], 2, "VALID"),
        ((7, 8), [2, 2], 2, "SAME"),
        ((7, 8), [2, 2], 2, "VALID"),
        ((7, 8), [3, 3], 1, "SAME"),
        ((6, 6), [3, 2], [1, 2], "SAME"),
        ((5, 6), [5, 6], 1, "VALID"),
    ],
)
def test_pool_nhwc_matches_numpy(kind, in_hw, kernel, stride, padding):
    rng = np.random.default_rng(11)
    # Negative values make max-pooling over zero padding detectable.
    xv = _rand(rng, (2,) + in_hw + (3,), -2.0, -0.5) if kind == "max" else _rand(rng, (2,) + in_hw + (3,))
    with slim.Graph().as_default():
        x = _ph([None, in_hw[0], in_hw[1], 3])
        layer = slim.max_pool2d if kind == "max" else slim.avg_pool2d
        y = layer(x, kernel, stride=stride, padding=padding)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    _close(out, np_pool(xv, kernel, stride, padding, kind))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_nchw_same_matches_numpy(kind):
    rng = np.random.default_rng(12)
    xv = _rand(rng, (2, 3, 7, 8), -2.0, -0.5)
    with slim.Graph().as_default():
        x = _ph([2, 3, 7, 8])
        layer = slim.max_pool2d if kind == "max" else slim.avg_pool2d
        y = layer(x, [3, 3], stride=2, padding="SAME", data_format="NCHW")
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    _close(out, _nchw(np_pool(_nhwc(xv), [3, 3], 2, "SAME", kind)))


def test_pool_default_stride_is_two_valid():
    xv = np.arange(2 * 5 * 5 * 1, dtype=np.float32).reshape(2, 5, 5, 1)
    with slim.Graph().as_default():
        x = _ph([2, 5, 5, 1])
        ymax = slim.max_pool2d(x, [2, 2])
        yavg = slim.avg_pool2d(x, 2)
        with slim.Session() as sess:
            mx, av = sess.run([ymax, yavg], feed_dict={x: xv})
    _close(mx, np_pool(xv, 2, 2, "VALID", "max"))
    _close(av, np_pool(xv, 2, 2, "VALID", "avg"))
    assert mx.shape == (2, 2, 2, 1)


# -------------------------------------------------------------------------------------- fully_connected


def test_fully_connected_matches_numpy():
    rng = np.random.default_rng(13)
    xv = _rand(rng, (4, 6))
    with slim.Graph().as_default():
        x = _ph([None, 6])
        y = slim.fully_connected(x, 5, biases_initializer=_random_bias(), scope="fc")
        z = slim.fully_connected(y, 3, activation_fn=None, scope="logits")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("fc/weights"))
            b = sess.run(_var("fc/biases"))
            w2 = sess.run(_var("logits/weights"))
            out, logits = sess.run([y, z], feed_dict={x: xv})
    hidden = _relu(xv.astype(np.float64) @ w + b)
    _close(out, hidden)
    _close(logits, hidden @ w2)


def test_fully_connected_rank3_applies_to_last_axis():
    rng = np.random.default_rng(14)
    xv = _rand(rng, (2, 5, 7))
    with slim.Graph().as_default():
        x = _ph([None, 5, 7])
        y = slim.fully_connected(x, 4, activation_fn=None, biases_initializer=_random_bias(), scope="fc")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            w = sess.run(_var("fc/weights"))
            b = sess.run(_var("fc/biases"))
            out = sess.run(y, feed_dict={x: xv})
    _close(out, np.einsum("btd,dk->btk", xv.astype(np.float64), w) + b)


def test_flatten_keeps_nhwc_order():
    xv = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    with slim.Graph().as_default():
        x = _ph([None, 3, 4, 5])
        y = slim.flatten(x)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    np.testing.assert_array_equal(out, xv.reshape(2, 60))


def test_bias_add_nhwc_and_nchw():
    rng = np.random.default_rng(15)
    xv = _rand(rng, (2, 3, 4, 5))
    with slim.Graph().as_default():
        x = _ph([2, 3, 4, 5])
        y = slim.bias_add(x, initializer=_random_bias(), scope="last")
        z = slim.bias_add(
            x, activation_fn=slim.nn.relu, initializer=_random_bias(), data_format="NCHW", scope="first"
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            b_last = sess.run(_var("last/biases"))
            b_first = sess.run(_var("first/biases"))
            out_y, out_z = sess.run([y, z], feed_dict={x: xv})
    assert b_last.shape == (5,) and b_first.shape == (3,)
    _close(out_y, xv + b_last)
    _close(out_z, _relu(xv + b_first[None, :, None, None]))


# ----------------------------------------------------------------------------------------------- batch_norm


def test_batch_norm_inference_uses_moving_statistics():
    rng = np.random.default_rng(16)
    xv = _rand(rng, (4, 3, 3, 3), -3.0, 3.0)
    beta0 = np.array([0.5, -1.0, 2.0], np.float32)
    gamma0 = np.array([2.0, 0.5, 1.5], np.float32)
    mean0 = np.array([0.3, -0.2, 1.0], np.float32)
    var0 = np.array([4.0, 0.25, 1.0], np.float32)
    with slim.Graph().as_default():
        x = _ph([None, 3, 3, 3])
        y = slim.batch_norm(
            x,
            is_training=False,
            scale=True,
            param_initializers={
                "beta": slim.constant_initializer(beta0),
                "gamma": slim.constant_initializer(gamma0),
                "moving_mean": slim.constant_initializer(mean0),
                "moving_variance": slim.constant_initializer(var0),
            },
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(y, feed_dict={x: xv})
            out_again = sess.run(y, feed_dict={x: xv[:1]})
            mm = sess.run(_var("BatchNorm/moving_mean"))
            mv = sess.run(_var("BatchNorm/moving_variance"))
    expected = (xv - mean0) / np.sqrt(var0.astype(np.float64) + 0.001) * gamma0 + beta0  # epsilon 0.001
    _close(out, expected)
    _close(out_again, expected[:1])
    _close(mm, mean0)
    _close(mv, var0)


def test_batch_norm_custom_initializer_identity():
    xv = np.full((5, 3, 3, 3), 9.0, np.float32)
    with slim.Graph().as_default():
        x = _ph([5, 3, 3, 3])
        y = slim.batch_norm(
            x,
            is_training=False,
            scale=True,
            epsilon=0.0,
            param_initializers={
                "beta": slim.constant_initializer(5.0),
                "gamma": slim.constant_initializer(2.0),
                "moving_mean": slim.constant_initializer(5.0),
                "moving_variance": slim.constant_initializer(4.0),
            },
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(y, feed_dict={x: xv})
    _close(out, xv)


def test_batch_norm_inference_nchw():
    rng = np.random.default_rng(17)
    xv = _rand(rng, (2, 3, 4, 5), -2.0, 2.0)
    beta0 = np.array([2.0, 3.0, 4.0], np.float32)
    gamma0 = np.array([20.0, 22.0, 24.0], np.float32)
    mean0 = np.array([15.0, 20.0, 25.0], np.float32) * 0.1
    var0 = np.array([4.0, 8.0, 12.0], np.float32)
    with slim.Graph().as_default():
        x = _ph([2, 3, 4, 5])
        y = slim.batch_norm(
            x,
            is_training=False,
            scale=True,
            epsilon=0.5,
            data_format="NCHW",
            param_initializers={
                "beta": slim.constant_initializer(beta0),
                "gamma": slim.constant_initializer(gamma0),
                "moving_mean": slim.constant_initializer(mean0),
                "moving_variance": slim.constant_initializer(var0),
            },
        )
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(y, feed_dict={x: xv})
    c = (None, slice(None), None, None)
    expected = (xv - mean0[c]) / np.sqrt(var0[c].astype(np.float64) + 0.5) * gamma0[c] + beta0[c]
    _close(out, expected, rtol=1e-5, atol=1e-4)


def test_batch_norm_training_uses_batch_statistics_and_update_ops():
    rng = np.random.default_rng(18)
    xv = _rand(rng, (10, 2, 2, 3), 0.0, 2.0)
    axes = (0, 1, 2)
    with slim.Graph().as_default():
        x = _ph([10, 2, 2, 3])
        y = slim.batch_norm(
            x,
            decay=0.9,
            scale=True,
            param_initializers={
                "beta": slim.constant_initializer(0.5),
                "gamma": slim.constant_initializer(2.0),
            },
        )
        update_ops = slim.get_collection(slim.GraphKeys.UPDATE_OPS)
        assert len(update_ops) == 2
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(y, feed_dict={x: xv})
            # Running the layer alone does not touch the moving statistics.
            _close(sess.run(_var("BatchNorm/moving_mean")), np.zeros(3))
            _close(sess.run(_var("BatchNorm/moving_variance")), np.ones(3))
            sess.run(update_ops, feed_dict={x: xv})
            mm1 = sess.run(_var("BatchNorm/moving_mean"))
            mv1 = sess.run(_var("BatchNorm/moving_variance"))
            sess.run(update_ops, feed_dict={x: xv})
            mm2 = sess.run(_var("BatchNorm/moving_mean"))
    x64 = xv.astype(np.float64)
    mean = x64.mean(axis=axes)
    var = x64.var(axis=axes)  # the output is normalised with the biased batch variance
    _close(out, (x64 - mean) / np.sqrt(var + 0.001) * 2.0 + 0.5, atol=1e-4)
    _close(mm1, 0.9 * 0.0 + 0.1 * mean)
    _close(mm2, 0.9 * (0.1 * mean) + 0.1 * mean)
    # TF-Slim's default (fused) batch norm feeds the moving variance with the Bessel-corrected variance.
    n = xv.shape[0] * xv.shape[1] * xv.shape[2]
    _close(mv1, 0.9 * 1.0 + 0.1 * var * n / (n - 1))


def test_batch_norm_updates_collections_none_updates_in_place():
    rng = np.random.default_rng(19)
    xv = _rand(rng, (10, 2, 2, 3), 0.0, 1.0)
    with slim.Graph().as_default():
        x = _ph([10, 2, 2, 3])
        y = slim.batch_norm(x, decay=0.1, updates_collections=None)
        assert slim.get_collection(slim.GraphKeys.UPDATE_OPS) == []
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(10):
                out = sess.run(y, feed_dict={x: xv})
            mm = sess.run(_var("BatchNorm/moving_mean"))
    mean = xv.astype(np.float64).mean(axis=(0, 1, 2))
    var = xv.astype(np.float64).var(axis=(0, 1, 2))
    _close(mm, mean)  # after 10 updates with decay 0.1 the moving mean has converged
    _close(out, (xv - mean) / np.sqrt(var + 0.001), atol=1e-4)


def test_batch_norm_is_training_false_never_updates():
    rng = np.random.default_rng(20)
    xv = _rand(rng, (6, 2, 2, 3))
    with slim.Graph().as_default():
        x = _ph([6, 2, 2, 3])
        y = slim.batch_norm(x, decay=0.1, is_training=False, updates_collections=None)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for _ in range(3):
                out = sess.run(y, feed_dict={x: xv})
            mm = sess.run(_var("BatchNorm/moving_mean"))
            mv = sess.run(_var("BatchNorm/moving_variance"))
    _close(mm, np.zeros(3))
    _close(mv, np.ones(3))
    _close(out, xv / np.sqrt(1.001))


def test_batch_norm_rank2_training():
    rng = np.random.default_rng(21)
    xv = _rand(rng, (8, 4), -1.0, 3.0)
    with slim.Graph().as_default():
        x = _ph([8, 4])
        y = slim.batch_norm(x, center=False)
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            out = sess.run(y, feed_dict={x: xv})
    x64 = xv.astype(np.float64)
    _close(out, (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 0.001), atol=1e-4)


# -------------------------------------------------------------------------------------------------- dropout


def test_dropout_training_keeps_fraction_and_scales():
    keep_prob = 0.7
    xv = np.ones((200, 50), np.float32)
    with slim.Graph().as_default():
        x = _ph([None, 50])
        y = slim.dropout(x, keep_prob)
        with slim.Session() as sess:
            out1 = sess.run(y, feed_dict={x: xv})
            out2 = sess.run(y, feed_dict={x: xv})
    for out in (out1, out2):
        kept = out != 0
        assert 0.66 < kept.mean() < 0.74
        np.testing.assert_allclose(out[kept], 1.0 / keep_prob, rtol=1e-6)
    # A fresh mask on every run.
    assert np.any((out1 != 0) != (out2 != 0))


def test_dropout_noise_shape_broadcasts_mask():
    xv = np.ones((400, 6), np.float32)
    with slim.Graph().as_default():
        x = _ph([400, 6])
        y = slim.dropout(x, 0.5, noise_shape=[400, 1])
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    rows_kept = out[:, 0] != 0
    # Whole rows are kept or dropped together.
    np.testing.assert_array_equal(out, np.where(rows_kept[:, None], np.full((400, 6), 2.0), 0.0))
    assert 0.35 < rows_kept.mean() < 0.65


def test_dropout_keep_prob_one_and_not_training_pass_through():
    rng = np.random.default_rng(22)
    xv = _rand(rng, (5, 8))
    with slim.Graph().as_default():
        x = _ph([5, 8])
        y1 = slim.dropout(x, 1.0)
        y2 = slim.dropout(x, 0.1, is_training=False)
        with slim.Session() as sess:
            o1, o2 = sess.run([y1, y2], feed_dict={x: xv})
    _close(o1, xv)
    np.testing.assert_array_equal(o2, xv)


# ---------------------------------------------------------------- layer_norm / unit_norm / softmax / ...


@pytest.mark.parametrize(
    "shape, begin_norm_axis", [((4, 3, 5, 6), 1), ((4, 3, 5, 6), -1), ((6, 30), 1), ((4, 3, 5, 6), 2)]
)
def test_layer_norm_matches_numpy(shape, begin_norm_axis):
    rng = np.random.default_rng(23)
    xv = (rng.standard_normal(shape) * 3.0 + 2.0).astype(np.float32)
    with slim.Graph().as_default():
        x = _ph(list(shape))
        y = slim.layer_norm(x, begin_norm_axis=begin_norm_axis, activation_fn=slim.nn.relu, scope="LN")
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            beta = sess.run(_var("LN/beta"))
            gamma = sess.run(_var("LN/gamma"))
            out = sess.run(y, feed_dict={x: xv})
    _close(beta, np.zeros(shape[-1]))
    _close(gamma, np.ones(shape[-1]))
    axis = begin_norm_axis % len(shape)
    axes = tuple(range(axis, len(shape)))
    x64 = xv.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    var = x64.var(axis=axes, keepdims=True)
    _close(out, _relu((x64 - mean) / np.sqrt(var + 1e-12) * gamma + beta), atol=1e-4)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_unit_norm_matches_numpy(dim):
    rng = np.random.default_rng(24)
    xv = _rand(rng, (2, 3, 4))
    with slim.Graph().as_default():
        x = _ph([None, None, 4])
        y = slim.unit_norm(x, dim=dim, epsilon=1e-6)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    x64 = xv.astype(np.float64)
    _close(out, x64 / np.sqrt(1e-6 + np.sum(x64**2, axis=dim, keepdims=True)))
    _close(
        np.sqrt(np.sum(out.astype(np.float64) ** 2, axis=dim)), np.ones(np.delete(xv.shape, dim)), atol=1e-4
    )


def test_softmax_2d_and_3d():
    low = 1 / (1 + math.e)
    high = math.e / (1 + math.e)
    logits3 = np.ones((2, 3, 2), np.float32)
    logits3[0, 0, 0] = 0
    logits3[1, 1, 1] = 0
    expected3 = np.full((2, 3, 2), 0.5)
    expected3[0, 0] = [low, high]
    expected3[1, 1] = [high, low]
    with slim.Graph().as_default():
        a = _ph([3, 2], name="a")
        b = _ph([None, None, 2], name="b")
        pa = slim.softmax(a)
        pb = slim.softmax(b)
        with slim.Session() as sess:
            oa = sess.run(pa, feed_dict={a: np.array([[0, 1], [1, 1], [1, 0]], np.float32)})
            ob = sess.run(pb, feed_dict={b: logits3})
    _close(oa, [[low, high], [0.5, 0.5], [high, low]])
    _close(ob, expected3)


def test_softmax_large_logits_stable():
    xv = np.array([[1000.0, 1001.0, 999.0], [-50.0, 0.0, 50.0]], np.float32)
    with slim.Graph().as_default():
        x = _ph([2, 3])
        y = slim.softmax(x)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    e = np.exp(xv.astype(np.float64) - xv.max(axis=1, keepdims=True))
    _close(out, e / e.sum(axis=1, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1])
def test_l2_normalize_matches_numpy(axis):
    rng = np.random.default_rng(25)
    xv = _rand(rng, (4, 5))
    xv[1, :] = 0.0  # a zero row must stay zero (sum is clamped at epsilon)
    with slim.Graph().as_default():
        x = _ph([4, 5])
        y = slim.nn.l2_normalize(x, axis=axis)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    x64 = xv.astype(np.float64)
    expected = x64 / np.sqrt(np.maximum(np.sum(x64**2, axis=axis, keepdims=True), 1e-12))
    _close(out, expected)
    assert np.all(np.isfinite(out))


def test_l2_normalize_epsilon_floor():
    xv = np.array([[3e-7, 4e-7]], np.float32)
    with slim.Graph().as_default():
        x = _ph([1, 2])
        y = slim.nn.l2_normalize(x, axis=1, epsilon=1e-10)
        with slim.Session() as sess:
            out = sess.run(y, feed_dict={x: xv})
    # sum of squares 2.5e-13 < epsilon: divided by sqrt(epsilon) instead of the norm.
    _close(out, xv.astype(np.float64) / 1e-5, rtol=1e-4, atol=0)


def test_one_hot_encoding_values():
    with slim.Graph().as_default():
        y = slim.one_hot_encoding(slim.constant(np.array([0, 1, 2], np.int32)), num_classes=3)
        z = slim.one_hot_encoding(
            slim.constant(np.array([3, 0, 1, 3], np.int64)), num_classes=4, on_value=0.9, off_value=0.1 / 3
        )
        with slim.Session() as sess:
            oy = sess.run(y)
            oz = sess.run(z)
    assert oy.dtype == np.float32
    np.testing.assert_array_equal(oy, np.eye(3, dtype=np.float32))
    expected = np.full((4, 4), 0.1 / 3)
    expected[np.arange(4), [3, 0, 1, 3]] = 0.9
    _close(oz, expected)
