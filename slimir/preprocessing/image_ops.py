"""numpy image operations with the semantics of TensorFlow's `tf.image` (HxWxC arrays, one image).

The preprocessing modules are written with these; every random choice takes an explicit
`np.random.Generator`, so a seed reproduces a pipeline exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidArgumentError, ShapeError

__all__ = [
    "adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "central_crop",
    "convert_image_dtype", "crop", "flip_left_right", "hsv_to_rgb", "padded_crop", "per_image_standardization",
    "resize_bilinear", "resize_image_with_crop_or_pad", "rgb_to_grayscale", "rgb_to_hsv",
    "sample_distorted_bounding_box", "smallest_size_at_least", "to_float",
]

# ITU-R BT.601 luma weights, as tf.image.rgb_to_grayscale
_GRAY = np.array([0.2989, 0.5870, 0.1140], np.float32)


def check_image(image, fn: str) -> np.ndarray:
    """`image` as an HxWxC numpy array (an HxW array gets C=1); anything else raises ShapeError."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ShapeError(f"{fn}: expects an image of shape [height, width, channels], got shape {list(a.shape)}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ShapeError(f"{fn}: the image is empty (shape {list(a.shape)})")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise InvalidArgumentError(f"{fn}: expects an integer or float image, got dtype {a.dtype}")
    return a


def to_float(image: np.ndarray) -> np.ndarray:
    """float32 copy of the values, unscaled (tf.to_float)."""
    return np.asarray(image, dtype=np.float32)


def convert_image_dtype(image: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] (tf.image.convert_image_dtype): integers are divided by their dtype's maximum,
    floats are taken as already in [0, 1]."""
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.integer):
        return a.astype(np.float32) * np.float32(1.0 / np.iinfo(a.dtype).max)
    return a.astype(np.float32, copy=False)


def _axis_weights(out_size: int, in_size: int, half_pixel_centers: bool, align_corners: bool,
                  start: int, count: int):
    """Source indices (lower, upper) and the interpolation weight of output positions start..start+count."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    i = np.arange(start, start + count, dtype=np.float64)
    src = (i + 0.5) * scale - 0.5 if half_pixel_centers else i * scale
    floor = np.floor(src)
    lower = np.clip(floor, 0, in_size - 1).astype(np.intp)
    upper = np.clip(np.ceil(src), 0, in_size - 1).astype(np.intp)
    lerp = (src - floor).astype(np.float32)
    return lower, upper, lerp


def resize_bilinear(image: np.ndarray, height: int, width: int, *, half_pixel_centers: bool = True,
                    align_corners: bool = False, window: Sequence[int] | None = None) -> np.ndarray:
    """Bilinear resize to `height` x `width` as `tf.image.resize(..., 'bilinear')`, float32 out.

    The default (`half_pixel_centers=True`, `align_corners=False`) is TF2's `tf.image.resize` and
    PyTorch's `interpolate(mode='bilinear', align_corners=False, antialias=False)`; with
    `half_pixel_centers=False` it is TF1's legacy `resize_bilinear`. No antialiasing when shrinking.
    `window=(top, left, h, w)` computes only that crop of the resized image (same values, less work).
    """
    a = check_image(image, "resize_bilinear")
    if int(height) <= 0 or int(width) <= 0:
        raise InvalidArgumentError(f"resize_bilinear: output size must be positive, got {height}x{width}")
    if align_corners and half_pixel_centers:
        raise InvalidArgumentError("resize_bilinear: align_corners and half_pixel_centers cannot both be True")
    top, left, h, w = window if window is not None else (0, 0, height, width)
    if top < 0 or left < 0 or top + h > height or left + w > width or h <= 0 or w <= 0:
        raise InvalidArgumentError(f"resize_bilinear: window {tuple(window)} is outside the "
                                   f"{height}x{width} output")
    in_h, in_w = a.shape[:2]
    y0, y1, wy = _axis_weights(int(height), in_h, half_pixel_centers, align_corners, top, h)
    x0, x1, wx = _axis_weights(int(width), in_w, half_pixel_centers, align_corners, left, w)
    # Separable: blend the two source rows of each output row (only the source columns the window
    # needs), then the two source columns of each output column.
    c0 = int(x0.min())
    src = a[:, c0:int(x1.max()) + 1]
    top = src[y0].astype(np.float32)
    rows = top + (src[y1].astype(np.float32) - top) * wy[:, None, None]     # (h, needed cols, C)
    left = np.take(rows, x0 - c0, axis=1)
    right = np.take(rows, x1 - c0, axis=1)
    return (left + (right - left) * wx[None, :, None]).astype(np.float32, copy=False)


def smallest_size_at_least(height: int, width: int, smallest_side: int) -> tuple:
    """(new_height, new_width) keeping the aspect ratio with the smaller side equal to `smallest_side`."""
    scale = smallest_side / min(height, width)
    return int(np.rint(height * scale)), int(np.rint(width * scale))


def crop(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """image[top:top+height, left:left+width] (tf.image.crop_to_bounding_box), checking the bounds."""
    a = np.asarray(image)
    if top < 0 or left < 0 or height <= 0 or width <= 0 or top + height > a.shape[0] or left + width > a.shape[1]:
        raise InvalidArgumentError(f"crop: a {height}x{width} crop at ({top}, {left}) does not fit in an image "
                                   f"of {a.shape[0]}x{a.shape[1]}")
    return a[top:top + height, left:left + width]


def padded_crop(image: np.ndarray, padding: int, top: int, left: int, height: int, width: int) -> np.ndarray:
    """The `height` x `width` crop at (top, left) of `image` zero-padded by `padding` on every side, without
    building the padded image (np.pad followed by a crop, in one copy)."""
    a = np.asarray(image)
    h, w = a.shape[:2]
    if top < 0 or left < 0 or top + height > h + 2 * padding or left + width > w + 2 * padding:
        raise InvalidArgumentError(f"padded_crop: a {height}x{width} crop at ({top}, {left}) does not fit in the "
                                   f"{h}x{w} image padded by {padding}")
    out = np.zeros((height, width) + a.shape[2:], a.dtype)
    y0, x0 = top - padding, left - padding  # the crop's origin in the unpadded image
    sy0, sy1 = max(y0, 0), min(y0 + height, h)
    sx0, sx1 = max(x0, 0), min(x0 + width, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a[sy0:sy1, sx0:sx1]
    return out


def central_crop(image: np.ndarray, central_fraction: float) -> np.ndarray:
    """The central `central_fraction` of each side (tf.image.central_crop)."""
    if not 0.0 < central_fraction <= 1.0:
        raise InvalidArgumentError(f"central_crop: central_fraction must be in (0, 1], got {central_fraction}")
    a = np.asarray(image)
    if central_fraction == 1.0:
        return a
    h, w = a.shape[:2]
    top = int((h - h * central_fraction) / 2)
    left = int((w - w * central_fraction) / 2)
    return a[top:h - top, left:w - left]


def resize_image_with_crop_or_pad(image: np.ndarray, target_height: int, target_width: int) -> np.ndarray:
    """Centrally crop or zero-pad to the target size (tf.image.resize_image_with_crop_or_pad)."""
    if target_height <= 0 or target_width <= 0:
        raise InvalidArgumentError(f"resize_image_with_crop_or_pad: target size must be positive, got "
                                   f"{target_height}x{target_width}")
    a = np.asarray(image)
    h, w = a.shape[:2]
    ct, cl = max((h - target_height) // 2, 0), max((w - target_width) // 2, 0)
    a = a[ct:ct + min(h, target_height), cl:cl + min(w, target_width)]
    pt, pl = max((target_height - h) // 2, 0), max((target_width - w) // 2, 0)
    if a.shape[0] == target_height and a.shape[1] == target_width:
        return a
    out = np.zeros((target_height, target_width) + a.shape[2:], a.dtype)
    out[pt:pt + a.shape[0], pl:pl + a.shape[1]] = a
    return out


def flip_left_right(image: np.ndarray) -> np.ndarray:
    """Mirror along the width axis."""
    return np.asarray(image)[:, ::-1]


def rgb_to_grayscale(image: np.ndarray) -> np.ndarray:
    """HxWx1 luma (tf.image.rgb_to_grayscale weights 0.2989, 0.5870, 0.1140), float32."""
    a = np.asarray(image, np.float32)
    if a.shape[-1] != 3:
        raise ShapeError(f"rgb_to_grayscale: expects 3 channels, got {a.shape[-1]}")
    return (a @ _GRAY)[..., None]


def per_image_standardization(image: np.ndarray) -> np.ndarray:
    """(x - mean) / max(stddev, 1/sqrt(N)) over all N values of the image
    (tf.image.per_image_standardization), float32."""
    a = np.asarray(image, np.float32)
    mean = a.mean(dtype=np.float64)
    std = a.std(dtype=np.float64)
    adjusted = max(std, 1.0 / np.sqrt(a.size))
    return ((a - np.float32(mean)) / np.float32(adjusted)).astype(np.float32, copy=False)


def adjust_brightness(image: np.ndarray, delta: float) -> np.ndarray:
    """image + delta (tf.image.adjust_brightness on a float image)."""
    return (np.asarray(image, np.float32) + np.float32(delta)).astype(np.float32, copy=False)


def adjust_contrast(image: np.ndarray, factor: float) -> np.ndarray:
    """(x - mean) * factor + mean, with the mean of each channel over the image (tf.image.adjust_contrast)."""
    a = np.asarray(image, np.float32)
    mean = a.mean(axis=(0, 1), keepdims=True, dtype=np.float64).astype(np.float32)
    return ((a - mean) * np.float32(factor) + mean).astype(np.float32, copy=False)


def rgb_to_hsv(image: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] -> HSV with every component in [0, 1] (tf.image.rgb_to_hsv)."""
    a = np.asarray(image, np.float32)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    v = np.maximum(np.maximum(r, g), b)
    rng = v - np.minimum(np.minimum(r, g), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(v > 0, rng / v, 0.0)
        safe = np.where(rng > 0, rng, 1.0)
        h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(rng > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1).astype(np.float32)


def hsv_to_rgb(image: np.ndarray) -> np.ndarray:
    """HSV with components in [0, 1] -> RGB (tf.image.hsv_to_rgb)."""
    a = np.asarray(image, np.float32)
    h, s, v = a[..., 0], a[..., 1], a[..., 2]
    dh = (h % 1.0) * 6.0
    r = np.clip(np.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    g = np.clip(2.0 - np.abs(dh - 2.0), 0.0, 1.0)
    b = np.clip(2.0 - np.abs(dh - 4.0), 0.0, 1.0)
    rgb = np.stack([r, g, b], axis=-1)
    return (((rgb - 1.0) * s[..., None] + 1.0) * v[..., None]).astype(np.float32)


def adjust_saturation(image: np.ndarray, factor: float) -> np.ndarray:
    """Scale the HSV saturation by `factor`, clipped to [0, 1] (tf.image.adjust_saturation), float in [0, 1]."""
    # In HSV terms each channel is c = v - s * v * g(hue): scaling s to s' = min(k * s, 1) moves every
    # channel towards v by the ratio s' / s = min(k, v / (v - min)), leaving hue and value alone.
    a = np.asarray(image, np.float32)
    r, g, b = a[..., 0:1], a[..., 1:2], a[..., 2:3]
    v = np.maximum(np.maximum(r, g), b)  # (elementwise: much faster than a reduction over 3 channels)
    spread = v - np.minimum(np.minimum(r, g), b)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(spread > 0, np.minimum(np.float32(max(factor, 0.0)), v / spread), 1.0)
    return (v - (v - a) * ratio).astype(np.float32, copy=False)


def adjust_hue(image: np.ndarray, delta: float) -> np.ndarray:
    """Rotate the HSV hue by `delta` (in [-1, 1], a fraction of the colour circle) (tf.image.adjust_hue)."""
    if not -1.0 <= delta <= 1.0:
        raise InvalidArgumentError(f"adjust_hue: delta must be in [-1, 1], got {delta}")
    hsv = rgb_to_hsv(image)
    hsv[..., 0] = (hsv[..., 0] + np.float32(delta)) % 1.0
    return hsv_to_rgb(hsv)


def sample_distorted_bounding_box(rng: np.random.Generator, height: int, width: int, bbox=None,
                                  min_object_covered: float = 0.1, aspect_ratio_range=(0.75, 1.33),
                                  area_range=(0.05, 1.0), max_attempts: int = 100) -> tuple:
    """A random crop (top, left, crop_height, crop_width) of a `height` x `width` image, sampled as
    tf.image.sample_distorted_bounding_box does: an area fraction in `area_range` and an aspect ratio
    (width / height) in `aspect_ratio_range`, that must cover at least `min_object_covered` of the box
    `bbox` = [ymin, xmin, ymax, xmax] (normalised; default the whole image). After `max_attempts`
    failed tries the whole image is returned.
    """
    ymin, xmin, ymax, xmax = (0.0, 0.0, 1.0, 1.0) if bbox is None else (float(v) for v in np.ravel(bbox)[:4])
    if not (0.0 <= ymin < ymax <= 1.0 and 0.0 <= xmin < xmax <= 1.0):
        raise InvalidArgumentError(f"sample_distorted_bounding_box: bbox must be [ymin, xmin, ymax, xmax] "
                                   f"within [0, 1] with min < max, got {[ymin, xmin, ymax, xmax]}")
    lo_a, hi_a = area_range
    lo_r, hi_r = aspect_ratio_range
    if not (0.0 < lo_a <= hi_a <= 1.0) or not (0.0 < lo_r <= hi_r):
        raise InvalidArgumentError(f"sample_distorted_bounding_box: bad area_range {area_range} or "
                                   f"aspect_ratio_range {aspect_ratio_range}")
    by0, bx0, by1, bx1 = ymin * height, xmin * width, ymax * height, xmax * width
    box_area = (by1 - by0) * (bx1 - bx0)
    for _ in range(max_attempts):
        area = rng.uniform(lo_a, hi_a) * height * width
        ratio = rng.uniform(lo_r, hi_r)
        ch = round(float(np.sqrt(area / ratio)))
        cw = round(float(np.sqrt(area * ratio)))
        if ch < 1 or cw < 1 or ch > height or cw > width:
            continue
        top = int(rng.integers(0, height - ch + 1))
        left = int(rng.integers(0, width - cw + 1))
        iy = max(0.0, min(by1, top + ch) - max(by0, top))
        ix = max(0.0, min(bx1, left + cw) - max(bx0, left))
        if iy * ix >= min_object_covered * box_area:
            return top, left, ch, cw
    return 0, 0, height, width
