"""slimir.datasets: get_dataset for digits and for TFRecord layouts of research/slim, converters, errors."""

import io
import os

import numpy as np
import pytest
from PIL import Image as PILImage

from slimir import datasets
from slimir.data import TFRecordWriter, tf_record_iterator
from slimir.data.example import example_from_dict, example_to_dict
from slimir.datasets import dataset_utils
from slimir.errors import DataLossError, InvalidArgumentError, NotFoundError

sklearn_datasets = pytest.importorskip("sklearn.datasets")


def _png(arr) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits_tfrecord_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits")
    assert datasets.convert_digits(str(d)) == {"train": 1500, "test": 297}
    return str(d)


def test_digits_embedded_split_shapes_counts_and_labels():
    train = datasets.get_dataset("digits", "train")
    test = datasets.get_dataset("digits", "test")
    assert (train.num_samples, test.num_samples, train.num_classes) == (1500, 297, 10)
    assert sorted(train.items_to_descriptions) == ["image", "label"]
    images, labels = zip(*train.iterate(["image", "label"]))
    images, labels = np.stack(images), np.array(labels)
    assert images.shape == (1500, 8, 8, 1) and images.dtype == np.uint8 and labels.dtype == np.int64
    assert labels.min() == 0 and labels.max() == 9 and len(np.unique(labels)) == 10
    assert images.max() == 255 and images.min() == 0
    raw = sklearn_datasets.load_digits()
    np.testing.assert_array_equal(images[..., 0], np.rint(raw.images[:1500] * 255 / 16).astype(np.uint8))
    np.testing.assert_array_equal(labels, raw.target[:1500])
    test_labels = np.array([lab for _, lab in test.iterate()])
    np.testing.assert_array_equal(test_labels, raw.target[1500:])
    from slimir.data import (
        TFRecordReader,
    )  # a command line's --skip_corrupt reader does not break the embedded set

    assert (
        len(list(datasets.get_dataset("digits", "test", reader=TFRecordReader(skip_corrupt=True)).iterate()))
        == 297
    )


def test_digits_through_tfrecord_equals_embedded(digits_tfrecord_dir):
    files = sorted(os.listdir(digits_tfrecord_dir))
    assert files == ["digits_test.tfrecord", "digits_train.tfrecord", "labels.txt"]
    assert (
        sum(1 for _ in tf_record_iterator(os.path.join(digits_tfrecord_dir, "digits_test.tfrecord"))) == 297
    )
    from_files = datasets.get_dataset("digits", "test", digits_tfrecord_dir)
    embedded = datasets.get_dataset("digits", "test")
    assert from_files.data_sources.endswith("digits_test.tfrecord") and from_files.num_samples == 297
    pairs = list(zip(from_files.iterate(), embedded.iterate()))
    assert len(pairs) == 297
    for (img_a, lab_a), (img_b, lab_b) in pairs:
        assert img_a.shape == (8, 8, 1) and np.array_equal(img_a, img_b) and int(lab_a) == int(lab_b)
    assert from_files.labels_to_names[7] == "7"


def _make_image_folder(root, classes=("tulip", "daisy", "rose"), per_class=4, size=(6, 5)):
    """Class folders of small distinct PNGs; returns {file name: (pixels, class name)}."""
    rng = np.random.default_rng(0)
    made = {}
    for cls in classes:
        os.makedirs(os.path.join(root, cls))
        for i in range(per_class):
            arr = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            name = f"{cls}_{i}.png"
            with open(os.path.join(root, cls, name), "wb") as f:
                f.write(_png(arr))
            made[name] = (arr, cls)
    return made


def test_convert_image_folder_to_flowers_layout_and_read_back(tmp_path):
    src, dst = str(tmp_path / "src"), str(tmp_path / "tfrecords")
    made = _make_image_folder(src)
    info = datasets.convert_image_folder(src, dst, "flowers", num_shards=2, validation_fraction=0.25, seed=3)
    assert info["splits_to_sizes"] == {"train": 9, "validation": 3} and info["num_classes"] == 3
    assert sorted(os.listdir(dst)) == [
        "dataset_info.json",
        "flowers_train_00000-of-00002.tfrecord",
        "flowers_train_00001-of-00002.tfrecord",
        "flowers_validation_00000-of-00002.tfrecord",
        "flowers_validation_00001-of-00002.tfrecord",
        "labels.txt",
    ]
    assert open(os.path.join(dst, "labels.txt")).read() == "0:daisy\n1:rose\n2:tulip\n"
    first = next(iter(tf_record_iterator(os.path.join(dst, "flowers_train_00000-of-00002.tfrecord"))))
    feats = example_to_dict(first)
    assert sorted(feats) == [
        "image/class/label",
        "image/encoded",
        "image/format",
        "image/height",
        "image/width",
    ]
    assert feats["image/format"] == [b"png"] and feats["image/height"].tolist() == [6]
    seen = []
    for split, size in (("train", 9), ("validation", 3)):
        ds = datasets.get_dataset("flowers", split, dst)
        assert ds.num_samples == size and ds.num_classes == 3
        assert ds.labels_to_names == {0: "daisy", 1: "rose", 2: "tulip"}
        for image, label in ds.iterate(["image", "label"]):
            match = [
                n for n, (arr, _) in made.items() if arr.shape == image.shape and np.array_equal(arr, image)
            ]
            assert len(match) == 1
            assert ds.labels_to_names[int(label)] == made[match[0]][1]
            seen.append(match[0])
    assert sorted(seen) == sorted(made)  # every image once, in exactly one split
    again = str(tmp_path / "again")
    datasets.convert_image_folder(src, again, "flowers", num_shards=2, validation_fraction=0.25, seed=3)
    for name in os.listdir(dst):
        if name.endswith(".tfrecord"):
            assert open(os.path.join(dst, name), "rb").read() == open(os.path.join(again, name), "rb").read()


def test_convert_command_line(tmp_path, capsys):
    from slimir.datasets import convert

    src = str(tmp_path / "src")
    _make_image_folder(src, classes=("x", "y"), per_class=2)
    argv = ["image_folder", src, str(tmp_path / "out"), "--dataset_name", "toy", "--num_shards", "1"]
    assert convert.main(argv + ["--validation_fraction", "0.5"]) == 0
    assert "train: 2" in capsys.readouterr().out
    ds = datasets.get_dataset("toy", "validation", str(tmp_path / "out"))
    assert ds.num_samples == 2 and ds.num_classes == 2 and len(list(ds.iterate())) == 2


def test_convert_image_folder_rejects_a_damaged_image(tmp_path):
    src = str(tmp_path / "src")
    _make_image_folder(src, classes=("a",), per_class=1)
    good = open(os.path.join(src, "a", "a_0.png"), "rb").read()
    with open(os.path.join(src, "a", "broken.png"), "wb") as f:
        f.write(good[: len(good) // 2])
    with pytest.raises(DataLossError, match=r"image '.*broken\.png' cannot be decoded"):
        datasets.convert_image_folder(src, str(tmp_path / "out"), "x", num_shards=1)
    with pytest.raises(InvalidArgumentError, match="num_shards"):
        datasets.convert_image_folder(src, str(tmp_path / "out"), "x", num_shards=0)
    with pytest.raises(NotFoundError, match="no-src"):
        datasets.convert_image_folder(str(tmp_path / "no-src"), str(tmp_path / "out"), "x")


def test_cifar10_layout_written_by_hand(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    with TFRecordWriter(str(tmp_path / "cifar10_test.tfrecord")) as w:
        for i, img in enumerate(images):
            w.write(dataset_utils.image_to_tfexample(_png(img), b"png", 32, 32, i + 4))
    ds = datasets.get_dataset("cifar10", "test", str(tmp_path))
    assert ds.num_samples == 10000 and ds.num_classes == 10 and ds.labels_to_names is None  # published values
    got = list(ds.iterate())
    assert len(got) == 3
    for (image, label), want, lab in zip(got, images, (4, 5, 6)):
        assert image.shape == (32, 32, 3) and np.array_equal(image, want) and int(label) == lab
    with pytest.raises(NotFoundError, match=r"cifar10: split 'train' has no files matching .*cifar10_train"):
        datasets.get_dataset("cifar10", "train", str(tmp_path))


def test_mnist_raw_and_imagenet_boxes(tmp_path):
    digit = (np.arange(28 * 28) % 251).astype(np.uint8).reshape(28, 28, 1)
    with TFRecordWriter(str(tmp_path / "mnist_train.tfrecord")) as w:
        w.write(
            example_from_dict({"image/encoded": digit.tobytes(), "image/class/label": 3})
        )  # format: 'raw'
        w.write(
            example_from_dict(
                {"image/encoded": _png(digit[..., 0]), "image/format": b"png", "image/class/label": 8}
            )
        )
    (image_a, label_a), (image_b, label_b) = datasets.get_dataset("mnist", "train", str(tmp_path)).iterate()
    assert np.array_equal(image_a, digit) and int(label_a) == 3
    assert np.array_equal(image_b, digit) and int(label_b) == 8
    with TFRecordWriter(str(tmp_path / "validation-00000-of-00001")) as w:
        w.write(
            example_from_dict(
                {
                    "image/encoded": _png(np.zeros((5, 7, 3), np.uint8)),
                    "image/format": b"png",
                    "image/class/label": 65,
                    "image/class/text": b"n01440764",
                    "image/object/bbox/xmin": [0.1],
                    "image/object/bbox/ymin": [0.2],
                    "image/object/bbox/xmax": [0.9],
                    "image/object/bbox/ymax": [0.8],
                    "image/object/class/label": [65],
                }
            )
        )
    dataset_utils.write_label_file({0: "background", 65: "tench"}, str(tmp_path))
    ds = datasets.get_dataset("imagenet", "validation", str(tmp_path))
    assert ds.num_classes == 1001 and ds.num_samples == 50000 and ds.labels_to_names[65] == "tench"
    image, label, text, boxes, labels = next(
        ds.iterate(["image", "label", "label_text", "object/bbox", "object/label"])
    )
    assert image.shape == (5, 7, 3) and int(label) == 65 and text[()] == b"n01440764"
    np.testing.assert_allclose(boxes, [[0.2, 0.1, 0.8, 0.9]], rtol=1e-6)
    assert labels.tolist() == [65]


def test_get_dataset_errors(tmp_path, digits_tfrecord_dir):
    with pytest.raises(InvalidArgumentError, match=r"unknown 'cifar100'.*'cifar10', 'digits'"):
        datasets.get_dataset("cifar100", "train", str(tmp_path))
    with pytest.raises(InvalidArgumentError, match=r"flowers: split name 'test' was not recognized.*'train'"):
        datasets.get_dataset("flowers", "test", str(tmp_path))
    with pytest.raises(InvalidArgumentError, match="digits: split name 'validation'"):
        datasets.get_dataset("digits", "validation")
    with pytest.raises(NotFoundError, match=r"flowers: dataset directory '.*nowhere' does not exist"):
        datasets.get_dataset("flowers", "train", str(tmp_path / "nowhere"))
    with pytest.raises(NotFoundError, match="imagenet: no dataset_dir"):
        datasets.get_dataset("imagenet", "train", None)
    with pytest.raises(
        NotFoundError, match=r"flowers: split 'train' has no files matching .*flowers_train_\*"
    ):
        datasets.get_dataset("flowers", "train", str(tmp_path))
    with pytest.raises(NotFoundError, match=r"digits: split 'train' has no files matching .*other_train"):
        datasets.get_dataset("digits", "train", digits_tfrecord_dir, file_pattern="other_%s.tfrecord")
    with pytest.raises(NotFoundError, match="digits: dataset directory"):
        datasets.get_dataset("digits", "train", str(tmp_path / "nowhere"))


def test_converted_folder_with_its_own_name_and_corrupt_shard(tmp_path):
    src, dst = str(tmp_path / "src"), str(tmp_path / "out")
    _make_image_folder(src, classes=("a", "b"), per_class=3)
    datasets.convert_image_folder(src, dst, "pets", num_shards=1, validation_fraction=0.0, seed=0)
    ds = datasets.get_dataset("pets", "train", dst)
    assert ds.num_samples == 6 and ds.num_classes == 2 and len(list(ds.iterate())) == 6
    shard = os.path.join(dst, "pets_train_00000-of-00001.tfrecord")
    raw = bytearray(open(shard, "rb").read())
    raw[40] ^= 0x55  # inside record 0's data
    open(shard, "wb").write(raw)
    with pytest.raises(DataLossError, match=r"pets_train_00000-of-00001\.tfrecord.*record 0"):
        list(ds.iterate())
    from slimir.data import TFRecordReader

    reader = TFRecordReader(skip_corrupt=True)
    skipping = datasets.get_dataset("pets", "train", dst, reader=reader)
    assert len(list(skipping.iterate())) == 5 and reader.num_skipped == 1
    with open(os.path.join(dst, "dataset_info.json"), "w") as f:
        f.write("{broken")
    with pytest.raises(DataLossError, match="dataset_info.json"):
        datasets.get_dataset("pets", "train", dst)


def test_label_file_round_trip_and_bad_lines(tmp_path):
    names = {0: "background", 3: "with: colon", 10: "ten"}
    assert not dataset_utils.has_labels(str(tmp_path))
    dataset_utils.write_label_file(names, str(tmp_path))
    assert dataset_utils.has_labels(str(tmp_path)) and dataset_utils.read_label_file(str(tmp_path)) == names
    (tmp_path / "bad.txt").write_text("0:zero\n\nnot-a-label\n")
    with pytest.raises(DataLossError, match=r"bad.txt', line 3"):
        dataset_utils.read_label_file(str(tmp_path), "bad.txt")
    feature = dataset_utils.float_feature([0.5, 2])
    assert list(feature.float_list.value) == [0.5, 2.0]
    assert list(dataset_utils.int64_feature(3).int64_list.value) == [3]
    assert list(dataset_utils.bytes_feature("jpg").bytes_list.value) == [b"jpg"]
