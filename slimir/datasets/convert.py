"""Converters to TFRecord in research/slim's layout, with nothing to download.

`convert_image_folder(src_dir, dst_dir, dataset_name)` turns `src_dir/<class>/<image>` into
`<name>_train_00000-of-0000N.tfrecord` / `<name>_validation_...` shards, `labels.txt` and `dataset_info.json`
(read by `get_dataset`, which then reports the real split sizes and class count). `convert_digits(dst_dir)`
writes scikit-learn's digits as `digits_train.tfrecord` / `digits_test.tfrecord` (8x8 grayscale PNGs).
"""

from __future__ import annotations

import io
import math
import os
from typing import Optional, Sequence

import numpy as np

from ..data.readers import list_image_folder
from ..data.tfrecord import TFRecordWriter
from ..errors import DataLossError, InvalidArgumentError
from . import digits as _digits
from .dataset_utils import image_to_tfexample, write_dataset_info, write_label_file

__all__ = ["convert_image_folder", "convert_digits", "encode_png"]

_PIL_FORMATS = {"JPEG": b"jpeg", "PNG": b"png", "BMP": b"bmp", "GIF": b"gif"}


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an HxW or HxWxC (C in 1, 3, 4) uint8 array."""
    from PIL import Image as PILImage

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InvalidArgumentError(f"encode_png needs uint8 pixels, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _inspect_image(path: str) -> tuple:
    """`(bytes, format, height, width)` of an image file; an unreadable image raises naming the file."""
    from PIL import Image as PILImage

    with open(path, "rb") as f:
        data = f.read()
    try:
        with PILImage.open(io.BytesIO(data)) as im:
            fmt, (width, height) = im.format, im.size
            im.load()  # a full decode: truncated or damaged files fail here, not in training
    except Exception as e:  # Pillow raises many kinds for damaged files
        raise DataLossError(f"image {path!r} cannot be decoded: {e}") from None
    if fmt not in _PIL_FORMATS:
        raise InvalidArgumentError(
            f"image {path!r} is {fmt}; convert_image_folder stores JPEG, PNG, BMP or GIF"
        )
    return data, _PIL_FORMATS[fmt], height, width


def _shard_name(dataset_name: str, split: str, shard: int, num_shards: int) -> str:
    return f"{dataset_name}_{split}_{shard:05d}-of-{num_shards:05d}.tfrecord"


def convert_image_folder(
    src_dir: str,
    dst_dir: str,
    dataset_name: str = "flowers",
    num_shards: int = 5,
    validation_fraction: float = 0.1,
    seed: int = 0,
    extensions: Optional[Sequence[str]] = None,
) -> dict:
    """Convert an image folder (a sub-folder per class) to TFRecord shards in research/slim's flowers layout.

    The files are shuffled with `seed` (numpy's default_rng); the first `round(n * validation_fraction)`
    become 'validation', the rest 'train'; each split is written as `num_shards` shards (later ones may be
    empty). Labels are the sorted class names' indices (`labels.txt`). Returns the dataset_info.json content.
    """
    if not dataset_name or any(c in dataset_name for c in "/\\%*?"):
        raise InvalidArgumentError(f"dataset_name {dataset_name!r} must be a plain name (used in file names)")
    if int(num_shards) < 1:
        raise InvalidArgumentError(f"num_shards must be >= 1, got {num_shards}")
    if not 0.0 <= float(validation_fraction) < 1.0:
        raise InvalidArgumentError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    classes, files = list_image_folder(src_dir, extensions)
    os.makedirs(dst_dir, exist_ok=True)
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = int(round(len(files) * float(validation_fraction)))
    splits = {"validation": [files[i] for i in order[:n_val]], "train": [files[i] for i in order[n_val:]]}
    for split, items in splits.items():
        per_shard = max(1, math.ceil(len(items) / num_shards))
        for shard in range(num_shards):
            path = os.path.join(dst_dir, _shard_name(dataset_name, split, shard, num_shards))
            with TFRecordWriter(path) as writer:
                for file_path, label in items[shard * per_shard : (shard + 1) * per_shard]:
                    data, fmt, height, width = _inspect_image(file_path)
                    writer.write(image_to_tfexample(data, fmt, height, width, label))
    write_label_file(dict(enumerate(classes)), dst_dir)
    info = {
        "name": dataset_name,
        "file_pattern": f"{dataset_name}_%s_*.tfrecord",
        "splits_to_sizes": {k: len(v) for k, v in splits.items()},
        "num_classes": len(classes),
        "num_shards": int(num_shards),
        "seed": int(seed),
        "source": os.path.abspath(src_dir),
    }
    write_dataset_info(dst_dir, info)
    return info


def convert_digits(dst_dir: str) -> dict:
    """Write scikit-learn's digits as `digits_train.tfrecord` and `digits_test.tfrecord` (8x8 grayscale PNG,
    the same uint8 pixels as the in-memory dataset) plus `labels.txt`. Returns `{split: number of images}`."""
    os.makedirs(dst_dir, exist_ok=True)
    sizes = {}
    for split in _digits.SPLITS_TO_SIZES:
        images, labels = _digits.load_arrays(split)
        with TFRecordWriter(os.path.join(dst_dir, _digits._FILE_PATTERN % split)) as writer:
            for image, label in zip(images, labels):
                writer.write(image_to_tfexample(encode_png(image), b"png", 8, 8, int(label)))
        sizes[split] = len(labels)
    write_label_file(_digits.LABELS_TO_NAMES, dst_dir)
    return sizes


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: `python -m slimir.datasets.convert {image_folder SRC DST [...] | digits DST}`."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m slimir.datasets.convert", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser(
        "image_folder", help="SRC/<class>/<image> -> TFRecord shards in research/slim's layout"
    )
    p.add_argument("src_dir")
    p.add_argument("dst_dir")
    p.add_argument("--dataset_name", default="flowers")
    p.add_argument("--num_shards", type=int, default=5)
    p.add_argument("--validation_fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("digits", help="scikit-learn's 8x8 digits -> digits_train/test.tfrecord")
    p.add_argument("dst_dir")
    args = parser.parse_args(argv)
    if args.what == "digits":
        sizes = convert_digits(args.dst_dir)
    else:
        info = convert_image_folder(
            args.src_dir,
            args.dst_dir,
            args.dataset_name,
            args.num_shards,
            args.validation_fraction,
            args.seed,
        )
        sizes = info["splits_to_sizes"]
    print(f"wrote {', '.join(f'{k}: {v}' for k, v in sizes.items())} examples to {args.dst_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
