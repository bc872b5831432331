"""CIFAR-10 from TFRecord files as research/slim's download_and_convert_cifar10 writes them
(cifar10_<split>.tfrecord, PNG images). Items: 'image' (32x32x3 uint8), 'label' (int64 0-9).
"""

from __future__ import annotations

from .dataset_utils import ImageDataset

DATASET = ImageDataset(
    "cifar10",
    "cifar10_%s.tfrecord",
    splits_to_sizes={"train": 50000, "test": 10000},
    num_classes=10,
    items_to_descriptions={"image": "A [32 x 32 x 3] color image.", "label": "A single integer between 0 and 9"},
    image_shape=[32, 32, 3],
    channels=3,
    default_format=b"png",
)
SPLITS_TO_SIZES, NUM_CLASSES = DATASET.splits_to_sizes, DATASET.num_classes
ITEMS_TO_DESCRIPTIONS = DATASET.items_to_descriptions
get_split = DATASET.get_split
