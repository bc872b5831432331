"""Flowers from TFRecord shards as research/slim's download_and_convert_flowers (or slimir's
convert_image_folder) writes them: flowers_<split>_<shard>-of-<n>.tfrecord plus labels.txt.
Items: 'image' (HxWx3 uint8, sizes vary), 'label' (int64 0-4).
"""

from __future__ import annotations

from typing import Optional

from ..data.dataset import Dataset
from .dataset_utils import make_image_split

_FILE_PATTERN = "flowers_%s_*.tfrecord"
SPLITS_TO_SIZES = {"train": 3320, "validation": 350}
NUM_CLASSES = 5
ITEMS_TO_DESCRIPTIONS = {
    "image": "A color image of varying size.",
    "label": "A single integer between 0 and 4",
}


def get_split(split_name: str, dataset_dir: str, file_pattern: Optional[str] = None, reader=None) -> Dataset:
    """The `split_name` ('train' or 'validation') split of Flowers in `dataset_dir`."""
    return make_image_split(
        "flowers",
        split_name,
        dataset_dir,
        file_pattern,
        _FILE_PATTERN,
        SPLITS_TO_SIZES,
        NUM_CLASSES,
        ITEMS_TO_DESCRIPTIONS,
        reader,
        channels=3,
        default_format=b"png",
    )
