"""CIFAR-10 from TFRecord files as research/slim's download_and_convert_cifar10 writes them
(cifar10_<split>.tfrecord, PNG images). Items: 'image' (32x32x3 uint8), 'label' (int64 0-9).
"""

from __future__ import annotations

from typing import Optional

from ..data.dataset import Dataset
from .dataset_utils import make_image_split

_FILE_PATTERN = "cifar10_%s.tfrecord"
SPLITS_TO_SIZES = {"train": 50000, "test": 10000}
NUM_CLASSES = 10
ITEMS_TO_DESCRIPTIONS = {
    "image": "A [32 x 32 x 3] color image.",
    "label": "A single integer between 0 and 9",
}


def get_split(split_name: str, dataset_dir: str, file_pattern: Optional[str] = None, reader=None) -> Dataset:
    """The `split_name` ('train' or 'test') split of CIFAR-10 in `dataset_dir`."""
    return make_image_split(
        "cifar10",
        split_name,
        dataset_dir,
        file_pattern,
        _FILE_PATTERN,
        SPLITS_TO_SIZES,
        NUM_CLASSES,
        ITEMS_TO_DESCRIPTIONS,
        reader,
        image_shape=[32, 32, 3],
        channels=3,
        default_format=b"png",
    )
