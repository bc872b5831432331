"""One entry for every preprocessing function: a numpy image is processed now, a host-side input
tensor (slimir.data's HostTensor) gets the function mapped over its examples."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..errors import InvalidArgumentError
from .image_ops import check_image


def is_host_tensor(x) -> bool:
    """True for a per-example host value with `.map` (slimir.data.HostTensor), False for arrays."""
    return not isinstance(x, np.ndarray) and callable(getattr(x, "map", None)) and hasattr(x, "shape")


def check_size(fn: str, output_height, output_width) -> tuple:
    """The output size as two positive ints, or a clear error naming `fn`."""
    try:
        h, w = int(output_height), int(output_width)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{fn}: output_height/output_width must be integers, got "
                                   f"{output_height!r}, {output_width!r}") from None
    if h <= 0 or w <= 0:
        raise InvalidArgumentError(f"{fn}: output size must be positive, got {h}x{w}")
    return h, w


def apply(fn_name: str, image, process: Callable, out_shape: tuple, random: bool,
          seed: int | None = None, rng: np.random.Generator | None = None):
    """Run `process(array, rng)` on a numpy image, or map it over a HostTensor.

    For a HostTensor the map is declared `random` (a deterministic per-example generator) when
    training, and its result has static shape `out_shape` (None for an unknown channel count).
    """
    if is_host_tensor(image):
        if seed is not None or rng is not None:
            raise InvalidArgumentError(f"{fn_name}: seed/rng apply to numpy images; a pipeline's randomness "
                                       "comes from the data provider's seed")
        channels = out_shape[2]
        shape = (out_shape[0], out_shape[1], channels)
        if random:
            return image.map(lambda v, g: process(check_image(v, fn_name), g), shape=shape, dtype=np.float32,
                             random=True)
        return image.map(lambda v: process(check_image(v, fn_name), None), shape=shape, dtype=np.float32)
    a = check_image(image, fn_name)
    if random and rng is None:
        rng = np.random.default_rng(seed)
    return process(a, rng)


def host_channels(image, use_grayscale: bool = False):
    """The channel count of the output for `image` (None when unknown)."""
    if use_grayscale:
        return 1
    shape = getattr(image, "shape", None)
    try:
        c = shape[-1] if shape is not None and len(shape) == 3 else None
    except TypeError:
        c = None
    return None if c is None else int(c)
