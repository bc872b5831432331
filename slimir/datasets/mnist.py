"""MNIST from TFRecord files as research/slim's download_and_convert_mnist writes them
(mnist_<split>.tfrecord).

Items: 'image' (28x28x1 uint8), 'label' (int64 0-9).
"""

from __future__ import annotations

from .dataset_utils import ImageDataset

DATASET = ImageDataset(
    "mnist",
    "mnist_%s.tfrecord",
    splits_to_sizes={"train": 60000, "test": 10000},
    num_classes=10,
    items_to_descriptions={"image": "A [28 x 28 x 1] grayscale image.", "label": "A single integer between 0 and 9"},
    image_shape=[28, 28, 1],
    channels=1,
    default_format=b"raw",
)
SPLITS_TO_SIZES, NUM_CLASSES = DATASET.splits_to_sizes, DATASET.num_classes
ITEMS_TO_DESCRIPTIONS = DATASET.items_to_descriptions
get_split = DATASET.get_split
