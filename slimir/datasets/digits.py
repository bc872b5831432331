"""The 8x8 handwritten digits bundled with scikit-learn (1,797 images, UCI optdigits): a dataset that needs
no download, for examples, tests and benchmarks.

Splits, fixed and deterministic: 'train' is the first 1,500 images of `sklearn.datasets.load_digits()`,
'test' the remaining 297. Items: 'image', an 8x8x1 uint8 array (scikit-learn's 0-16 intensities scaled by
255/16 and rounded, so 16 -> 255; resize in preprocessing if a network wants larger inputs) and 'label',
int64 0-9.

With no `dataset_dir` the images come from scikit-learn, in memory (NumpyReader + DictDecoder). A
`dataset_dir` holding digits_<split>.tfrecord files (written by `slimir.datasets.convert.convert_digits`) is
read through the TFRecord path instead and yields the same arrays. A TFRecord `reader` given for the
in-memory copy (e.g. `TFRecordReader(skip_corrupt=True)` from a command line) is not used there.
"""

from __future__ import annotations

import glob
import os
from typing import Optional

import numpy as np

from ..data.dataset import Dataset
from ..data.readers import NumpyReader, TFRecordReader
from ..data.tfexample_decoder import DictDecoder
from ..errors import InvalidArgumentError, NotFoundError
from .dataset_utils import ImageDataset, check_dataset_dir

_FILE_PATTERN = "digits_%s.tfrecord"
SPLITS_TO_SIZES = {"train": 1500, "test": 297}
NUM_CLASSES = 10
ITEMS_TO_DESCRIPTIONS = {
    "image": "A [8 x 8 x 1] grayscale image, uint8 0-255 (scikit-learn's 0-16 scaled by 255/16).",
    "label": "A single integer between 0 and 9",
}
LABELS_TO_NAMES = {i: str(i) for i in range(NUM_CLASSES)}
#: the digits written as TFRecord files (slimir.datasets.convert.convert_digits)
TFRECORDS = ImageDataset("digits", _FILE_PATTERN, SPLITS_TO_SIZES, NUM_CLASSES, ITEMS_TO_DESCRIPTIONS,
                         image_shape=[8, 8, 1], channels=1, default_format=b"png", labels_to_names=LABELS_TO_NAMES)


def load_arrays(split_name: str) -> tuple:
    """`(images [N, 8, 8, 1] uint8, labels [N] int64)` of one split, from scikit-learn's bundled copy."""
    if split_name not in SPLITS_TO_SIZES:
        raise InvalidArgumentError(
            f"digits: split name {split_name!r} was not recognized; the splits are {sorted(SPLITS_TO_SIZES)}"
        )
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise NotFoundError(
            "the digits dataset is the copy bundled with scikit-learn: pip install scikit-learn"
        ) from None
    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int64)
    n_train = SPLITS_TO_SIZES["train"]
    sl = slice(0, n_train) if split_name == "train" else slice(n_train, None)
    return np.ascontiguousarray(images[sl]), labels[sl]


def get_split(
    split_name: str, dataset_dir: Optional[str] = None, file_pattern: Optional[str] = None, reader=None
) -> Dataset:
    """The `split_name` ('train' or 'test') split of the digits (see the module docstring for the sources)."""
    if split_name not in SPLITS_TO_SIZES:
        raise InvalidArgumentError(
            f"digits: split name {split_name!r} was not recognized; the splits are {sorted(SPLITS_TO_SIZES)}"
        )
    if dataset_dir:
        check_dataset_dir(dataset_dir, "digits")
        pattern = os.path.join(dataset_dir, (file_pattern or _FILE_PATTERN) % split_name)
        if glob.glob(pattern) or file_pattern:
            return TFRECORDS.get_split(split_name, dataset_dir, file_pattern, reader)
    images, labels = load_arrays(split_name)
    if reader is TFRecordReader or isinstance(reader, TFRecordReader):
        reader = None  # the embedded copy is in memory: a TFRecord reader (e.g. skip_corrupt) does not apply
    return Dataset(
        data_sources={"image": images, "label": labels},
        reader=reader or NumpyReader,
        decoder=DictDecoder(["image", "label"]),
        num_samples=len(labels),
        items_to_descriptions=ITEMS_TO_DESCRIPTIONS,
        num_classes=NUM_CLASSES,
        labels_to_names=dict(LABELS_TO_NAMES),
    )
