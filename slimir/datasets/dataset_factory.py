"""`get_dataset(name, split_name, dataset_dir)`: research/slim's dataset factory.

Known names: cifar10, digits, flowers, imagenet, mnist. Any other name works for a `dataset_dir` converted by
`slimir.datasets.convert.convert_image_folder(..., dataset_name=name)` (its `dataset_info.json` names it).
"""

from __future__ import annotations

from typing import Optional

from ..data.dataset import Dataset
from ..errors import InvalidArgumentError
from . import cifar10, digits, flowers, imagenet, mnist
from .dataset_utils import ImageDataset, read_dataset_info

datasets_map = {
    "cifar10": cifar10,
    "digits": digits,
    "flowers": flowers,
    "imagenet": imagenet,
    "mnist": mnist,
}

_CONVERTED_DESCRIPTIONS = {
    "image": "A color image of varying size.",
    "label": "The index of the image's class among the sorted class names (labels.txt).",
}


def get_dataset(
    name: str,
    split_name: str,
    dataset_dir: Optional[str] = None,
    file_pattern: Optional[str] = None,
    reader=None,
) -> Dataset:
    """The `split_name` split of dataset `name` stored in `dataset_dir` (digits needs no directory).

    `file_pattern` overrides the dataset's '%s' pattern (the split name is substituted); `reader` a reader
    class or instance (e.g. `TFRecordReader(skip_corrupt=True)`). Unknown names, unknown splits and missing
    directories or files raise errors naming them.
    """
    if name in datasets_map:
        return datasets_map[name].get_split(split_name, dataset_dir, file_pattern, reader)
    info = read_dataset_info(dataset_dir) if dataset_dir else None
    if info is not None and info.get("name") == name:
        converted = ImageDataset(name, info.get("file_pattern", name + "_%s_*.tfrecord"),
                                 info.get("splits_to_sizes", {}), int(info.get("num_classes", 0)),
                                 _CONVERTED_DESCRIPTIONS, channels=3)
        return converted.get_split(split_name, dataset_dir, file_pattern, reader)
    raise InvalidArgumentError(
        f"Name of dataset unknown {name!r}: known datasets are {sorted(datasets_map)}, or a "
        "dataset_dir converted by slimir.datasets.convert.convert_image_folder with that name"
    )
