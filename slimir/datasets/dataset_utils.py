"""Helpers shared by the dataset definitions and converters (research/slim's dataset_utils, without TF).

Feature builders (`int64_feature`, `bytes_feature`, `float_feature`, `image_to_tfexample`), the `labels.txt`
file (`write_label_file`, `read_label_file`, `has_labels`), and `make_image_split`, which describes one split
of a TFRecord image dataset in research/slim's layout (`ImageDataset` declares a whole dataset: cifar10, mnist,
flowers and imagenet are one declaration each). A directory converted by slimir also holds
`dataset_info.json` (name, file pattern, real split sizes, number of classes), which overrides the published
sizes and class count of a known dataset so that small converted folders report what they hold.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping, Optional

from ..data import tfexample_decoder as tfd
from ..data.dataset import Dataset
from ..data.example import BytesList, Example, Feature, Features, FloatList, Int64List
from ..data.readers import TFRecordReader, expand_file_patterns
from ..errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = [
    "ImageDataset",
    "LABELS_FILENAME",
    "INFO_FILENAME",
    "int64_feature",
    "bytes_feature",
    "float_feature",
    "image_to_tfexample",
    "write_label_file",
    "read_label_file",
    "has_labels",
    "write_dataset_info",
    "read_dataset_info",
    "check_dataset_dir",
    "make_image_split",
]

LABELS_FILENAME = "labels.txt"
INFO_FILENAME = "dataset_info.json"


def _list(values) -> list:
    return list(values) if isinstance(values, (tuple, list)) else [values]


def int64_feature(values):
    """A `Feature` holding int64 values (a scalar or a list)."""
    return Feature(int64_list=Int64List(value=[int(v) for v in _list(values)]))


def bytes_feature(values):
    """A `Feature` holding bytes (one value or a list; str is UTF-8 encoded)."""
    return Feature(
        bytes_list=BytesList(
            value=[v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in _list(values)]
        )
    )


def float_feature(values):
    """A `Feature` holding float32 values (a scalar or a list)."""
    return Feature(float_list=FloatList(value=[float(v) for v in _list(values)]))


def image_to_tfexample(image_data: bytes, image_format, height: int, width: int, class_id: int):
    """The Example research/slim's converters write for one labelled image."""
    return Example(
        features=Features(
            feature={
                "image/encoded": bytes_feature(image_data),
                "image/format": bytes_feature(image_format),
                "image/class/label": int64_feature(class_id),
                "image/height": int64_feature(height),
                "image/width": int64_feature(width),
            }
        )
    )


def _atomic_write_text(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_label_file(
    labels_to_class_names: Mapping[int, str], dataset_dir: str, filename: str = LABELS_FILENAME
) -> None:
    """Write `label:class name` lines (in the mapping's order) to `dataset_dir/filename`."""
    check_dataset_dir(dataset_dir)
    lines = "".join(f"{int(label)}:{name}\n" for label, name in labels_to_class_names.items())
    _atomic_write_text(os.path.join(dataset_dir, filename), lines)


def has_labels(dataset_dir: str, filename: str = LABELS_FILENAME) -> bool:
    """Whether `dataset_dir` holds a labels file."""
    return bool(dataset_dir) and os.path.isfile(os.path.join(dataset_dir, filename))


def read_label_file(dataset_dir: str, filename: str = LABELS_FILENAME) -> dict:
    """`{label: class name}` from a labels file (`label:name` per line; blank lines ignored)."""
    path = os.path.join(dataset_dir, filename)
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise NotFoundError(f"labels file {path!r} does not exist") from None
    labels = {}
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line:
            continue
        head, sep, name = line.partition(":")
        try:
            if not sep:
                raise ValueError
            labels[int(head)] = name
        except ValueError:
            raise DataLossError(
                f"labels file {path!r}, line {number}: expected 'label:name', got {line!r}"
            ) from None
    return labels


def write_dataset_info(dataset_dir: str, info: Mapping[str, object]) -> None:
    """Write `dataset_info.json` (what a slimir converter produced) into `dataset_dir`."""
    _atomic_write_text(
        os.path.join(dataset_dir, INFO_FILENAME), json.dumps(dict(info), indent=2, sort_keys=True) + "\n"
    )


def read_dataset_info(dataset_dir: Optional[str]) -> Optional[dict]:
    """The `dataset_info.json` of `dataset_dir`, or None if there is none."""
    if not dataset_dir:
        return None
    path = os.path.join(dataset_dir, INFO_FILENAME)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, "r", encoding="utf-8") as f:
            info = json.load(f)
    except (OSError, ValueError) as e:
        raise DataLossError(f"dataset info file {path!r} cannot be read: {e}") from None
    if not isinstance(info, dict) or not isinstance(info.get("splits_to_sizes", {}), dict):
        raise DataLossError(
            f"dataset info file {path!r} is not a JSON object with a 'splits_to_sizes' object"
        )
    return info


def check_dataset_dir(dataset_dir: Optional[str], dataset_name: str = "dataset") -> str:
    """`dataset_dir` if it is an existing directory, else a `NotFoundError` naming it."""
    if not dataset_dir:
        raise NotFoundError(
            f"{dataset_name}: no dataset_dir given (the directory that holds its TFRecord files)"
        )
    if not os.path.isdir(dataset_dir):
        raise NotFoundError(f"{dataset_name}: dataset directory {os.fspath(dataset_dir)!r} does not exist")
    return os.fspath(dataset_dir)


def make_image_split(
    dataset_name: str,
    split_name: str,
    dataset_dir: str,
    file_pattern: Optional[str],
    default_file_pattern: str,
    splits_to_sizes: Mapping[str, int],
    num_classes: int,
    items_to_descriptions: Mapping[str, str],
    reader=None,
    image_shape=None,
    channels: int = 3,
    default_format: bytes = b"png",
    label_default: int = 0,
    extra_features=None,
    extra_handlers=None,
    labels_to_names=None,
) -> Dataset:
    """One split of a TFRecord image dataset in research/slim's layout ('image/encoded', 'image/format',
    'image/class/label'), with `dataset_info.json` overriding sizes, class count and file pattern.

    Raises `InvalidArgumentError` for an unknown split and `NotFoundError` for a missing directory or a split
    whose files are absent.
    """
    dataset_dir = check_dataset_dir(dataset_dir, dataset_name)
    splits = dict(splits_to_sizes)
    info = read_dataset_info(dataset_dir)
    if info is not None and info.get("name", dataset_name) == dataset_name:
        splits = {str(k): int(v) for k, v in info.get("splits_to_sizes", splits).items()}
        num_classes = int(info.get("num_classes", num_classes))
        default_file_pattern = info.get("file_pattern", default_file_pattern)
    if split_name not in splits:
        raise InvalidArgumentError(
            f"{dataset_name}: split name {split_name!r} was not recognized; the splits are {sorted(splits)}"
        )
    pattern = os.path.join(dataset_dir, (file_pattern or default_file_pattern) % split_name)
    try:
        expand_file_patterns(pattern)
    except NotFoundError:
        raise NotFoundError(
            f"{dataset_name}: split {split_name!r} has no files matching {pattern!r}"
        ) from None
    keys_to_features = {
        "image/encoded": tfd.FixedLenFeature((), tfd.string, default_value=b""),
        "image/format": tfd.FixedLenFeature((), tfd.string, default_value=default_format),
        "image/class/label": tfd.FixedLenFeature([], "int64", default_value=label_default),
    }
    keys_to_features.update(extra_features or {})
    items_to_handlers = {
        "image": tfd.Image(shape=image_shape, channels=channels),
        "label": tfd.Tensor("image/class/label"),
    }
    items_to_handlers.update(extra_handlers or {})
    if labels_to_names is None and has_labels(dataset_dir):
        labels_to_names = read_label_file(dataset_dir)
    return Dataset(
        data_sources=pattern,
        reader=reader or TFRecordReader,
        decoder=tfd.TFExampleDecoder(keys_to_features, items_to_handlers),
        num_samples=splits[split_name],
        items_to_descriptions=items_to_descriptions,
        num_classes=num_classes,
        labels_to_names=labels_to_names,
    )


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A TFRecord image dataset in research/slim's layout, declared once: its name, file pattern ('%s' is the
    split), split sizes, class count, item descriptions and how its images are stored (`make_image_split`'s
    arguments). `get_split` is the module-level get_split of research/slim's dataset modules."""

    name: str
    file_pattern: str
    splits_to_sizes: Mapping[str, int]
    num_classes: int
    items_to_descriptions: Mapping[str, str]
    image_shape: Optional[list] = None
    channels: int = 3
    default_format: bytes = b"png"
    label_default: int = 0
    extra_features: Optional[dict] = None
    extra_handlers: Optional[dict] = None
    labels_to_names: Optional[dict] = None

    def get_split(self, split_name: str, dataset_dir: str, file_pattern: Optional[str] = None,
                  reader=None) -> Dataset:
        """The `split_name` split of this dataset in `dataset_dir` (`file_pattern` overrides the pattern,
        `reader` the TFRecord reader)."""
        return make_image_split(
            self.name, split_name, dataset_dir, file_pattern, self.file_pattern, self.splits_to_sizes,
            self.num_classes, self.items_to_descriptions, reader, image_shape=self.image_shape,
            channels=self.channels, default_format=self.default_format, label_default=self.label_default,
            extra_features=self.extra_features, extra_handlers=self.extra_handlers,
            labels_to_names=None if self.labels_to_names is None else dict(self.labels_to_names))
