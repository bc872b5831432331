"""slimir.runtime.checkpoint: the pure-Python TF V2 checkpoint reader, checked on a real TF-Slim checkpoint
(shared/fixtures/tfslim_tiny), whose restored weights must make slimir's layers reproduce TF-Slim's outputs."""

import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

import slimir as slim
from slimir.errors import CheckpointError
from slimir.runtime.checkpoint import (TFCheckpointReader, crc32c, is_tf_checkpoint, latest_tf_checkpoint,
                                       list_variables, mask, resolve_tf_checkpoint, unmask)

SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURE = SHARED / "fixtures" / "tfslim_tiny"
PREFIX = FIXTURE / "model.ckpt"
DATA = FIXTURE / "model.ckpt.data-00000-of-00001"
END_POINTS = ["conv1", "pool1", "sep2", "up3", "pool3", "fc4", "logits"]

needs_fixture = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared fixtures folder {SHARED} is absent "
                                   "(it sits beside the repository checkout)")


def _variables_txt() -> list:
    out = []
    for line in (FIXTURE / "variables.txt").read_text().splitlines():
        if line.strip():
            name, shape = line.split("\t")
            out.append((name, [int(d) for d in shape.strip("[] ").split(",") if d.strip()]))
    return out


# ------------------------------------------------------------------------------------------------ crc32c


def test_crc32c_known_values():
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(b"") == 0
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert unmask(mask(0x12345678)) == 0x12345678


@pytest.mark.parametrize("n", [16383, 16384, 16385, 100_003, 1 << 20])
def test_crc32c_vectorized_matches_bytewise(n):
    from slimir.crc32c import _M32, _update_bytes

    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    expected = _update_bytes(_M32, data) ^ _M32
    assert crc32c(data) == expected
    assert crc32c(data[n // 3:], crc32c(data[: n // 3])) == expected  # extending


# ---------------------------------------------------------------------------------------------- reading


@needs_fixture
def test_lists_exactly_the_variables_of_variables_txt():
    reader = TFCheckpointReader(PREFIX)
    expected = _variables_txt()
    assert reader.list_variables() == sorted(expected)
    assert list_variables(FIXTURE) == sorted(expected)  # a directory resolves through its `checkpoint` file
    for name, shape in expected:
        assert reader.has_tensor(name)
        value = reader.get_tensor(name)
        assert value.dtype == np.float32 and list(value.shape) == shape and value.flags.writeable
        assert np.isfinite(value).all()
    assert not reader.has_tensor("tiny_net/conv1/weights/Momentum")


@needs_fixture
def test_prefix_resolution():
    assert resolve_tf_checkpoint(FIXTURE) == str(PREFIX)
    assert resolve_tf_checkpoint(str(PREFIX) + ".index") == str(PREFIX)
    assert resolve_tf_checkpoint(DATA) == str(PREFIX)
    assert latest_tf_checkpoint(FIXTURE) == str(PREFIX)
    assert is_tf_checkpoint(PREFIX) and is_tf_checkpoint(FIXTURE)
    assert not is_tf_checkpoint(FIXTURE / "reference.npz")
    assert not is_tf_checkpoint(FIXTURE / "nothing_here")


# --------------------------------------------------------------------------- slimir vs TF-Slim, end to end


def tiny_net(x, scope="tiny_net"):
    """make_fixture.py's net, ported by replacing tf / tf_slim with slim."""
    ep = {}
    with slim.variable_scope(scope):
        with slim.arg_scope([slim.conv2d, slim.separable_conv2d, slim.conv2d_transpose, slim.fully_connected],
                            activation_fn=slim.nn.relu,
                            biases_initializer=slim.truncated_normal_initializer(stddev=0.1)):
            net = slim.conv2d(x, 8, [5, 5], stride=2, padding="VALID", scope="conv1"); ep["conv1"] = net
            net = slim.max_pool2d(net, [3, 3], stride=1, padding="SAME", scope="pool1"); ep["pool1"] = net
            net = slim.separable_conv2d(net, 16, [3, 3], depth_multiplier=2, scope="sep2"); ep["sep2"] = net
            net = slim.conv2d_transpose(net, 8, [3, 3], stride=2, padding="SAME", scope="up3"); ep["up3"] = net
            net = slim.avg_pool2d(net, [2, 2], scope="pool3"); ep["pool3"] = net
            net = slim.flatten(net, scope="flatten")
            net = slim.fully_connected(net, 32, scope="fc4"); ep["fc4"] = net
            logits = slim.fully_connected(net, 10, activation_fn=None, scope="logits"); ep["logits"] = logits
    return logits, ep


@pytest.fixture(scope="module")
def restored_outputs():
    if not SHARED.is_dir():
        pytest.skip(f"shared fixtures folder {SHARED} is absent")
    ref = np.load(FIXTURE / "reference.npz")
    reader = TFCheckpointReader(PREFIX)
    with slim.Graph().as_default():
        x = slim.placeholder(slim.float32, [None, 16, 16, 3], name="x")
        _, ep = tiny_net(x)
        variables = slim.global_variables()
        assert sorted((v.op.name, list(v.shape)) for v in variables) == reader.list_variables()
        with slim.Session() as sess:
            sess.run(slim.global_variables_initializer())
            for var in variables:
                sess.set_variable_value(var, reader.get_tensor(var.op.name))
            outs = sess.run(ep, {x: ref["x"]})
    return outs, {k[len("endpoint/"):]: ref[k] for k in ref.files if k.startswith("endpoint/")}


@needs_fixture
def test_reference_has_every_end_point(restored_outputs):
    outs, expected = restored_outputs
    assert sorted(expected) == sorted(END_POINTS) == sorted(outs)


@needs_fixture
@pytest.mark.parametrize("end_point", END_POINTS)
def test_restored_net_reproduces_tf_slim(restored_outputs, end_point):
    outs, expected = restored_outputs
    got, want = np.asarray(outs[end_point]), expected[end_point]
    assert got.shape == want.shape, (end_point, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"end point {end_point}")


# ------------------------------------------------------------------------------------------- corruption


def _copy_checkpoint(tmp_path) -> Path:
    for name in ("model.ckpt.index", "model.ckpt.data-00000-of-00001", "checkpoint"):
        shutil.copy(FIXTURE / name, tmp_path / name)
        os.chmod(tmp_path / name, 0o644)
    return tmp_path / "model.ckpt"


@needs_fixture
def test_flipped_data_byte_is_a_crc_error_naming_the_variable(tmp_path):
    prefix = _copy_checkpoint(tmp_path)
    reader = TFCheckpointReader(prefix)
    name = "tiny_net/fc4/weights"
    entry = reader._entries[name]
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset + entry.size // 2] ^= 0x10
    data.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC") as info:
        reader.get_tensor(name)
    assert name in str(info.value) and str(data) in str(info.value)
    reader.get_tensor("tiny_net/fc4/biases")  # other variables still read
    assert TFCheckpointReader(prefix, verify_crc=False).get_tensor(name).shape == (288, 32)


@needs_fixture
def test_truncated_data_file(tmp_path):
    prefix = _copy_checkpoint(tmp_path)
    reader = TFCheckpointReader(prefix)
    last = max(reader._entries, key=lambda n: reader._entries[n].offset)
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:-7])
    with pytest.raises(CheckpointError, match="truncated") as info:
        reader.get_tensor(last)
    assert last in str(info.value)


@needs_fixture
@pytest.mark.parametrize("keep", [0, 40, 200, -1])
def test_truncated_index(tmp_path, keep):
    prefix = _copy_checkpoint(tmp_path)
    index = tmp_path / "model.ckpt.index"
    raw = index.read_bytes()
    index.write_bytes(raw[:keep] if keep >= 0 else raw[:-1])
    with pytest.raises(CheckpointError) as info:
        TFCheckpointReader(prefix)
    assert str(index) in str(info.value)
    assert not is_tf_checkpoint(prefix)


@needs_fixture
def test_corrupt_index_block(tmp_path):
    prefix = _copy_checkpoint(tmp_path)
    index = tmp_path / "model.ckpt.index"
    raw = bytearray(index.read_bytes())
    raw[20] ^= 0x01  # inside the first data block (a key of the bundle)
    index.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="CRC32C mismatch in the data block"):
        TFCheckpointReader(prefix)


@needs_fixture
def test_missing_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        TFCheckpointReader(tmp_path / "model.ckpt")
    with pytest.raises(CheckpointError, match="checkpoint"):
        TFCheckpointReader(tmp_path)  # a directory without a state file
    prefix = _copy_checkpoint(tmp_path)
    (tmp_path / "model.ckpt.data-00000-of-00001").unlink()
    reader = TFCheckpointReader(prefix)  # the index alone lists the variables
    assert len(reader.list_variables()) == 11
    with pytest.raises(CheckpointError, match="data-00000-of-00001.*tiny_net/conv1/weights"):
        reader.get_tensor("tiny_net/conv1/weights")
    with pytest.raises(CheckpointError, match="not in the checkpoint"):
        reader.get_tensor("tiny_net/conv9/weights")


@needs_fixture
def test_v1_checkpoint_is_named(tmp_path):
    v1 = tmp_path / "model.ckpt"
    shutil.copy(FIXTURE / "model.ckpt.index", v1)  # a lone table file is what a V1 checkpoint looks like
    with pytest.raises(CheckpointError, match="V1"):
        TFCheckpointReader(v1)


# --------------------------------------------------------------------------- dtypes and layout, synthetic


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
    return _varint(num << 3 | wire) + payload


def _len_field(num: int, payload: bytes) -> bytes:
    return _field(num, 2, _varint(len(payload)) + payload)


_HEADER = _field(1, 0, _varint(1)) + _len_field(3, _field(1, 0, _varint(1)))  # num_shards 1, producer 1


def _block(entries) -> bytes:
    """A table block with every entry a restart point (no prefix sharing) - valid for any reader."""
    body, restarts = bytearray(), []
    for key, value in entries:
        restarts.append(len(body))
        body += _varint(0) + _varint(len(key)) + _varint(len(value)) + key + value
    for r in restarts:
        body += struct.pack("<I", r)
    return bytes(body + struct.pack("<I", len(restarts)))


def _write_bundle(prefix: Path, tensors: dict, dtype_codes: dict) -> None:
    """A minimal V2 bundle written from the format's description, to test dtypes the fixture lacks."""
    data, entries = bytearray(), [(b"", _HEADER)]
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], order="C")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(_len_field(2, _field(1, 0, _varint(d))) for d in arr.shape)
        entry = (_field(1, 0, _varint(dtype_codes[name])) + _len_field(2, shape) + _field(4, 0, _varint(len(data)))
                 + _field(5, 0, _varint(len(raw))) + _field(6, 5, struct.pack("<I", mask(crc32c(raw)))))
        entries.append((name.encode(), entry))
        data += raw
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))
    _write_table(Path(f"{prefix}.index"), entries)


def _write_table(path: Path, entries) -> None:
    """An uncompressed table: one data block, an empty metaindex, an index block, the footer."""
    table = bytearray()

    def add_block(contents: bytes) -> bytes:
        handle = _varint(len(table)) + _varint(len(contents))
        table.extend(contents + b"\x00" + struct.pack("<I", mask(crc32c(b"\x00", crc32c(contents)))))
        return handle

    data_handle = add_block(_block(entries))
    meta_handle = add_block(_block([]))
    index_handle = add_block(_block([(entries[-1][0] + b"\xff", data_handle)]))
    footer = meta_handle + index_handle
    table += footer + bytes(40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    path.write_bytes(bytes(table))


def test_dtypes_of_a_synthetic_bundle(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "a/f64": rng.standard_normal((3, 2)), "a/i32": np.arange(-5, 7, dtype=np.int32).reshape(3, 4),
        "a/i64": np.array([-(1 << 40), 1 << 40], dtype=np.int64), "b/u8": np.arange(10, dtype=np.uint8),
        "b/bool": np.array([True, False, True]), "b/f16": np.linspace(-2, 2, 6).astype(np.float16),
        "c/scalar": np.float32(3.5).reshape(()), "global_step": np.int64(1234).reshape(()),
        "c/big": rng.standard_normal((64, 1024)).astype(np.float32),
        "d/c64": (np.arange(4) + 0.5j).astype(np.complex64),
    }
    codes = {"a/f64": 2, "a/i32": 3, "a/i64": 9, "b/u8": 4, "b/bool": 10, "b/f16": 19, "c/scalar": 1,
             "global_step": 9, "c/big": 1, "d/c64": 8}
    _write_bundle(tmp_path / "m", tensors, codes)
    reader = TFCheckpointReader(tmp_path / "m")
    assert reader.list_variables() == sorted((k, list(np.shape(v))) for k, v in tensors.items())
    for name, value in tensors.items():
        got = reader.get_tensor(name)
        assert got.dtype == value.dtype and got.shape == value.shape, name
        np.testing.assert_array_equal(got, value)


def test_bfloat16_reads_as_ml_dtypes(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    value = np.linspace(-3, 3, 8).astype(ml_dtypes.bfloat16).reshape(2, 4)
    _write_bundle(tmp_path / "m", {"w": value}, {"w": 14})
    got = TFCheckpointReader(tmp_path / "m").get_tensor("w")
    assert got.dtype == value.dtype
    np.testing.assert_array_equal(got.astype(np.float32), value.astype(np.float32))


def test_unknown_dtype_is_named(tmp_path):
    _write_bundle(tmp_path / "m", {"h": np.zeros(2, np.int32)}, {"h": 20})  # DT_RESOURCE
    with pytest.raises(CheckpointError, match="'h'.*resource"):
        TFCheckpointReader(tmp_path / "m").get_tensor("h")


def test_string_tensor_layout(tmp_path):
    """DT_STRING data: varint lengths, the masked CRC of the lengths (as uint64), then the bytes."""
    values = [b"", b"conv1", "sch\u00f6n".encode(), b"x" * 300]
    lengths = b"".join(struct.pack("<Q", len(v)) for v in values)
    len_crc = struct.pack("<I", mask(crc32c(lengths)))
    raw = b"".join(_varint(len(v)) for v in values) + len_crc + b"".join(values)
    total = mask(crc32c(b"".join(values), crc32c(len_crc, crc32c(lengths))))
    shape = _len_field(2, _field(1, 0, _varint(2))) + _len_field(2, _field(1, 0, _varint(2)))
    entry = (_field(1, 0, _varint(7)) + _len_field(2, shape) + _field(4, 0, _varint(0))
             + _field(5, 0, _varint(len(raw))) + _field(6, 5, struct.pack("<I", total)))
    (tmp_path / "s.data-00000-of-00001").write_bytes(raw)
    _write_table(tmp_path / "s.index", [(b"", _HEADER), (b"s", entry)])
    got = TFCheckpointReader(tmp_path / "s").get_tensor("s")
    assert got.shape == (2, 2) and got.dtype == object and list(got.ravel()) == values
