"""MNIST from TFRecord files as research/slim's download_and_convert_mnist writes them
(mnist_<split>.tfrecord).

Items: 'image' (28x28x1 uint8), 'label' (int64 0-9).
"""

from __future__ import annotations

from typing import Optional

from ..data.dataset import Dataset
from .dataset_utils import make_image_split

_FILE_PATTERN = "mnist_%s.tfrecord"
SPLITS_TO_SIZES = {"train": 60000, "test": 10000}
NUM_CLASSES = 10
ITEMS_TO_DESCRIPTIONS = {
    "image": "A [28 x 28 x 1] grayscale image.",
    "label": "A single integer between 0 and 9",
}


def get_split(split_name: str, dataset_dir: str, file_pattern: Optional[str] = None, reader=None) -> Dataset:
    """The `split_name` ('train' or 'test') split of MNIST in `dataset_dir`."""
    return make_image_split(
        "mnist",
        split_name,
        dataset_dir,
        file_pattern,
        _FILE_PATTERN,
        SPLITS_TO_SIZES,
        NUM_CLASSES,
        ITEMS_TO_DESCRIPTIONS,
        reader,
        image_shape=[28, 28, 1],
        channels=1,
        default_format=b"raw",
    )
