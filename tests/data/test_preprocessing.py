"""slimir.preprocessing: research/slim's preprocessing functions on numpy images, checked against
hand-computed values (crop offsets, means, resize weights), torch's bilinear interpolate, and seeds."""

import colorsys

import numpy as np
import pytest

from slimir.errors import InvalidArgumentError, ShapeError
from slimir.preprocessing import (
    cifarnet_preprocessing,
    get_preprocessing,
    image_ops,
    inception_preprocessing,
    lenet_preprocessing,
    preprocessing_factory,
    vgg_preprocessing,
)

MEANS = np.array([123.68, 116.78, 103.94], np.float32)


def _image(h, w, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


# ----------------------------------------------------------------------------------------------
# resize


def test_bilinear_upscale_matches_hand_computed_half_pixel_values():
    img = np.array([[0.0, 10.0], [20.0, 30.0]], np.float32)[:, :, None]
    out = image_ops.resize_bilinear(img, 4, 4)[:, :, 0]
    # half-pixel centres: source rows/cols of the 4 outputs are -0.25, 0.25, 0.75, 1.25 -> weights 0, .25, .75, 1
    f = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(out, 20 * f[:, None] + 10 * f[None, :], atol=1e-6)
    assert out[1, 2] == pytest.approx(12.5)


def test_bilinear_downscale_and_legacy_mode():
    col = np.arange(4, dtype=np.float32)[:, None, None]  # 4x1x1
    np.testing.assert_allclose(image_ops.resize_bilinear(col, 2, 1)[:, 0, 0], [0.5, 2.5])
    # TF1's legacy resize_bilinear: source = i * scale (0, 2)
    np.testing.assert_allclose(image_ops.resize_bilinear(col, 2, 1, half_pixel_centers=False)[:, 0, 0], [0.0, 2.0])
    img = np.array([[0.0, 10.0], [20.0, 30.0]], np.float32)[:, :, None]
    legacy = image_ops.resize_bilinear(img, 4, 4, half_pixel_centers=False)[:, :, 0]
    f = np.array([0.0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(legacy, 20 * f[:, None] + 10 * f[None, :], atol=1e-6)
    corners = image_ops.resize_bilinear(img, 3, 3, half_pixel_centers=False, align_corners=True)[:, :, 0]
    np.testing.assert_allclose(corners, [[0, 5, 10], [10, 15, 20], [20, 25, 30]], atol=1e-6)


def test_bilinear_identity_and_window():
    img = _image(9, 11)
    np.testing.assert_array_equal(image_ops.resize_bilinear(img, 9, 11), img.astype(np.float32))
    full = image_ops.resize_bilinear(img, 20, 30)
    np.testing.assert_allclose(image_ops.resize_bilinear(img, 20, 30, window=(3, 7, 10, 12)),
                               full[3:13, 7:19], rtol=0, atol=1e-5)
    with pytest.raises(InvalidArgumentError, match="window"):
        image_ops.resize_bilinear(img, 20, 30, window=(15, 0, 10, 10))


@pytest.mark.parametrize("size", [(13, 5), (4, 20), (7, 9), (3, 3)])
def test_bilinear_matches_torch_interpolate(size):
    torch = pytest.importorskip("torch")
    img = np.random.default_rng(1).random((7, 9, 3)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None], size=size, mode="bilinear",
                                          align_corners=False, antialias=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(image_ops.resize_bilinear(img, *size), ref, rtol=0, atol=1e-5)


def test_smallest_size_at_least_keeps_aspect():
    assert image_ops.smallest_size_at_least(300, 400, 256) == (256, 341)
    assert image_ops.smallest_size_at_least(500, 250, 256) == (512, 256)


# ----------------------------------------------------------------------------------------------
# crops, pads, colour


def test_central_crop_and_crop_or_pad_offsets():
    img = np.arange(16 * 20).reshape(16, 20, 1)
    c = image_ops.central_crop(img, 0.875)  # int((16 - 14) / 2) = 1, int((20 - 17.5) / 2) = 1
    np.testing.assert_array_equal(c, img[1:15, 1:19])
    np.testing.assert_array_equal(image_ops.resize_image_with_crop_or_pad(img, 10, 10), img[3:13, 5:15])
    padded = image_ops.resize_image_with_crop_or_pad(img, 20, 24)
    assert padded.shape == (20, 24, 1)
    np.testing.assert_array_equal(padded[2:18, 2:22], img)
    assert padded[:2].sum() == 0 and padded[:, :2].sum() == 0 and padded[18:].sum() == 0
    mixed = image_ops.resize_image_with_crop_or_pad(img, 20, 10)  # pad rows by 2, crop cols at 5
    np.testing.assert_array_equal(mixed[2:18], img[:, 5:15])


def test_per_image_standardization_numbers():
    x = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    out = image_ops.per_image_standardization(x)
    np.testing.assert_allclose(out, (x - 5.5) / np.std(np.arange(12)), rtol=1e-6)
    const = image_ops.per_image_standardization(np.full((4, 4, 3), 7.0))
    np.testing.assert_array_equal(const, np.zeros((4, 4, 3), np.float32))  # stddev floored at 1/sqrt(N)


def test_hsv_matches_colorsys_and_round_trips():
    rgb = np.random.default_rng(3).random((5, 6, 3)).astype(np.float32)
    hsv = image_ops.rgb_to_hsv(rgb)
    for y, x in [(0, 0), (2, 3), (4, 5)]:
        np.testing.assert_allclose(hsv[y, x], colorsys.rgb_to_hsv(*rgb[y, x]), atol=1e-6)
    np.testing.assert_allclose(image_ops.hsv_to_rgb(hsv), rgb, atol=1e-6)
    gray = image_ops.adjust_saturation(rgb, 0.0)
    np.testing.assert_allclose(gray, np.repeat(rgb.max(-1, keepdims=True), 3, -1), atol=1e-6)
    np.testing.assert_allclose(image_ops.adjust_hue(rgb, 1.0), rgb, atol=1e-5)
    red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(image_ops.adjust_hue(red, 1 / 3), [[[0.0, 1.0, 0.0]]], atol=1e-6)
    np.testing.assert_allclose(image_ops.adjust_contrast(np.array([[[1.0], [3.0]]]), 2.0)[:, :, 0], [[0.0, 4.0]])
    np.testing.assert_allclose(image_ops.rgb_to_grayscale(np.array([[[255, 0, 0]]]))[0, 0, 0], 255 * 0.2989, rtol=1e-6)


def test_sample_distorted_bounding_box_respects_ranges():
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, h, w = image_ops.sample_distorted_bounding_box(rng, 100, 150)
        assert 0 <= top and top + h <= 100 and 0 <= left and left + w <= 150
        assert 0.05 * 15000 * 0.9 <= h * w <= 15000
        if (h, w) != (100, 150):
            assert 0.75 * 0.8 <= w / h <= 1.33 * 1.25
    # a small box in the corner must be covered to at least 90%
    for _ in range(50):
        top, left, h, w = image_ops.sample_distorted_bounding_box(rng, 100, 100, [0.0, 0.0, 0.2, 0.2],
                                                                  min_object_covered=0.9)
        covered = max(0, min(20, top + h) - top) * max(0, min(20, left + w) - left)
        assert covered >= 0.9 * 400
    with pytest.raises(InvalidArgumentError, match="bbox"):
        image_ops.sample_distorted_bounding_box(rng, 10, 10, [0.5, 0.0, 0.2, 1.0])


# ----------------------------------------------------------------------------------------------
# vgg


def test_vgg_eval_is_central_crop_minus_means():
    img = _image(256, 300)  # smaller side already 256: the resize is the identity
    out = get_preprocessing("vgg_16")(img, 224, 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, img[16:240, 38:262].astype(np.float32) - MEANS, atol=1e-4)


def test_vgg_eval_resizes_smaller_side_to_256():
    img = _image(128, 150)
    out = vgg_preprocessing.preprocess_image(img, 224, 224)
    ref = image_ops.resize_bilinear(img, 256, 300)[16:240, 38:262] - MEANS
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_vgg_train_is_a_random_crop_maybe_flipped_and_deterministic():
    img = _image(256, 280)
    fn = get_preprocessing("vgg_a", is_training=True)
    seen_flip = set()
    offsets = set()
    for seed in range(12):
        out = fn(img, 224, 224, resize_side_min=256, resize_side_max=256, seed=seed) + MEANS
        np.testing.assert_array_equal(out, fn(img, 224, 224, resize_side_min=256, resize_side_max=256,
                                              seed=seed) + MEANS)
        found = None
        for flip in (False, True):
            cand = out[:, ::-1] if flip else out
            for t in range(256 - 224 + 1):
                for left in range(280 - 224 + 1):
                    if np.allclose(cand[0, :4], img[t, left:left + 4]) and np.allclose(cand, img[t:t + 224,
                                                                                             left:left + 224]):
                        found = (flip, t, left)
                        break
                if found:
                    break
            if found:
                break
        assert found is not None, f"seed {seed}: output is not a crop of the image"
        seen_flip.add(found[0])
        offsets.add(found[1:])
    assert seen_flip == {False, True} and len(offsets) > 6


def test_vgg_train_resize_side_range_and_errors():
    img = _image(100, 120)
    out = vgg_preprocessing.preprocess_image(img, 224, 224, is_training=True, seed=5)
    assert out.shape == (224, 224, 3)
    assert not np.array_equal(out, vgg_preprocessing.preprocess_image(img, 224, 224, is_training=True, seed=6))
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        vgg_preprocessing.preprocess_image(img, 300, 300, resize_side_min=256)
    with pytest.raises(ShapeError, match="height, width, channels"):
        vgg_preprocessing.preprocess_image(np.zeros((2, 3, 4, 5)), 224, 224)
    gray = get_preprocessing("vgg_16", use_grayscale=True)(_image(256, 256), 224, 224)
    assert gray.shape == (224, 224, 1)


# ----------------------------------------------------------------------------------------------
# inception


def test_inception_eval_central_fraction_and_scaling():
    img = _image(16, 16)
    out = inception_preprocessing.preprocess_image(img, 14, 14)  # 0.875 * 16 = 14: crop [1:15], no resize
    np.testing.assert_allclose(out, (img[1:15, 1:15] / 255.0 - 0.5) * 2.0, atol=1e-6)
    big = get_preprocessing("inception_v3")(_image(64, 80), 32, 32)
    ref = (image_ops.resize_bilinear(_image(64, 80)[4:60, 5:75] / 255.0, 32, 32) - 0.5) * 2.0
    np.testing.assert_allclose(big, ref, atol=1e-5)
    assert big.min() >= -1.0 and big.max() <= 1.0


def test_inception_train_range_seed_and_modes():
    img = _image(60, 80)
    fn = get_preprocessing("mobilenet_v1", is_training=True)
    a = fn(img, 32, 32, seed=3)
    assert a.shape == (32, 32, 3) and a.dtype == np.float32
    assert -1.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, fn(img, 32, 32, seed=3))
    assert not np.array_equal(a, fn(img, 32, 32, seed=4))
    slow = fn(img, 32, 32, seed=3, fast_mode=False)
    assert -1.0 <= slow.min() and slow.max() <= 1.0
    # without the random crop and with saturation/brightness only, the mean stays near the image's
    nocrop = fn(img, 60, 80, seed=0, crop_image=False)
    assert abs(float(nocrop.mean()) - float((img / 255.0 - 0.5).mean() * 2)) < 0.35
    with pytest.raises(InvalidArgumentError, match="color_ordering"):
        inception_preprocessing.distort_color(np.zeros((2, 2, 3), np.float32), 2, True, np.random.default_rng())


# ----------------------------------------------------------------------------------------------
# lenet, cifarnet


def test_lenet_values_and_padding():
    img = np.full((8, 8, 1), 200, np.uint8)
    out = lenet_preprocessing.preprocess_image(img, 12, 12, is_training=True)
    assert out.shape == (12, 12, 1)
    np.testing.assert_allclose(out[2:10, 2:10], (200 - 128) / 128)
    np.testing.assert_allclose(out[:2], -1.0)
    same = get_preprocessing("lenet")(img, 8, 8)
    np.testing.assert_allclose(same, np.full((8, 8, 1), 0.5625, np.float32))


def test_cifarnet_eval_crop_and_standardization():
    img = _image(32, 32)
    out = cifarnet_preprocessing.preprocess_image(img, 28, 28)
    crop = img[2:30, 2:30].astype(np.float64)
    np.testing.assert_allclose(out, (crop - crop.mean()) / crop.std(), rtol=1e-4, atol=1e-5)


def test_cifarnet_train_is_standardized_and_deterministic():
    img = _image(32, 32)
    fn = get_preprocessing("cifarnet", is_training=True)
    outs = [fn(img, 32, 32, seed=s) for s in range(6)]
    for o in outs:
        assert o.shape == (32, 32, 3)
        assert abs(float(o.mean())) < 1e-4 and float(o.std()) == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_array_equal(outs[0], fn(img, 32, 32, seed=0))
    assert len({o.tobytes() for o in outs}) == 6


# ----------------------------------------------------------------------------------------------
# factory and the HostTensor path


def test_factory_names_and_unknown():
    for name, module in [("cifarnet", cifarnet_preprocessing), ("inception_v4", inception_preprocessing),
                         ("lenet", lenet_preprocessing), ("mobilenet_v1", inception_preprocessing),
                         ("resnet_v1_50", vgg_preprocessing), ("resnet_v2_101", vgg_preprocessing),
                         ("vgg_19", vgg_preprocessing)]:
        assert preprocessing_factory.preprocessing_fn_map[name] is module
    with pytest.raises(ValueError, match=r"Preprocessing name \[nope\] was not recognized"):
        get_preprocessing("nope")
    with pytest.raises(InvalidArgumentError, match="positive"):
        get_preprocessing("lenet")(np.zeros((8, 8, 1)), 0, 8)


class _FakeHostTensor:
    """Records the map call the way slimir.data's HostTensor receives it."""

    def __init__(self, shape):
        self.shape = shape
        self.dtype = np.uint8
        self.calls = []

    def map(self, fn, *, shape=None, dtype=None, random=False):
        self.calls.append({"fn": fn, "shape": shape, "dtype": dtype, "random": random})
        return self


def test_host_tensor_gets_a_mapped_function_with_the_output_shape():
    img = _image(40, 40)
    t = _FakeHostTensor((None, None, 3))
    assert get_preprocessing("cifarnet", is_training=True)(t, 32, 32) is t
    call = t.calls[-1]
    assert call["shape"] == (32, 32, 3) and call["random"] is True and call["dtype"] == np.float32
    a = call["fn"](img, np.random.default_rng(7))
    np.testing.assert_array_equal(a, cifarnet_preprocessing.preprocess_image(img, 32, 32, True,
                                                                             rng=np.random.default_rng(7)))
    get_preprocessing("vgg_16", is_training=False, use_grayscale=True)(t, 24, 24)
    call = t.calls[-1]
    assert call["shape"] == (24, 24, 1) and call["random"] is False
    assert call["fn"](_image(30, 30)).shape == (24, 24, 1)


def _digits_batches(preprocessing, is_training, size, seed=0, n_batches=2, batch_size=16):
    import slimir as slim
    from slimir.datasets import get_dataset

    with slim.Graph().as_default():
        dataset = get_dataset("digits", "test")
        provider = slim.data.DatasetDataProvider(dataset, num_readers=1, shuffle=False, seed=seed)
        image, label = provider.get(["image", "label"])
        image = get_preprocessing(preprocessing, is_training=is_training)(image, size, size)
        assert list(image.shape)[:2] == [size, size]  # channels: unknown until the first example
        images, labels = slim.train.batch([image, label], batch_size=batch_size, num_threads=2)
        assert images.shape.as_list() == [batch_size, size, size, 1]
        with slim.Session() as sess:
            return [sess.run([images, labels]) for _ in range(n_batches)]


def test_host_tensor_pipeline_eval_equals_numpy():
    pytest.importorskip("sklearn")
    from slimir.datasets import digits

    arrays, labels = digits.load_arrays("test")
    batches = _digits_batches("lenet", False, 12)
    got = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), labels[:32])
    expected = np.stack([lenet_preprocessing.preprocess_image(a, 12, 12) for a in arrays[:32]])
    np.testing.assert_array_equal(got, expected)


def test_host_tensor_pipeline_training_is_random_per_example_and_seeded():
    pytest.importorskip("sklearn")
    a = _digits_batches("cifarnet", True, 8, seed=1)
    b = _digits_batches("cifarnet", True, 8, seed=1)
    c = _digits_batches("cifarnet", True, 8, seed=2)
    for (xa, _), (xb, _) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(a[0][0], c[0][0])
    x = a[0][0]
    np.testing.assert_allclose(x.reshape(len(x), -1).mean(1), 0.0, atol=1e-4)
    stds = x.reshape(len(x), -1).std(1)
    assert np.all((np.abs(stds - 1.0) < 1e-3) | (stds == 0.0))


def test_adjust_saturation_equals_the_hsv_round_trip():
    rgb = np.random.default_rng(5).random((6, 7, 3)).astype(np.float32)
    rgb[0, 0] = 0.5  # gray
    rgb[0, 1] = 0.0  # black
    for k in (0.0, 0.3, 1.0, 1.7, 5.0):
        hsv = image_ops.rgb_to_hsv(rgb)
        hsv[..., 1] = np.clip(hsv[..., 1] * k, 0.0, 1.0)
        np.testing.assert_allclose(image_ops.adjust_saturation(rgb, k), image_ops.hsv_to_rgb(hsv), atol=2e-6)


def test_padded_crop_equals_pad_then_crop():
    img = _image(7, 9)
    padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
    for top, left, h, w in [(0, 0, 7, 9), (4, 4, 7, 9), (0, 0, 15, 17), (8, 8, 7, 9), (2, 11, 5, 6), (14, 0, 1, 3)]:
        np.testing.assert_array_equal(image_ops.padded_crop(img, 4, top, left, h, w),
                                      padded[top:top + h, left:left + w])
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        image_ops.padded_crop(img, 4, 9, 0, 7, 9)
