"""Tests of the `slimir` command (slimir/apps/cli.py) and of runtime/inspect.py: exported models pass the
full ONNX checker and compute what slim.Session computes; inspect reports TF-Slim's parameter counts;
bad input gives one `slimir: error:` line and exit status 2."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import slimir as slim
from slimir.apps import cli
from slimir.nets import nets_factory
from slimir.runtime.export import build_model
from slimir.runtime.inspect import count_parameters, describe_graph, describe_onnx, format_graph, format_onnx

RTOL = 1e-5
ATOL = 1e-5


def _run(argv, capsys):
    rc = cli.main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def _total_params(text):
    m = re.search(r"Total parameters: ([\d,]+)", text)
    assert m, text
    return int(m.group(1).replace(",", ""))


def _ort(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _input_dims(model):
    return [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]


# ------------------------------------------------------------------------------------------ export


@pytest.mark.slow
@pytest.mark.parametrize("net, channels, params", [("lenet", 1, 3_274_634), ("cifarnet", 3, 1_756_426)])
def test_export_matches_session(net, channels, params, tmp_path, capsys):
    path = tmp_path / f"{net}.onnx"
    rc, out, err = _run(["export", net, "-o", str(path)], capsys)
    assert rc == 0, err
    assert err == ""
    assert str(path) in out and f"{params:,}" in out
    assert path.is_file() and path.stat().st_size > params * 4

    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert _input_dims(model)[0] == "batch"  # dynamic batch by default
    assert count_parameters(model)[0] == params

    # The same network built in this process with the export's default seed (0): the same initial weights.
    graph, images, logits = nets_factory.build_network(net, seed=0)
    size = images.shape[1]
    xv = np.random.default_rng(0).uniform(0.0, 1.0, size=(3, size, size, channels)).astype(np.float32)
    with graph.as_default(), slim.Session() as sess:
        sess.run(slim.global_variables_initializer())
        expected = sess.run(logits, {images: xv})
    assert np.abs(expected).max() > 1e-3

    sess = _ort(path)
    (actual,) = sess.run(None, {sess.get_inputs()[0].name: xv})
    assert actual.shape == (3, 10)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


def test_export_fixed_batch_size(tmp_path, capsys):
    path = tmp_path / "lenet_b4.onnx"
    rc, _out, err = _run(
        ["export", "lenet", "-o", str(path), "--batch-size", "4", "--num-classes", "7"], capsys
    )
    assert rc == 0, err
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert _input_dims(model) == [4, 28, 28, 1]
    out_dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [4, 7]
    sess = _ort(path)
    (y,) = sess.run(None, {"images": np.zeros((4, 28, 28, 1), np.float32)})
    assert y.shape == (4, 7)


def test_export_options_image_size_opset_no_optimize(tmp_path, capsys):
    path = tmp_path / "cifar.onnx"
    rc, _, err = _run(
        [
            "export",
            "cifarnet",
            "-o",
            str(path),
            "--image-size",
            "40",
            "--opset",
            "17",
            "--no-optimize",
            "--num-classes",
            "0",
        ],
        capsys,
    )
    assert rc == 0, err
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    assert _input_dims(model) == ["batch", 40, 40, 3]
    # num_classes=0: the 192 features of fc4 (no logits layer).
    assert model.graph.output[0].type.tensor_type.shape.dim[1].dim_value == 192
    assert not any(i.name.startswith("CifarNet/logits") for i in model.graph.initializer)


# ----------------------------------------------------------------------------------------- inspect


def test_inspect_vgg_16_parameter_count(capsys):
    rc, out, err = _run(["inspect", "vgg_16"], capsys)
    assert rc == 0, err
    assert _total_params(out) == 138_357_544
    assert "138,357,544" in out
    for layer in ("vgg_16/conv3/conv3_2", "vgg_16/pool5", "vgg_16/fc6", "vgg_16/fc8"):
        assert layer in out
    assert "[?, 1, 1, 4096]" in out  # fc6's output shape
    assert "GFLOPs" in out


def test_inspect_nodes_and_passes(capsys):
    rc, out, err = _run(["inspect", "lenet", "--nodes", "--passes", "--batch-size", "2"], capsys)
    assert rc == 0, err
    assert "LeNet/conv1/Conv2D" in out and "conv2d" in out
    assert "[2, 28, 28, 32]" in out
    assert "export pass pipeline" in out


@pytest.mark.slow
@pytest.mark.parametrize("net", ["lenet", "cifarnet"])
def test_inspect_exported_file_reports_the_nets_parameters(net, tmp_path, capsys):
    path = tmp_path / f"{net}.onnx"
    assert cli.main(["export", net, "-o", str(path)]) == 0
    capsys.readouterr()
    rc, from_net, err = _run(["inspect", net], capsys)
    assert rc == 0, err
    rc, from_file, err = _run(["inspect", str(path)], capsys)
    assert rc == 0, err
    assert _total_params(from_file) == _total_params(from_net)
    assert "Conv" in from_file and "MatMul" in from_file
    assert "images" in from_file and "batch" in from_file


@pytest.mark.slow
def test_python_dash_m_and_console_script(tmp_path):
    env = dict(os.environ)
    r = subprocess.run(
        [sys.executable, "-m", "slimir", "--help"],
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "export" in r.stdout and "inspect" in r.stdout and "vgg_16" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "slimir", "inspect", "lenet"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert _total_params(r.stdout) == 3_274_634
    script = Path(sys.executable).parent / "slimir"
    if script.exists():
        r = subprocess.run(
            [str(script), "inspect", "no_such_net"], capture_output=True, check=False, text=True, timeout=60
        )
        assert r.returncode == 2
        assert r.stderr.startswith("slimir: error:") and r.stderr.count("\n") == 1
        assert "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["inspect", "no_such_net"], "unknown network 'no_such_net'"),
        (["export", "resnet_v9_50", "-o", "{tmp}/r.onnx"], "unknown network 'resnet_v9_50'"),
        (["inspect", "{tmp}/missing.onnx"], "no such file"),
        (["export", "lenet", "-o", "{tmp}/no/such/folder/x.onnx"], "does not exist"),
        (["export", "lenet"], "-o/--output"),
        (["export", "lenet", "-o", "{tmp}/x.onnx", "--batch-size", "0"], "--batch-size"),
        (["export", "lenet", "-o", "{tmp}/x.onnx", "--batch-size", "two"], "--batch-size"),
        (["inspect", "lenet", "--image-size", "-5"], "--image-size"),
        (["inspect", "lenet", "--num-classes", "1.5"], "--num-classes"),
        (["export", "lenet", "-o", "{tmp}/x.onnx", "--opset", "7"], "--opset"),
        (["inspect", "vgg_16", "--image-size", "16"], "vgg_16/pool5"),
        (["inspect", "vgg_16", "--image-size", "100"], "vgg_16/fc6"),
        (["inspect", "{tmp}/corrupt.onnx"], "not a readable ONNX model"),
        (["inspect", "{tmp}/empty.onnx"], "empty.onnx is empty (0 bytes)"),
        (["inspect", "{tmp}/nograph.onnx"], "nograph.onnx is not an ONNX model"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_exit_2(argv, fragment, tmp_path, capsys):
    (tmp_path / "corrupt.onnx").write_bytes(b"this is not a protobuf")
    (tmp_path / "empty.onnx").write_bytes(b"")
    # a protobuf message that parses as a ModelProto (producer_name "abc") but holds no graph
    (tmp_path / "nograph.onnx").write_bytes(b"\x12\x03abc")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc, _out, err = _run(argv, capsys)
    assert rc == 2
    assert err.startswith("slimir: error:"), err
    assert err.count("\n") == 1, err
    assert fragment in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.onnx").exists()


# ------------------------------------------------------------------------------ inspect as a library


def test_describe_graph_and_onnx_agree():
    graph, _images, logits = nets_factory.build_network("cifarnet")
    report = describe_graph(logits)
    assert report.total_params == 1_756_426 == report.trainable_params
    assert [la.name for la in report.layers][:3] == ["images", "CifarNet/conv1", "CifarNet/pool1"]
    conv1 = next(la for la in report.layers if la.name == "CifarNet/conv1")
    assert conv1.ops == ["conv2d", "bias_add", "relu"]
    assert conv1.shape == [None, 32, 32, 64]
    assert conv1.params == 5 * 5 * 3 * 64 + 64
    text = format_graph(report)
    assert "1,756,426" in text and "CifarNet/norm1" in text
    # FLOPs of the convolutions and matmuls equal those ONNX shape inference gives for the lowered model.
    dense = sum(n.flops for n in report.nodes if n.op in ("conv2d", "matmul"))
    with graph.as_default():  # as built: the optimised export computes LRN with two more (banded) convolutions
        model = build_model(logits, weights=False, optimize=False)
    onnx.checker.check_model(model, full_check=True)
    rep = describe_onnx(model)
    assert rep.params == 1_756_426 and rep.params_source == "metadata"
    assert rep.param_inputs == 10 and [i.name for i in rep.inputs] == ["images"]
    assert (
        rep.total_flops
        == dense
        == 2 * (5 * 5 * 3 * 32 * 32 * 64 + 5 * 5 * 64 * 16 * 16 * 64 + 4096 * 384 + 384 * 192 + 192 * 10)
    )
    assert rep.op_counts["Conv"] == 2 and rep.op_counts["LRN"] == 2
    assert "Total parameters: 1,756,426" in format_onnx(rep)


def test_describe_onnx_without_slimir_metadata_counts_float_initializers():
    graph, _images, logits = nets_factory.build_network("lenet", num_classes=3)
    with graph.as_default():
        model = build_model(logits, weights=True, optimize=False)  # initializers = the variables, as built
    del model.metadata_props[:]
    rep = describe_onnx(model)
    assert rep.params_source == "initializers"
    assert rep.params == 3_274_634 - 1024 * 10 - 10 + 1024 * 3 + 3


# ------------------------------------------------------------------------------------ every network

NET_PARAMS = {
    "alexnet_v2": 50_303_912,
    "cifarnet": 1_756_426,
    "lenet": 3_274_634,
    "overfeat": 145_704_424,
    "vgg_16": 138_357_544,
    "vgg_19": 143_667_240,
    "vgg_a": 132_863_336,
    # ResNets and MobileNets: counts derived from the architecture in test_nets_resnet / test_nets_mobilenet
    "resnet_v1_50": 25_610_152,
    "resnet_v1_101": 44_654_504,
    "resnet_v1_152": 60_344_232,
    "resnet_v1_200": 64_849_832,
    "resnet_v2_50": 25_613_800,
    "resnet_v2_101": 44_675_560,
    "resnet_v2_152": 60_380_648,
    "resnet_v2_200": 64_894_440,
    "mobilenet_v1": 4_253_864,
    "mobilenet_v1_075": 2_601_976,
    "mobilenet_v1_050": 1_342_536,
    "mobilenet_v1_025": 475_544,
    # Inception: TF-Slim's base counts (inception_v*_test.py) + the 1000-class logits (test_nets_inception)
    "inception_v1": 6_632_184,
    "inception_v2": 11_198_112,
    "inception_v3": 23_851_784,
}
# research/slim's zoo beyond TF-Slim's nets (their default classes; the counts of the graph the logits need,
# so without auxiliary heads): derived and cross-checked in tests/nets/test_nets_*.py
ZOO_PARAMS = {
    "dcgan_discriminator": 11_151_041,
    "dcgan_generator": 3_279_747,
    "inception_resnet_v2": 55_875_273,
    "inception_v4": 42_712_937,
    "mobilenet_edgetpu": 4_131_593,
    "mobilenet_edgetpu_075": 3_019_569,
    "mobilenet_v2": 3_540_265,
    "mobilenet_v2_035": 1_692_489,
    "mobilenet_v2_140": 6_158_505,
    "mobilenet_v3_large": 5_508_713,
    "mobilenet_v3_large_minimalistic": 3_949_969,
    "mobilenet_v3_small": 2_555_993,
    "mobilenet_v3_small_minimalistic": 2_057_873,
    "nasnet_cifar": 4_145_096,
    "nasnet_large": 88_949_818,
    "nasnet_mobile": 5_326_716,
    "pnasnet_large": 86_234_656,
    "pnasnet_mobile": 5_098_151,
    "i3d": 13_319_544,
    "s3dg": 10_148_408,
    "pix2pix_generator": 48_839_875,
    "pix2pix_discriminator": 2_765_633,
    "cyclegan_generator": 7_841_219,
}


def test_nets_factory_maps_every_network():
    from slimir.nets import nets_factory

    assert set(nets_factory.networks_map) == set(nets_factory.arg_scopes_map)
    assert set(nets_factory.networks_map) | set(nets_factory.generative_map) == set(NET_PARAMS) | set(ZOO_PARAMS)
    with pytest.raises(ValueError, match="Name of network unknown"):
        nets_factory.get_network_fn("resnet_v9_50", 10)
    fn = nets_factory.get_network_fn("alexnet_v2", 12, weight_decay=0.01, is_training=False)
    assert fn.default_image_size == 224 and fn.__name__ == "alexnet_v2"
    with slim.Graph().as_default():
        images = slim.placeholder(slim.float32, [1, 300, 400, 3])
        logits, _ = fn(images, spatial_squeeze=False)  # extra keyword arguments reach the network
        assert logits.shape.as_list() == [1, 4, 7, 12]
        assert len(slim.get_collection(slim.GraphKeys.REGULARIZATION_LOSSES)) == 8


def _inspect_and_lower(net, params, capsys):
    rc, out, err = _run(["inspect", net], capsys)
    assert rc == 0, err
    assert _total_params(out) == params
    graph, _images, logits = nets_factory.build_network(net, batch_size=2)
    with graph.as_default():
        model = build_model(logits, weights=False)  # structure only, no weights serialised
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(NET_PARAMS))
def test_every_network_inspects_and_lowers(net, capsys):
    model = _inspect_and_lower(net, NET_PARAMS[net], capsys)
    rep = describe_onnx(model)
    assert rep.params == NET_PARAMS[net]
    assert [i.name for i in rep.inputs] == ["images"] and rep.inputs[0].shape[0] == 2
    classes = 10 if net in ("lenet", "cifarnet") else 1000
    assert rep.outputs[0].shape == [2, classes]


# outputs other than [batch, 1001] (research/slim's NASNet builders have no default num_classes: 1000)
ZOO_OUTPUTS = {"dcgan_generator": [2, 32, 32, 3], "dcgan_discriminator": [2, 1], "i3d": [2, 1000], "s3dg": [2, 1000],
               "pix2pix_generator": [2, 256, 256, 3], "pix2pix_discriminator": [2, 35, 35, 1],
               "cyclegan_generator": [2, 256, 256, 3],
               **{n: [2, 1000] for n in ("nasnet_cifar", "nasnet_mobile", "nasnet_large", "pnasnet_mobile",
                                         "pnasnet_large")}}


@pytest.mark.slow
@pytest.mark.parametrize("net", sorted(ZOO_PARAMS))
def test_every_zoo_network_inspects_and_lowers(net, capsys):
    """The ONNX model's parameter count may be lower than the graph's (the zero-debias state of DCGAN's
    batch norms is unused at inference)."""
    model = _inspect_and_lower(net, ZOO_PARAMS[net], capsys)
    rep = describe_onnx(model)
    assert 0 < rep.params <= ZOO_PARAMS[net]
    assert [i.name for i in rep.inputs] == ["images"] and rep.inputs[0].shape[0] == 2
    assert rep.outputs[0].shape == ZOO_OUTPUTS.get(net, [2, 1001])
