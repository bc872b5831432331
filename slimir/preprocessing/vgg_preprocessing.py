"""VGG / ResNet preprocessing (research/slim's vgg_preprocessing): aspect-preserving resize of the
smaller side, a random (training) or central (evaluation) crop, a random flip when training, and
subtraction of the ImageNet channel means. Output float32 HxWxC, values not rescaled."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from . import image_ops as ops
from ._apply import apply, check_size, host_channels

_R_MEAN = 123.68
_G_MEAN = 116.78
_B_MEAN = 103.94
_RESIZE_SIDE_MIN = 256
_RESIZE_SIDE_MAX = 512

__all__ = ["preprocess_for_eval", "preprocess_for_train", "preprocess_image"]


def _means(channels: int) -> np.ndarray:
    rgb = np.array([_R_MEAN, _G_MEAN, _B_MEAN], np.float32)
    if channels == 3:
        return rgb
    if channels == 1:  # a grayscale image: the luma of the RGB means
        return np.array([float(rgb @ np.array([0.2989, 0.5870, 0.1140], np.float32))], np.float32)
    raise InvalidArgumentError(f"vgg_preprocessing: mean subtraction needs 1 or 3 channels, got {channels}")


def _mean_image_subtraction(image: np.ndarray) -> np.ndarray:
    return (image - _means(image.shape[-1])).astype(np.float32, copy=False)


def _resize_and_crop(image: np.ndarray, side: int, out_h: int, out_w: int, rng) -> np.ndarray:
    """Resize the smaller side to `side` (bilinear) and crop out_h x out_w from it: at a random offset
    when `rng` is given, centrally otherwise. Only the cropped window of the resized image is computed."""
    h, w = image.shape[:2]
    nh, nw = ops.smallest_size_at_least(h, w, side)
    if nh < out_h or nw < out_w:
        raise InvalidArgumentError(f"vgg_preprocessing: a {out_h}x{out_w} crop does not fit in the image resized "
                                   f"to {nh}x{nw} (smallest side {side}); use a larger resize side")
    if rng is None:
        top, left = (nh - out_h) // 2, (nw - out_w) // 2
    else:
        top, left = int(rng.integers(0, nh - out_h + 1)), int(rng.integers(0, nw - out_w + 1))
    return ops.resize_bilinear(image, nh, nw, window=(top, left, out_h, out_w))


def preprocess_for_train(image: np.ndarray, output_height: int, output_width: int,
                         resize_side_min: int = _RESIZE_SIDE_MIN, resize_side_max: int = _RESIZE_SIDE_MAX,
                         use_grayscale: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
    """Random smaller side in [resize_side_min, resize_side_max], random crop, random flip, mean subtraction."""
    if not 0 < resize_side_min <= resize_side_max:
        raise InvalidArgumentError(f"vgg_preprocessing: need 0 < resize_side_min <= resize_side_max, got "
                                   f"{resize_side_min}, {resize_side_max}")
    rng = rng if rng is not None else np.random.default_rng()
    side = int(rng.integers(resize_side_min, resize_side_max + 1))
    out = _resize_and_crop(image, side, output_height, output_width, rng)
    if use_grayscale:
        out = ops.rgb_to_grayscale(out)
    if rng.random() < 0.5:
        out = ops.flip_left_right(out)
    return _mean_image_subtraction(out)


def preprocess_for_eval(image: np.ndarray, output_height: int, output_width: int,
                        resize_side: int = _RESIZE_SIDE_MIN, use_grayscale: bool = False) -> np.ndarray:
    """Smaller side resized to `resize_side`, central crop, mean subtraction."""
    out = _resize_and_crop(image, resize_side, output_height, output_width, None)
    if use_grayscale:
        out = ops.rgb_to_grayscale(out)
    return _mean_image_subtraction(out)


def preprocess_image(image, output_height: int, output_width: int, is_training: bool = False,
                     resize_side_min: int = _RESIZE_SIDE_MIN, resize_side_max: int = _RESIZE_SIDE_MAX,
                     use_grayscale: bool = False, seed: int | None = None,
                     rng: np.random.Generator | None = None):
    """Preprocess one image (numpy HxWxC, or a HostTensor to map over) for VGG/ResNet.

    Evaluation resizes the smaller side to `resize_side_min`. `seed`/`rng` make training draws
    reproducible on numpy input.
    """
    h, w = check_size("vgg_preprocessing", output_height, output_width)

    def process(a, g):
        if is_training:
            return preprocess_for_train(a, h, w, resize_side_min, resize_side_max, use_grayscale, g)
        return preprocess_for_eval(a, h, w, resize_side_min, use_grayscale)

    return apply("vgg_preprocessing", image, process, (h, w, host_channels(image, use_grayscale)),
                 is_training, seed, rng)
