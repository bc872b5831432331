"""ImageNet (ILSVRC-2012) from TFRecord shards as build_imagenet_data.py writes them (train-00000-of-01024,
validation-00000-of-00128). 1001 classes: label 0 is the background class, 1-1000 the synsets in sorted order.

Items: 'image' (HxWx3 uint8), 'label' (int64), 'label_text' (bytes), 'object/bbox' (float32 [n, 4] as
ymin, xmin, ymax, xmax), 'object/label' (int64 [n]). `labels_to_names` comes from `labels.txt` in the dataset
directory when present; unlike research/slim, slimir never downloads the synset names.
"""

from __future__ import annotations

from ..data import tfexample_decoder as tfd
from .dataset_utils import ImageDataset

DATASET = ImageDataset(
    "imagenet",
    "%s-*",
    splits_to_sizes={"train": 1281167, "validation": 50000},
    num_classes=1001,
    items_to_descriptions={
        "image": "A color image of varying height and width.",
        "label": "The label id of the image, integer between 0 and 999",
        "label_text": "The text of the label.",
        "object/bbox": "A list of bounding boxes.",
        "object/label": "A list of labels, one per each object.",
    },
    channels=3,
    default_format=b"jpeg",
    label_default=-1,
    extra_features={
        "image/class/text": tfd.FixedLenFeature([], tfd.string, default_value=b""),
        "image/object/bbox/xmin": tfd.VarLenFeature("float32"),
        "image/object/bbox/ymin": tfd.VarLenFeature("float32"),
        "image/object/bbox/xmax": tfd.VarLenFeature("float32"),
        "image/object/bbox/ymax": tfd.VarLenFeature("float32"),
        "image/object/class/label": tfd.VarLenFeature("int64"),
    },
    extra_handlers={
        "label_text": tfd.Tensor("image/class/text"),
        "object/bbox": tfd.BoundingBox(["ymin", "xmin", "ymax", "xmax"], "image/object/bbox/"),
        "object/label": tfd.Tensor("image/object/class/label"),
    },
)
SPLITS_TO_SIZES, NUM_CLASSES = DATASET.splits_to_sizes, DATASET.num_classes
ITEMS_TO_DESCRIPTIONS = DATASET.items_to_descriptions
get_split = DATASET.get_split
