"""Flowers from TFRecord shards as research/slim's download_and_convert_flowers (or slimir's
convert_image_folder) writes them: flowers_<split>_<shard>-of-<n>.tfrecord plus labels.txt.
Items: 'image' (HxWx3 uint8, sizes vary), 'label' (int64 0-4).
"""

from __future__ import annotations

from .dataset_utils import ImageDataset

DATASET = ImageDataset(
    "flowers",
    "flowers_%s_*.tfrecord",
    splits_to_sizes={"train": 3320, "validation": 350},
    num_classes=5,
    items_to_descriptions={"image": "A color image of varying size.", "label": "A single integer between 0 and 4"},
    channels=3,
    default_format=b"png",
)
SPLITS_TO_SIZES, NUM_CLASSES = DATASET.splits_to_sizes, DATASET.num_classes
ITEMS_TO_DESCRIPTIONS = DATASET.items_to_descriptions
get_split = DATASET.get_split
