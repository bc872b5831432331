"""The image resizing op ("resize", and its gradient "resize_grad"): the ONNX lowering against the numpy
reference for every method and pixel-center rule (static and run-time sizes), and the reference against the values
TensorFlow's own image_ops_test.py asserts (tf.image.resize v1 and v2, resize_bilinear/nearest/bicubic/area)."""

from __future__ import annotations

import numpy as np
import pytest

import slimir as slim
from slimir.errors import DTypeError, InvalidArgumentError, ShapeError
from slimir.ir.reference import evaluate
from slimir.ir.registry import apply_op, get_op
from slimir.ops import image

MODES = [(False, False), (True, False), (False, True)]  # (align_corners, half_pixel_centers)


def _run(build, feeds):
    """Session (ONNX Runtime) and reference results of `build()` -> list of tensors, fed `feeds`."""
    g = slim.Graph()
    with g.as_default():
        outs, feed = build()
        with slim.Session(graph=g) as sess:
            got = sess.run(outs, feed)
        want = evaluate(outs, feed)
    return outs, got, want


# ------------------------------------------------------------------------------------------
# lowering == reference, every method and mode, sizes that hit TF's corner cases


_SIZES = [(1, 3), (3, 1), (2, 5), (5, 3), (14, 2), (6, 9), (7, 23), (16, 16)]


@pytest.mark.parametrize("method", ["bilinear", "nearest", "bicubic", "area"])
@pytest.mark.parametrize("ac,hp", MODES)
def test_lowering_matches_reference(method, ac, hp):
    if method == "area" and hp:
        pytest.skip("resize_area has no half_pixel_centers")
    rng = np.random.default_rng(7)
    sizes = [(h, o) for h, o in _SIZES if not (method == "area" and ac and h == 1)]

    def build():
        outs, feed = [], {}
        for h, oh in sizes:
            w, ow = (h + 2, max(1, oh - 1))
            x = slim.placeholder(slim.float32, [2, h, w, 3])
            feed[x] = rng.standard_normal((2, h, w, 3)).astype(np.float32)
            outs.append(apply_op("resize", [x], method=method, size=(oh, ow), align_corners=ac,
                                 half_pixel_centers=hp))
            if method != "area":  # run-time input and output sizes
                xd = slim.placeholder(slim.float32, [None, None, None, 3])
                sz = slim.placeholder(slim.int32, [2])
                feed[xd], feed[sz] = feed[x], np.array([oh, ow], np.int32)
                outs.append(apply_op("resize", [xd, sz], method=method, size=None, align_corners=ac,
                                     half_pixel_centers=hp))
        return outs, feed

    outs, got, want = _run(build, None)
    for t, a, b in zip(outs, got, want):
        assert a.shape == b.shape
        assert all(s is None or s == d for s, d in zip(t.shape, a.shape))
        if method == "nearest":
            np.testing.assert_array_equal(a, b, err_msg=t.name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=t.name)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.int64, np.float16, np.float64])
def test_nearest_keeps_any_dtype(dtype):
    x0 = (np.arange(2 * 5 * 4 * 2) % 100).astype(dtype).reshape(2, 5, 4, 2)

    def build():
        x = slim.placeholder(slim.as_dtype(dtype), [2, 5, 4, 2])
        return [apply_op("resize", [x], method="nearest", size=(7, 3), align_corners=True,
                         half_pixel_centers=False)], {x: x0}

    outs, got, want = _run(build, None)
    assert got[0].dtype == dtype
    np.testing.assert_array_equal(got[0], want[0])


def test_nearest_is_tf_exact_where_onnx_resize_rounds_the_other_way():
    """14 -> 2 rows: TF takes source row floor(1 * 7.0) = 7; ONNX Resize's asymmetric mode computes 1 / (2/14) =
    6.9999995 and takes row 6. slimir's lowering gathers TF's rows."""
    np.testing.assert_array_equal(image.nearest_indices(14, 2, False, False), [0, 7])
    x0 = np.arange(14, dtype=np.float32).reshape(1, 14, 1, 1)

    def build():
        x = slim.placeholder(slim.float32, [1, 14, 1, 1])
        return [apply_op("resize", [x], method="nearest", size=(2, 1), align_corners=False,
                         half_pixel_centers=False)], {x: x0}

    _, got, _ = _run(build, None)
    np.testing.assert_array_equal(got[0].reshape(-1), [0, 7])


def test_resize_grad_lowering():
    rng = np.random.default_rng(3)
    for method, ac, hp in [("bilinear", False, True), ("nearest", True, False), ("bicubic", False, False),
                           ("area", False, False)]:
        def build():
            x = slim.placeholder(slim.float32, [2, 5, 7, 3])
            g = slim.placeholder(slim.float32, [2, 8, 4, 3])
            y = apply_op("resize", [x], method=method, size=(8, 4), align_corners=ac, half_pixel_centers=hp)
            gx = apply_op("resize_grad", [g, x], **y.op.attrs)
            return [gx], {x: rng.standard_normal((2, 5, 7, 3)).astype(np.float32),
                          g: rng.standard_normal((2, 8, 4, 3)).astype(np.float32)}

        _, got, want = _run(build, None)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_flops():
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [1, 6, 6, 3])
        ys = {m: apply_op("resize", [x], method=m, size=(4, 4), align_corners=False, half_pixel_centers=False)
              for m in ("nearest", "bilinear", "bicubic", "area")}
        n = 4 * 4 * 3
        assert get_op("resize").flops(ys["nearest"].op) == 0
        assert get_op("resize").flops(ys["bilinear"].op) == 2 * 4 * n
        assert get_op("resize").flops(ys["bicubic"].op) == 2 * 16 * n
        assert get_op("resize").flops(ys["area"].op) == 2 * 4 * n  # 6 -> 4: each output covers 2 cells per axis


# ------------------------------------------------------------------------------------------
# TensorFlow's image_ops_test.py values (ResizeImagesV2Test, ResizeImagesTest)

_UP = np.array([64, 32, 32, 64, 50, 100]).reshape(1, 3, 2, 1)
_NN_UP = [64, 64, 32, 32, 64, 64, 32, 32, 32, 32, 64, 64, 32, 32, 64, 64, 50, 50, 100, 100, 50, 50, 100, 100]
_V2_UP = {
    "bilinear": [64, 56, 40, 32, 56, 52, 44, 40, 40, 44, 52, 56, 36.5, 45.625, 63.875, 73, 45.5, 56.875, 79.625, 91,
                 50, 62.5, 87.5, 100],
    "nearest": _NN_UP,
    "area": _NN_UP,
    "bicubic": [70.1453, 59.0252, 36.9748, 25.8547, 59.3195, 53.3386, 41.4789, 35.4981, 36.383, 41.285, 51.0051,
                55.9071, 30.2232, 42.151, 65.8032, 77.731, 41.6492, 55.823, 83.9288, 98.1026, 47.0363, 62.2744,
                92.4903, 107.7284],
}
_TYPES = [np.uint8, np.int8, np.int16, np.int32, np.int64, np.float16, np.float32, np.float64]


def _session_value(fn):
    with slim.Graph().as_default() as g:
        out = fn()
        with slim.Session(graph=g) as sess:
            return out, sess.run(out)


@pytest.mark.parametrize("method", sorted(_V2_UP))
def test_tf2_resize_up(method):
    for dt in _TYPES:
        out, got = _session_value(lambda: image.resize_images_v2(slim.constant(_UP.astype(dt)), [6, 4], method))
        np.testing.assert_allclose(got.reshape(-1), _V2_UP[method], atol=1e-4)
        assert out.dtype is (slim.as_dtype(dt) if method == "nearest" else slim.float32)


def test_tf1_resize_up_align_corners_false():
    want = {image.ResizeMethodV1.BILINEAR: [64, 48, 32, 32, 48, 48, 48, 48, 32, 48, 64, 64, 41, 61.5, 82, 82, 50,
                                                75, 100, 100, 50, 75, 100, 100],
            image.ResizeMethodV1.NEAREST_NEIGHBOR: _NN_UP, image.ResizeMethodV1.AREA: _NN_UP}
    for dt in _TYPES:
        for m, vals in want.items():
            _, got = _session_value(lambda: image.resize_images(slim.constant(_UP.astype(dt)), [6, 4], m,
                                                                    align_corners=False))
            np.testing.assert_allclose(got.reshape(-1), vals, atol=1e-5)


def test_tf1_resize_up_align_corners_true():
    x = np.array([6, 3, 3, 6, 6, 9]).reshape(1, 3, 2, 1)
    want = {image.ResizeMethodV1.BILINEAR: [6, 5, 4, 3, 4.5, 4.5, 4.5, 4.5, 3, 4, 5, 6, 4.5, 5.5, 6.5, 7.5, 6, 7,
                                                8, 9],
            image.ResizeMethodV1.NEAREST_NEIGHBOR: [6, 6, 3, 3, 3, 3, 6, 6, 3, 3, 6, 6, 6, 6, 9, 9, 6, 6, 9, 9],
            image.ResizeMethodV1.AREA: [6, 6, 6, 3, 6, 6, 6, 3, 3, 3, 3, 6, 3, 3, 3, 6, 6, 6, 6, 9]}
    for dt in _TYPES:
        for m, vals in want.items():
            _, got = _session_value(lambda: image.resize_images(slim.constant(x.astype(dt)), [5, 4], m,
                                                                    align_corners=True))
            np.testing.assert_allclose(got.reshape(-1), vals, atol=1e-5)


def test_tf1_resize_up_bicubic():
    x = np.array([128, 128, 64, 64, 128, 128, 64, 64, 64, 64, 128, 128, 64, 64, 128, 128, 50, 50, 100, 100, 50, 50,
                  100, 100, 50, 50, 100, 100, 50, 50, 100, 100, 50, 50, 100, 100], np.uint8).reshape(1, 6, 6, 1)
    want = [128, 135, 96, 55, 64, 114, 134, 128, 78, 81, 68, 52, 57, 118, 144, 136, 55, 49, 79, 109, 103, 89, 83, 84,
            74, 70, 95, 122, 115, 69, 49, 55, 100, 105, 75, 43, 50, 89, 105, 100, 57, 54, 74, 96, 91, 65, 55, 58, 70,
            69, 75, 81, 80, 72, 69, 70, 105, 112, 75, 36, 45, 92, 111, 105]
    _, got = _session_value(lambda: image.resize_images(slim.constant(x), [8, 8],
                                                            image.ResizeMethodV1.BICUBIC))
    np.testing.assert_allclose(got.reshape(-1), want, atol=1)


@pytest.mark.parametrize("v2", [False, True])
def test_resize_down_area(v2):
    x = np.array([128, 64, 32, 16, 8, 4, 4, 8, 16, 32, 64, 128, 128, 64, 32, 16, 8, 4, 5, 10, 15, 20, 25, 30, 30, 25,
                  20, 15, 10, 5, 5, 10, 15, 20, 25, 30], np.uint8).reshape(1, 6, 6, 1)
    fn = image.resize_images_v2 if v2 else image.resize_images
    _, got = _session_value(lambda: fn(slim.constant(x), [4, 4], "area"))
    np.testing.assert_allclose(got.reshape(-1), [73, 33, 23, 39, 73, 33, 23, 39, 14, 16, 19, 21, 14, 16, 19, 21],
                               atol=1)


_DOWN = np.array([127, 127, 64, 64, 127, 127, 64, 64, 64, 64, 127, 127, 64, 64, 127, 127, 50, 50, 100, 100, 50, 50,
                  100, 100])


@pytest.mark.parametrize("shape", [(1, 6, 4, 1), (6, 4, 1)])
def test_resize_down_nearest_3d_and_4d(shape):
    for dt in _TYPES:
        out, got = _session_value(lambda: image.resize_images(slim.constant(_DOWN.astype(dt).reshape(shape)),
                                                                  [3, 2], image.ResizeMethodV1.NEAREST_NEIGHBOR))
        assert got.shape == shape[:-3] + (3, 2, 1)
        np.testing.assert_allclose(got.reshape(-1), [127, 64, 64, 127, 50, 100])


def test_no_op_resizes():
    """Same size: TF1's resize_images returns the images themselves (dtype kept); TF2's resize computes, with the
    same values, in float32 (nearest keeps the dtype)."""
    x = _DOWN.reshape(1, 6, 4, 1)
    for dt in _TYPES:
        for m in image.METHODS:
            out, got = _session_value(lambda: image.resize_images(slim.constant(x.astype(dt)), [6, 4], m))
            assert out.dtype is slim.as_dtype(dt) and out.op.type == "const"
            out, got = _session_value(lambda: image.resize_images_v2(slim.constant(x.astype(dt)), [6, 4], m))
            np.testing.assert_allclose(got, x, atol=1e-5)
            assert out.dtype is (slim.as_dtype(dt) if m == "nearest" else slim.float32)


def test_size_as_tensors():
    """A placeholder size (run-time), and a size built from constants (TF's testSumTensor) that is static."""
    x = _DOWN.reshape(1, 6, 4, 1).astype(np.uint8)
    for m in image.METHODS:
        with slim.Graph().as_default() as g:
            if m != "area":
                size = slim.placeholder(slim.int32, [2])
                y = image.resize_images_v2(slim.constant(x), size, m)
                assert y.shape == [1, None, None, 1]
                with slim.Session(graph=g) as sess:
                    np.testing.assert_allclose(sess.run(y, {size: [6, 4]}), x, atol=1e-5)
            width = slim.add(slim.constant(1), slim.constant(3))
            y = image.resize_images_v2(slim.constant(x), [slim.constant(6), width], m)
            assert y.shape == [1, 6, 4, 1]


def test_shape_inference():
    cases = [([50, 60, 3], [55, 66, 3]), ([None, 60, 3], [55, 66, 3]), ([None, None, 3], [55, 66, 3]),
             ([50, 60, None], [55, 66, None]), ([None, None, None], [55, 66, None])]
    with slim.Graph().as_default():
        for pre, post in cases:
            for fn in (image.resize_images, image.resize_images_v2):
                assert fn(slim.placeholder(slim.float32, pre), [55, 66]).shape.as_list() == post
                assert fn(slim.placeholder(slim.float32, [99] + pre), [55, 66]).shape.as_list() == [99] + post
                assert fn(slim.placeholder(slim.float32, [None] + pre), [55, 66]).shape.as_list() == [None] + post
        y = image.resize_images(slim.placeholder(slim.float32, [50, 60, 3]), [55, 66])
        assert y.op.name.startswith("resize")


def test_bad_sizes_and_arguments():
    with slim.Graph().as_default():
        img = slim.constant(np.zeros((6, 4, 1), np.uint8))
        for size in (slim.constant(4), slim.constant([4]), slim.constant([1, 2, 3]), slim.constant([6.0, 4.0]),
                     [6, 4.0], [None, 4], [6, None]):
            with pytest.raises(ValueError):
                image.resize_images_v2(img, size, "bilinear")
        x = slim.placeholder(slim.float32, [1, 4, 4, 1])
        with pytest.raises(InvalidArgumentError, match="If half_pixel_centers is True, align_corners must be False."):
            image.resize_bilinear(x, [2, 2], align_corners=True, half_pixel_centers=True)
        with pytest.raises(InvalidArgumentError, match="lanczos3"):
            image.resize_images_v2(x, [2, 2], "lanczos3")
        with pytest.raises(InvalidArgumentError, match="antialias"):
            image.resize_images_v2(x, [2, 2], "bilinear", antialias=True)
        with pytest.raises(InvalidArgumentError, match="Resize method is not implemented."):
            image.resize_images(x, [2, 2], 7)
        with pytest.raises(InvalidArgumentError, match="preserve_aspect_ratio"):
            image.resize_images(x, [2, 2], preserve_aspect_ratio=True)
        with pytest.raises(ShapeError, match="rank 4"):
            apply_op("resize", [slim.placeholder(slim.float32, [4, 4])], method="nearest", size=(2, 2),
                     align_corners=False, half_pixel_centers=False)
        with pytest.raises(DTypeError, match="floating"):
            apply_op("resize", [slim.placeholder(slim.int32, [1, 4, 4, 1])], method="bilinear", size=(2, 2),
                     align_corners=False, half_pixel_centers=False)
        with pytest.raises(InvalidArgumentError, match="static size"):
            image.resize_area(x, slim.placeholder(slim.int32, [2]))
        with pytest.raises(ShapeError, match="resize_area needs images of known height"):
            image.resize_area(slim.placeholder(slim.float32, [1, None, 4, 1]), [2, 2])
        with pytest.raises(ShapeError, match="input must be 4-dimensional"):
            image.resize_bilinear(slim.placeholder(slim.float32, [4, 4, 1]), [2, 2])
