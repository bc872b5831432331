"""Inception preprocessing (research/slim's inception_preprocessing), also used for MobileNet.

Evaluation: to [0, 1], central crop of `central_fraction` (0.875) of each side, bilinear resize, then
scaled to [-1, 1]. Training: a random crop sampled like tf.image.sample_distorted_bounding_box
(covering >= 10% of the box, aspect 3/4..4/3, 5..100% of the area), bilinear resize, random flip,
colour distortion (brightness and saturation in fast mode; plus hue and contrast in one of four random
orders otherwise), clipped to [0, 1], then scaled to [-1, 1].

Differences from research/slim: the resize is always bilinear (research/slim draws among four resize
methods when fast_mode=False), and resizing uses half-pixel centres (TF2's tf.image.resize).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from . import image_ops as ops
from ._apply import apply, check_size, host_channels

__all__ = ["distort_color", "preprocess_for_eval", "preprocess_for_train", "preprocess_image"]


def distort_color(image: np.ndarray, color_ordering: int, fast_mode: bool, rng: np.random.Generator) -> np.ndarray:
    """Random brightness (max delta 32/255), saturation [0.5, 1.5], hue (max delta 0.2) and contrast [0.5, 1.5]
    in the order `color_ordering` (0..3; fast mode: 0 or 1, brightness and saturation only), clipped to [0, 1].
    Saturation and hue are skipped for a one-channel image."""
    colour = image.shape[-1] == 3

    def brightness(x):
        return ops.adjust_brightness(x, rng.uniform(-32.0 / 255.0, 32.0 / 255.0))

    def saturation(x):
        f = rng.uniform(0.5, 1.5)
        return ops.adjust_saturation(x, f) if colour else x

    def hue(x):
        d = rng.uniform(-0.2, 0.2)
        return ops.adjust_hue(x, d) if colour else x

    def contrast(x):
        return ops.adjust_contrast(x, rng.uniform(0.5, 1.5))

    if fast_mode:
        orders = {0: (brightness, saturation), 1: (saturation, brightness)}
    else:
        orders = {0: (brightness, saturation, hue, contrast), 1: (saturation, brightness, contrast, hue),
                  2: (contrast, hue, brightness, saturation), 3: (hue, saturation, contrast, brightness)}
    if color_ordering not in orders:
        raise InvalidArgumentError(f"distort_color: color_ordering must be in {sorted(orders)}, got {color_ordering}")
    for step in orders[color_ordering]:
        image = step(image)
    return np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)


def _to_unit_range(image: np.ndarray) -> np.ndarray:
    return ((image - np.float32(0.5)) * np.float32(2.0)).astype(np.float32, copy=False)


def preprocess_for_train(image: np.ndarray, height: int, width: int, bbox=None, fast_mode: bool = True,
                         random_crop: bool = True, use_grayscale: bool = False,
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """Distorted-bounding-box crop, resize, flip, colour distortion; float32 in [-1, 1]."""
    rng = rng if rng is not None else np.random.default_rng()
    a = ops.convert_image_dtype(image)
    if random_crop:
        top, left, ch, cw = ops.sample_distorted_bounding_box(rng, a.shape[0], a.shape[1], bbox)
        a = ops.crop(a, top, left, ch, cw)
    a = ops.resize_bilinear(a, height, width)
    if rng.random() < 0.5:
        a = ops.flip_left_right(a)
    num_orderings = 1 if fast_mode else 4
    a = distort_color(a, int(rng.integers(0, num_orderings)), fast_mode, rng)
    if use_grayscale:
        a = ops.rgb_to_grayscale(a)
    return _to_unit_range(a)


def preprocess_for_eval(image: np.ndarray, height: int | None, width: int | None,
                        central_fraction: float | None = 0.875, central_crop: bool = True,
                        use_grayscale: bool = False) -> np.ndarray:
    """Central crop of `central_fraction`, bilinear resize to height x width (when given); float32 in [-1, 1]."""
    a = ops.convert_image_dtype(image)
    if use_grayscale:
        a = ops.rgb_to_grayscale(a)
    if central_crop and central_fraction:
        a = ops.central_crop(a, central_fraction)
    if height and width:
        a = ops.resize_bilinear(a, height, width)
    return _to_unit_range(a)


def preprocess_image(image, height: int, width: int, is_training: bool = False, bbox=None,
                     fast_mode: bool = True, add_image_summaries: bool = True, crop_image: bool = True,
                     use_grayscale: bool = False, central_fraction: float = 0.875, seed: int | None = None,
                     rng: np.random.Generator | None = None):
    """Preprocess one image (numpy HxWxC, uint8 or float in [0, 1], or a HostTensor) for Inception/MobileNet.

    `add_image_summaries` is accepted for research/slim compatibility and does nothing (no image
    summaries are written from the host-side pipeline).
    """
    h, w = check_size("inception_preprocessing", height, width)

    def process(a, g):
        if is_training:
            return preprocess_for_train(a, h, w, bbox, fast_mode, crop_image, use_grayscale, g)
        return preprocess_for_eval(a, h, w, central_fraction, crop_image, use_grayscale)

    return apply("inception_preprocessing", image, process, (h, w, host_channels(image, use_grayscale)),
                 is_training, seed, rng)
