"""CifarNet preprocessing (research/slim's cifarnet_preprocessing). Training: zero-pad by 4, random crop,
random flip, random brightness (max delta 63) and contrast (factor in [0.2, 1.8]); evaluation: central
crop or pad. Both end with per-image standardization. Values are not rescaled before (0..255 in)."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from . import image_ops as ops
from ._apply import apply, check_size, host_channels

_PADDING = 4

__all__ = ["preprocess_for_eval", "preprocess_for_train", "preprocess_image"]


def preprocess_for_train(image: np.ndarray, output_height: int, output_width: int, padding: int = _PADDING,
                         use_grayscale: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
    """Pad, random crop, random flip, random brightness and contrast, per-image standardization."""
    if padding < 0:
        raise InvalidArgumentError(f"cifarnet_preprocessing: padding must be >= 0, got {padding}")
    rng = rng if rng is not None else np.random.default_rng()
    a = ops.to_float(image)
    if use_grayscale:
        a = ops.rgb_to_grayscale(a)
    h, w = a.shape[0] + 2 * padding, a.shape[1] + 2 * padding
    if h < output_height or w < output_width:
        raise InvalidArgumentError(f"cifarnet_preprocessing: a {output_height}x{output_width} random crop does not "
                                   f"fit in the padded {h}x{w} image")
    top = int(rng.integers(0, h - output_height + 1))
    left = int(rng.integers(0, w - output_width + 1))
    a = ops.padded_crop(a, padding, top, left, output_height, output_width)
    if rng.random() < 0.5:
        a = ops.flip_left_right(a)
    a = ops.adjust_brightness(a, rng.uniform(-63.0, 63.0))
    a = ops.adjust_contrast(a, rng.uniform(0.2, 1.8))
    return ops.per_image_standardization(a)


def preprocess_for_eval(image: np.ndarray, output_height: int, output_width: int,
                        use_grayscale: bool = False) -> np.ndarray:
    """Central crop or zero-pad to the output size, then per-image standardization."""
    a = ops.to_float(image)
    if use_grayscale:
        a = ops.rgb_to_grayscale(a)
    a = ops.resize_image_with_crop_or_pad(a, output_height, output_width)
    return ops.per_image_standardization(a)


def preprocess_image(image, output_height: int, output_width: int, is_training: bool = False,
                     padding: int = _PADDING, use_grayscale: bool = False, seed: int | None = None,
                     rng: np.random.Generator | None = None):
    """Preprocess one image (numpy HxWxC or a HostTensor) for CifarNet."""
    h, w = check_size("cifarnet_preprocessing", output_height, output_width)

    def process(a, g):
        if is_training:
            return preprocess_for_train(a, h, w, padding, use_grayscale, g)
        return preprocess_for_eval(a, h, w, use_grayscale)

    return apply("cifarnet_preprocessing", image, process, (h, w, host_channels(image, use_grayscale)),
                 is_training, seed, rng)
