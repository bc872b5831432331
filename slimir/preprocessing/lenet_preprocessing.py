"""LeNet preprocessing (research/slim's lenet_preprocessing): to float, central crop or zero-pad to the
output size, then (x - 128) / 128. The same for training and evaluation."""

from __future__ import annotations

import numpy as np

from . import image_ops as ops
from ._apply import apply, check_size, host_channels

__all__ = ["preprocess_image"]


def preprocess_image(image, output_height: int, output_width: int, is_training: bool = False,
                     use_grayscale: bool = False, seed: int | None = None,
                     rng: np.random.Generator | None = None):
    """Preprocess one image (numpy HxWxC or a HostTensor) for LeNet; `is_training` changes nothing."""
    h, w = check_size("lenet_preprocessing", output_height, output_width)

    def process(a, _g):
        out = ops.resize_image_with_crop_or_pad(ops.to_float(a), h, w)
        if use_grayscale:
            out = ops.rgb_to_grayscale(out)
        return ((out - np.float32(128.0)) / np.float32(128.0)).astype(np.float32, copy=False)

    return apply("lenet_preprocessing", image, process, (h, w, host_channels(image, use_grayscale)), False,
                 seed, rng)
