"""The `slimir` command with research/slim's zoo: `slimir list` shows every network with its input shape,
`slimir export NAME` writes a checked ONNX model for classifiers, video networks and GANs, and
`slimir train --model_name=mobilenet_v2` trains on the embedded digits."""

import re

import onnx
import pytest

from slimir.apps import cli
from slimir.nets import nets_factory


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_shows_the_zoo(capsys):
    rc, out, _ = _run(["list"], capsys)
    assert rc == 0
    rows = {line.split()[0]: line.split()[1:] for line in out.strip().splitlines()}
    assert set(rows) == set(nets_factory.networks_map) | set(nets_factory.generative_map)
    assert rows["mobilenet_v2"] == ["224x224x3", "num_classes=1001"]
    assert rows["nasnet_large"] == ["331x331x3", "num_classes=1000"]
    assert rows["i3d"] == ["64x224x224x3", "num_classes=1000"]
    assert rows["dcgan_generator"] == ["64", "generative"]
    assert rows["cyclegan_generator"] == ["256x256x3", "generative"]


@pytest.mark.slow
@pytest.mark.parametrize("name, size, input_dims, output_dims", [
    ("mobilenet_v3_small", None, ["batch", 224, 224, 3], ["?", 1001]),
    ("nasnet_mobile", 96, ["batch", 96, 96, 3], ["?", 1000]),
    ("s3dg", 32, ["batch", 64, 32, 32, 3], ["?", 1000]),
    ("pix2pix_discriminator", 64, ["batch", 64, 64, 3], ["?", 11, 11, 1]),
    ("pix2pix_generator", 128, ["batch", 128, 128, 3], ["?", 128, 128, 3]),  # nearest-neighbour upsampling
    ("cyclegan_generator", 32, ["batch", 32, 32, 3], ["?", 32, 32, 3]),
])
def test_export_writes_a_checked_model(name, size, input_dims, output_dims, tmp_path, capsys):
    path = tmp_path / f"{name}.onnx"
    argv = ["export", name, "-o", path] + (["--image-size", size] if size else [])
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    onnx.checker.check_model(str(path), full_check=True)
    shown = re.search(r"input\s+\S+ \[(.*)\]", out).group(1).split(", ")
    assert shown == [str(d) for d in input_dims]
    assert re.search(r"output\s+\S+ \[(.*)\]", out).group(1).split(", ") == [str(d) for d in output_dims]


@pytest.mark.slow
def test_train_mobilenet_v2_on_digits(tmp_path, capsys):
    rc, out, err = _run(["train", "--model_name=mobilenet_v2", "--dataset_name=digits", f"--train_dir={tmp_path}",
                         "--max_number_of_steps=3", "--batch_size=8", "--train_image_size=32",
                         "--num_readers=1", "--num_preprocessing_threads=1", "--save_summaries_secs=0"], capsys)
    assert rc == 0, err
    assert "trained mobilenet_v2 on digits/train" in out and "global step 3" in out
    assert (tmp_path / "model.ckpt-3.index").exists() or any(p.name.startswith("model.ckpt-3")
                                                             for p in tmp_path.iterdir())
