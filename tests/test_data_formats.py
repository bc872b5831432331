"""slim.data record formats: CRC-32C, TFRecord framing, tf.train.Example wire format, decoders, readers."""

import gzip
import io
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image as PILImage

from slimir import crc32c as crc_mod
from slimir.data import example as ex_mod
from slimir.data import readers, tfrecord
from slimir.data import tfexample_decoder as tfd
from slimir.errors import DataLossError, DTypeError, InvalidArgumentError, NotFoundError, ShapeError

# ------------------------------------------------------------------------------------------- CRC-32C


def _crc32c_bitwise(data: bytes) -> int:
    """CRC-32C straight from its definition (reflected polynomial 0x82F63B78), one bit at a time."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def _mask(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def test_crc32c_known_value_and_implementations_agree():
    assert _crc32c_bitwise(b"123456789") == 0xE3069283
    assert crc_mod.crc32c(b"123456789") == 0xE3069283
    assert crc_mod.crc32c_pure(b"123456789") == 0xE3069283
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 4096, 16_384, 20_000, 65_536, 300_001):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert crc_mod.crc32c(data) == crc_mod.crc32c_pure(data)
        assert crc_mod.crc32c(data[n // 2 :], crc_mod.crc32c(data[: n // 2])) == crc_mod.crc32c(data)
    assert crc_mod.crc32c(bytearray(b"123456789")) == 0xE3069283  # non-bytes buffers too
    assert crc_mod.masked_crc32c(b"123456789") == _mask(0xE3069283)


def test_crc32c_uses_the_c_implementation_when_installed():
    pytest.importorskip("google_crc32c")
    assert crc_mod.IMPLEMENTATION == "c"


# ------------------------------------------------------------------------------------------- TFRecord


def _write(path, records, options=None):
    with tfrecord.TFRecordWriter(str(path), options) as w:
        for r in records:
            w.write(r)
    return str(path)


def test_tfrecord_bytes_match_the_format_spec(tmp_path):
    path = _write(tmp_path / "a.tfrecord", [b"123456789"])
    header = struct.pack("<Q", 9)
    expected = (
        header
        + struct.pack("<I", _mask(_crc32c_bitwise(header)))
        + b"123456789"
        + struct.pack("<I", _mask(0xE3069283))
    )
    assert open(path, "rb").read() == expected
    # the data CRC by hand: rotate 0xE3069283 right by 15 and add the mask delta
    assert (
        struct.unpack("<I", expected[-4:])[0]
        == (((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    )
    assert list(tfrecord.tf_record_iterator(path)) == [b"123456789"]


def test_reads_a_file_another_tfrecord_writer_wrote(tmp_path):
    """tensorboardX writes event files as TFRecords with its own CRC code: an independent writer."""
    tbx = pytest.importorskip("tensorboardX")
    from tensorboardX.proto import event_pb2

    with tbx.SummaryWriter(str(tmp_path)) as w:
        for step in range(3):
            w.add_scalar("loss", 0.5 * step, step)
    (path,) = [str(p) for p in tmp_path.iterdir() if p.name.startswith("events")]
    records = list(tfrecord.tf_record_iterator(path))
    events = [event_pb2.Event.FromString(r) for r in records]
    assert [(e.step, [v.simple_value for v in e.summary.value]) for e in events[1:]] == [
        (0, [0.0]),
        (1, [0.5]),
        (2, [1.0]),
    ]
    assert b"".join(tfrecord.encode_record(r) for r in records) == open(path, "rb").read()


def test_tfrecord_round_trip_empty_and_large_records(tmp_path):
    rng = np.random.default_rng(1)
    large = rng.integers(0, 256, 3 * 1024 * 1024 + 5, dtype=np.uint8).tobytes()
    records = [b"", b"x", large, b"", bytes(range(256))]
    path = _write(tmp_path / "r.tfrecord", records)
    assert os.path.getsize(path) == sum(16 + len(r) for r in records)
    it = tfrecord.tf_record_iterator(path)
    assert list(it) == records
    assert it.num_records == 5 and it.num_skipped == 0


@pytest.mark.parametrize("compression", ["GZIP", "ZLIB"])
def test_tfrecord_compressed_round_trip(tmp_path, compression):
    big = np.random.default_rng(2).integers(0, 256, 2_500_000, dtype=np.uint8).tobytes()  # > the 1 MiB chunks
    records = [b"abc" * 1000, b"", big, b"z", big[:1000]]
    path = _write(tmp_path / "c.tfrecord", records, compression)
    raw = open(path, "rb").read()
    plain = gzip.decompress(raw) if compression == "GZIP" else zlib.decompress(raw)
    assert plain == b"".join(tfrecord.encode_record(r) for r in records)
    assert list(tfrecord.tf_record_iterator(path, tfrecord.TFRecordOptions(compression))) == records
    with open(path, "wb") as f:
        f.write(raw[: len(raw) // 2])
    with pytest.raises(DataLossError, match=f"c.tfrecord': record .* of the inflated {compression} stream"):
        list(tfrecord.tf_record_iterator(path, compression))
    with open(path, "wb") as f:
        f.write(raw[:-1])  # every record is whole, the stream's end is missing
    with pytest.raises(DataLossError, match=f"record 5 .*the {compression} stream is damaged"):
        list(tfrecord.tf_record_iterator(path, compression))
    open(path, "wb").close()
    assert list(tfrecord.tf_record_iterator(path, compression)) == []  # an empty file holds no records
    with pytest.raises(InvalidArgumentError, match="BZIP"):
        tfrecord.TFRecordOptions("BZIP")
    assert tfrecord.TFRecordOptions(2).compression_type == "GZIP"  # TF 1.x's enum value


def test_tfrecord_writer_publishes_only_on_close(tmp_path):
    path = tmp_path / "w.tfrecord"
    w = tfrecord.TFRecordWriter(str(path))
    w.write(b"one")
    w.flush()
    assert not path.exists()
    w.close()
    assert list(tfrecord.tf_record_iterator(str(path))) == [b"one"]
    with pytest.raises(RuntimeError):
        with tfrecord.TFRecordWriter(str(path)) as w2:
            w2.write(b"two")
            raise RuntimeError("boom")
    assert list(tfrecord.tf_record_iterator(str(path))) == [b"one"]  # the old file is untouched
    assert sorted(os.listdir(tmp_path)) == ["w.tfrecord"]  # and no temporary file is left
    with pytest.raises(NotFoundError, match="does not exist"):
        tfrecord.TFRecordWriter(str(tmp_path / "missing" / "x.tfrecord"))


def _three_records(tmp_path):
    return _write(tmp_path / "three.tfrecord", [b"a" * 10, b"b" * 20, b"c" * 30])


def test_corrupt_data_crc_names_file_and_record(tmp_path):
    path = _three_records(tmp_path)
    raw = bytearray(open(path, "rb").read())
    raw[26 + 12 + 5] ^= 0x01  # a byte of record 1's data (record 0 takes 16 + 10 bytes)
    open(path, "wb").write(raw)
    with pytest.raises(DataLossError, match=r"three\.tfrecord.*record 1 \(byte offset 26\).*data's CRC"):
        list(tfrecord.tf_record_iterator(path))
    seen = []
    it = tfrecord.tf_record_iterator(path, skip_corrupt=True, on_corrupt=lambda *a: seen.append(a[:3]))
    assert list(it) == [b"a" * 10, b"c" * 30]
    assert it.num_skipped == 1 and seen == [(path, 1, 26)]


def test_corrupt_length_and_truncation(tmp_path):
    path = _three_records(tmp_path)
    good = open(path, "rb").read()
    bad_len = bytearray(good)
    bad_len[26] ^= 0xFF  # record 1's length field
    open(path, "wb").write(bad_len)
    with pytest.raises(DataLossError, match=r"record 1 .*length's CRC"):
        list(tfrecord.tf_record_iterator(path))
    it = tfrecord.tf_record_iterator(path, skip_corrupt=True)
    assert list(it) == [b"a" * 10] and it.num_skipped == 1
    for cut, what in (
        (len(good) - 3, "record 2 .*truncated record"),
        (26 + 5, "record 1 .*truncated record header"),
    ):
        open(path, "wb").write(good[:cut])
        with pytest.raises(DataLossError, match=what):
            list(tfrecord.tf_record_iterator(path))
        it = tfrecord.tf_record_iterator(path, skip_corrupt=True)
        assert len(list(it)) == (2 if cut > 60 else 1) and it.num_skipped == 1
    with pytest.raises(NotFoundError, match="nope.tfrecord"):
        list(tfrecord.tf_record_iterator(str(tmp_path / "nope.tfrecord")))


def test_tfrecord_reader_keys_and_skip_counts(tmp_path):
    a = _write(tmp_path / "part-0.tfrecord", [b"0", b"1"])
    path = _write(tmp_path / "part-1.tfrecord", [b"2", b"3", b"4"])
    raw = bytearray(open(path, "rb").read())
    raw[17 + 12] ^= 1  # data of record 1 of part-1
    open(path, "wb").write(raw)
    reader = readers.TFRecordReader(skip_corrupt=True)
    pairs = list(reader.read_all(str(tmp_path / "part-*.tfrecord")))
    assert pairs == [(f"{a}:0", b"0"), (f"{a}:1", b"1"), (f"{path}:0", b"2"), (f"{path}:2", b"4")]
    assert reader.num_skipped == 1 and reader.skipped[0][:2] == (path, 1)
    with pytest.raises(NotFoundError, match=r"nothing-\*"):
        readers.TFRecordReader().list_sources(str(tmp_path / "nothing-*"))


# ------------------------------------------------------------------------------------------- Example


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def test_example_serialization_matches_hand_encoding():
    # Example{features{feature{key:"a" value{int64_list{value:[1, 300]}}}}} by the wire format and the field
    # numbers of TF's example.proto/feature.proto: Example.features=1, Features.feature=1 (map entry key=1,
    # value=2), Feature.int64_list=3 / float_list=2 / bytes_list=1, XList.value=1 (packed for numbers)
    int64_list = _ld(1, _varint(1) + _varint(300))
    entry = _ld(1, b"a") + _ld(2, _ld(3, int64_list))
    expected = _ld(1, _ld(1, entry))
    assert expected == bytes.fromhex("0a0e0a0c0a016112071a050a0301ac02")
    built = ex_mod.example_from_dict({"a": [1, 300]})
    assert built.SerializeToString() == expected
    floats = _ld(2, _ld(1, struct.pack("<2f", 0.5, -2.0)))
    strings = _ld(1, _ld(1, b"png") + _ld(1, b""))
    for feature, wire in (
        (ex_mod.feature_from_value([0.5, -2.0]), floats),
        (ex_mod.feature_from_value([b"png", ""]), strings),
    ):
        assert feature.SerializeToString() == wire
    parsed = ex_mod.example_to_dict(_ld(1, _ld(1, _ld(1, b"f") + _ld(2, floats))))
    assert parsed["f"].dtype == np.float32 and parsed["f"].tolist() == [0.5, -2.0]


def test_example_dict_round_trip_and_errors():
    values = {
        "image/encoded": b"\x00\xff",
        "image/format": "png",
        "label": 7,
        "scores": np.array([0.25, 1.5]),
        "ids": np.arange(6, dtype=np.int32).reshape(2, 3),
        "flags": [True, False],
    }
    out = ex_mod.example_to_dict(ex_mod.example_from_dict(values).SerializeToString())
    assert out["image/encoded"] == [b"\x00\xff"] and out["image/format"] == [b"png"]
    assert out["label"].tolist() == [7] and out["label"].dtype == np.int64
    assert out["scores"].tolist() == [0.25, 1.5] and out["ids"].tolist() == [0, 1, 2, 3, 4, 5]
    assert out["flags"].tolist() == [1, 0]
    with pytest.raises(DTypeError, match="'mixed'"):
        ex_mod.example_from_dict({"mixed": [1, b"x"]})
    with pytest.raises(DTypeError, match="'c'"):
        ex_mod.example_from_dict({"c": np.array([1 + 2j])})
    with pytest.raises(DataLossError, match="file.tfrecord:3"):
        ex_mod.parse_example_proto(b"\x0a\x05\x01", "file.tfrecord:3")


# ------------------------------------------------------------------------------------------- decoders


def _png(arr) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(arr, quality=95) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _image_decoder(**image_kwargs):
    return tfd.TFExampleDecoder(
        {
            "image/encoded": tfd.FixedLenFeature((), tfd.string, default_value=b""),
            "image/format": tfd.FixedLenFeature((), tfd.string, default_value=b"png"),
            "image/class/label": tfd.FixedLenFeature([], "int64", default_value=-1),
        },
        {"image": tfd.Image(**image_kwargs), "label": tfd.Tensor("image/class/label")},
    )


def _smooth_rgb(h=24, w=32):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (h + w - 2)], -1).astype(
        np.uint8
    )


def test_image_handler_png_exact_and_channels():
    rgb = _smooth_rgb()
    record = ex_mod.example_from_dict(
        {"image/encoded": _png(rgb), "image/format": b"png", "image/class/label": 4}
    ).SerializeToString()
    image, label = _image_decoder().decode(record)
    assert image.shape == (24, 32, 3) and image.dtype == np.uint8 and np.array_equal(image, rgb)
    assert label.shape == () and int(label) == 4
    gray = _image_decoder(channels=1).decode(record, ["image"])[0]
    luma = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    assert gray.shape == (24, 32, 1) and np.abs(gray[..., 0] - luma).max() <= 1.0
    one_channel = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    record = ex_mod.example_from_dict({"image/encoded": _png(one_channel)}).SerializeToString()
    as_rgb = _image_decoder().decode(record, ["image"])[0]  # format defaults to png, label absent
    assert as_rgb.shape == (6, 8, 3) and all(np.array_equal(as_rgb[..., c], one_channel) for c in range(3))
    as_float = _image_decoder(channels=1, dtype="float32", shape=[6, 8, 1]).decode(record)
    assert as_float[0].dtype == np.float32 and as_float[0][..., 0].tolist() == one_channel.tolist()
    assert int(as_float[1]) == -1


def test_image_handler_repeated():
    frames = [np.full((3, 4, 3), v, np.uint8) for v in (10, 200)]
    decoder = tfd.TFExampleDecoder(
        {
            "frames": tfd.VarLenFeature(tfd.string),
            "image/format": tfd.FixedLenFeature((), tfd.string, default_value="png"),
        },
        {"frames": tfd.Image("frames", repeated=True)},
    )
    (stack,) = decoder.decode(ex_mod.example_from_dict({"frames": [_png(f) for f in frames]}))
    assert stack.shape == (2, 3, 4, 3) and stack[0].max() == 10 and stack[1].min() == 200


def test_image_handler_jpeg_approximate_and_raw():
    rgb = _smooth_rgb(40, 48)
    record = {"image/encoded": _jpeg(rgb), "image/format": b"jpeg", "image/class/label": 1}  # a dict record
    image = _image_decoder().decode(record, ["image"])[0]
    assert image.shape == (40, 48, 3)
    assert np.abs(image.astype(int) - rgb).mean() < 2.0
    raw = np.arange(2 * 3 * 1, dtype=np.uint8).reshape(2, 3, 1)
    record = {"image/encoded": raw.tobytes(), "image/format": b"raw"}
    assert np.array_equal(_image_decoder(shape=[2, 3, 1], channels=1).decode(record, ["image"])[0], raw)


def test_undecodable_image_names_the_record():
    record = ex_mod.example_from_dict({"image/encoded": b"not an image", "image/format": b"jpeg"})
    with pytest.raises(
        DataLossError, match=r"flowers_train_00001-of-00005\.tfrecord:12: item 'image'.*decode"
    ):
        _image_decoder().decode(
            record.SerializeToString(), record_key="flowers_train_00001-of-00005.tfrecord:12"
        )


def test_tensor_handlers_fixed_varlen_shapes_and_boxes():
    decoder = tfd.TFExampleDecoder(
        {
            "m": tfd.FixedLenFeature([2, 3], "float32"),
            "v": tfd.VarLenFeature("int64"),
            "h": tfd.FixedLenFeature([], "int64"),
            "w": tfd.FixedLenFeature([], "int64"),
            "flat": tfd.VarLenFeature("float32"),
            "text": tfd.FixedLenFeature([], tfd.string, default_value="none"),
            "b/ymin": tfd.VarLenFeature("float32"),
            "b/xmin": tfd.VarLenFeature("float32"),
            "b/ymax": tfd.VarLenFeature("float32"),
            "b/xmax": tfd.VarLenFeature("float32"),
        },
        {
            "m": tfd.Tensor("m"),
            "v": tfd.Tensor("v"),
            "grid": tfd.Tensor("flat", shape_keys=["h", "w"]),
            "text": tfd.Tensor("text"),
            "boxes": tfd.BoundingBox(prefix="b/"),
            "v_or_m": tfd.BackupHandler(tfd.Tensor("v"), tfd.Tensor("m")),
            "sum": tfd.ItemHandlerCallback(["m", "v"], lambda t: float(t["m"].sum() + t["v"].values.sum())),
        },
    )
    record = ex_mod.example_from_dict(
        {
            "m": [1.0, 2, 3, 4, 5, 6],
            "v": [7, 8, 9],
            "h": 2,
            "w": 2,
            "flat": [0.5, 1.5, 2.5, 3.5],
            "b/ymin": [0.1, 0.2],
            "b/xmin": [0.3, 0.4],
            "b/ymax": [0.5, 0.6],
            "b/xmax": [0.7, 0.8],
        }
    ).SerializeToString()
    m, v, grid, text, boxes, v_or_m, total = decoder.decode(record)
    assert m.shape == (2, 3) and m.dtype == np.float32 and m.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert v.dtype == np.int64 and v.tolist() == [7, 8, 9]
    assert grid.tolist() == [[0.5, 1.5], [2.5, 3.5]]
    assert text.shape == () and text[()] == b"none"  # the default
    np.testing.assert_allclose(boxes, [[0.1, 0.3, 0.5, 0.7], [0.2, 0.4, 0.6, 0.8]], rtol=1e-6)
    assert v_or_m.tolist() == [7, 8, 9] and total == 45.0
    no_v = ex_mod.example_from_dict({"m": [0.0] * 6, "h": 1, "w": 0, "flat": np.zeros(0, np.float32)})
    assert decoder.decode(no_v, ["v", "v_or_m", "grid"])[1].shape == (2, 3)  # empty VarLen -> backup
    as_dict = {"m": np.zeros((2, 3)), "v": [], "h": 1, "w": 1, "flat": [2.5]}  # a dict record, empty int list
    assert [x.tolist() for x in decoder.decode(as_dict, ["v", "grid"])] == [[], [[2.5]]]
    assert decoder.list_items() == ["m", "v", "grid", "text", "boxes", "v_or_m", "sum"]
    with pytest.raises(InvalidArgumentError, match=r"rec:0: feature 'h' is required"):
        decoder.decode(ex_mod.example_from_dict({"m": [0.0] * 6}), ["grid"], record_key="rec:0")
    with pytest.raises(ShapeError, match="feature 'm' has 2 values.*needs 6"):
        decoder.decode(ex_mod.example_from_dict({"m": [1.0, 2.0]}), ["m"])
    with pytest.raises(DTypeError, match="feature 'm' holds int64 values, its spec wants float32"):
        decoder.decode(ex_mod.example_from_dict({"m": [1, 2, 3, 4, 5, 6]}), ["m"])
    with pytest.raises(InvalidArgumentError, match="unknown items"):
        decoder.decode(record, ["nope"])
    with pytest.raises(InvalidArgumentError, match="needs features"):
        tfd.TFExampleDecoder({}, {"x": tfd.Tensor("x")})
    with pytest.raises(DTypeError, match="int64, float32 or string"):
        tfd.FixedLenFeature([], "int32")
    with pytest.raises(DTypeError, match="default_value 'abc' is not a Python/numpy int64"):
        tfd.FixedLenFeature([], "int64", default_value="abc")
    with pytest.raises(ShapeError, match=r"shape \[3\] does not fit the feature's shape \[2\]"):
        tfd.FixedLenFeature([2], "float32", default_value=[1.0, 2.0, 3.0])
    import slimir as slim

    spec = {
        "s": tfd.FixedLenFeature([], slim.data.string),
        "i": tfd.FixedLenFeature([], slim.int64, default_value=5),
    }
    parsed = tfd.parse_single_example(ex_mod.example_from_dict({"s": "text"}).SerializeToString(), spec)
    assert parsed["s"][()] == b"text" and parsed["i"].dtype == np.int64 and int(parsed["i"]) == 5


def test_lookup_tensor_and_abstract_handler():
    decoder = tfd.TFExampleDecoder(
        {"text": tfd.VarLenFeature(tfd.string)},
        {
            "ids": tfd.LookupTensor("text", {b"cat": 3, b"dog": 5}),
            "upper": tfd.LookupTensor("text", lambda v: v.upper()),
        },
    )
    ids, upper = decoder.decode(ex_mod.example_from_dict({"text": ["dog", "cat", "dog"]}))
    assert ids.tolist() == [5, 3, 5] and upper.tolist() == [b"DOG", b"CAT", b"DOG"]
    with pytest.raises(
        InvalidArgumentError, match=r"r:1: item 'ids': feature 'text': value b'cow' is not in"
    ):
        decoder.decode(ex_mod.example_from_dict({"text": ["cow"]}), ["ids"], record_key="r:1")

    class Incomplete(tfd.ItemHandler):
        pass

    with pytest.raises(TypeError, match="tensors_to_item"):
        Incomplete(["k"])


def test_dict_decoder_and_numpy_reader(tmp_path):
    images = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2, 1)
    labels = np.array([2, 0, 1], dtype=np.int64)
    decoder = tfd.DictDecoder({"image": "x", "label": "y"})
    reader = readers.NumpyReader()
    got = [decoder.decode(rec, record_key=key) for key, rec in reader.read_all({"x": images, "y": labels})]
    assert [int(lab) for _, lab in got] == [2, 0, 1] and np.array_equal(got[1][0], images[1])
    npz = tmp_path / "d.npz"
    np.savez(npz, x=images, y=labels)
    keys = [k for k, _ in reader.read_all(str(npz))]
    assert keys == [f"{npz}:0", f"{npz}:1", f"{npz}:2"] and reader.num_records(str(npz)) == 3
    row = reader.read_record(str(npz), 2)  # random access
    assert np.array_equal(row["x"], images[2]) and int(row["y"]) == 1
    with pytest.raises(InvalidArgumentError, match="record 3 out of range"):
        reader.read_record(str(npz), 3)
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataLossError, match="obj.npz"):
        list(reader.read_all(str(tmp_path / "obj.npz")))
    with pytest.raises(InvalidArgumentError, match="same first dimension"):
        list(reader.read_all({"x": images, "y": labels[:2]}))
    with pytest.raises(InvalidArgumentError, match="needs key 'y'"):
        decoder.decode({"x": images[0]}, record_key="arrays:0")


def test_image_folder_reader_labels_follow_sorted_class_names(tmp_path):
    rgb = _smooth_rgb(4, 4)
    for cls, names in (("zebra", ["b.png", "a.PNG"]), ("ant", ["x.jpg"]), ("moth", [])):
        (tmp_path / cls).mkdir()
        for n in names:
            (tmp_path / cls / n).write_bytes(_jpeg(rgb) if n.endswith("jpg") else _png(rgb))
    (tmp_path / "zebra" / "notes.txt").write_text("ignored")
    reader = readers.ImageFolderReader()
    assert reader.class_names(str(tmp_path)) == ["ant", "moth", "zebra"]
    records = list(reader.read_all(str(tmp_path)))
    assert [(os.path.basename(k), r["image/class/label"], r["image/format"]) for k, r in records] == [
        ("x.jpg", 0, b"jpeg"),
        ("a.PNG", 2, b"png"),
        ("b.png", 2, b"png"),
    ]
    image, label = _image_decoder().decode(records[2][1], record_key=records[2][0])
    assert np.array_equal(image, rgb) and int(label) == 2
    assert reader.num_records(str(tmp_path)) == 3
    assert reader.read_record(str(tmp_path), 1)["image/filename"] == b"a.PNG"
    with pytest.raises(NotFoundError, match="no-such-dir"):
        reader.list_sources(str(tmp_path / "no-such-dir"))


def test_sequence_example_wire_format_and_decoder():
    # SequenceExample{context=1: Features, feature_lists=2: FeatureLists{feature_list=1: map<str, List>}},
    # FeatureList (List){feature=1: repeated Feature}; Feature.int64_list=3, float_list=2
    def int64_feature(*v):
        return _ld(3, _ld(1, b"".join(_varint(x) for x in v)))

    def float_feature(*v):
        return _ld(2, _ld(1, struct.pack(f"<{len(v)}f", *v)))

    context = _ld(1, _ld(1, b"len") + _ld(2, int64_feature(3)))
    tok = _ld(1, b"tok") + _ld(2, b"".join(_ld(1, int64_feature(a, b)) for a, b in ((1, 2), (3, 4), (5, 6))))
    var = _ld(1, b"var") + _ld(
        2, _ld(1, float_feature(1.0)) + _ld(1, _ld(2, b"")) + _ld(1, float_feature(2, 3))
    )
    wire = _ld(1, context) + _ld(2, _ld(1, tok) + _ld(1, var))
    decoder = tfd.TFSequenceExampleDecoder(
        {"len": tfd.FixedLenFeature([], "int64")},
        {
            "tok": tfd.FixedLenSequenceFeature([2], "int64"),
            "var": tfd.VarLenFeature("float32"),
            "absent": tfd.FixedLenSequenceFeature([3], "float32", allow_missing=True),
        },
        {
            "len": tfd.Tensor("len"),
            "tok": tfd.Tensor("tok"),
            "var": tfd.Tensor("var", default_value=-1),
            "absent": tfd.Tensor("absent"),
        },
    )
    length, tok_values, var_values, absent = decoder.decode(wire)
    assert int(length) == 3 and tok_values.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert var_values.tolist() == [[1.0, -1.0], [-1.0, -1.0], [2.0, 3.0]] and absent.shape == (0, 3)
    required = tfd.TFSequenceExampleDecoder(
        {}, {"absent": tfd.FixedLenSequenceFeature([], "int64")}, {"a": tfd.Tensor("absent")}
    )
    with pytest.raises(InvalidArgumentError, match=r"seq:4: feature list 'absent' is required"):
        required.decode(wire, record_key="seq:4")
    with pytest.raises(InvalidArgumentError, match="not unique"):
        tfd.TFSequenceExampleDecoder({"k": tfd.VarLenFeature("int64")}, {"k": tfd.VarLenFeature("int64")}, {})


def test_sparse_tensor_handler():
    decoder = tfd.TFExampleDecoder(
        {"ids": tfd.VarLenFeature("int64"), "vals": tfd.VarLenFeature("float32")},
        {
            "sparse": tfd.SparseTensor("ids", "vals", shape=[5]),
            "dense": tfd.SparseTensor("ids", "vals", shape=[5], densify=True, default_value=-1.0),
            "bad": tfd.SparseTensor("ids", "vals", shape=[2], densify=True),
        },
    )
    record = ex_mod.example_from_dict({"ids": [4, 1], "vals": [0.5, 2.0]})
    sparse, dense = decoder.decode(record, ["sparse", "dense"])
    assert sparse.indices.tolist() == [[4], [1]] and sparse.values.tolist() == [0.5, 2.0]
    assert sparse.dense_shape.tolist() == [5]
    assert dense.tolist() == [-1.0, 2.0, -1.0, -1.0, 0.5]
    with pytest.raises(ShapeError, match=r"item 'bad': sparse indices outside the dense shape \[2\]"):
        decoder.decode(record, ["bad"])


def test_indexed_tfrecord_reader_random_access(tmp_path):
    records = [bytes([i]) * (i * 37) for i in range(8)]
    path = _write(tmp_path / "idx.tfrecord", records)
    reader = readers.IndexedTFRecordReader()
    assert reader.num_records(path) == 8
    assert [reader.read_record(path, i) for i in (5, 0, 7, 3)] == [
        records[5],
        records[0],
        records[7],
        records[3],
    ]
    with pytest.raises(InvalidArgumentError, match="record 8 out of range"):
        reader.read_record(path, 8)
    raw = bytearray(open(path, "rb").read())
    offset_3 = sum(16 + len(r) for r in records[:3])
    raw[offset_3 + 12] ^= 0xFF  # record 3's first data byte
    with open(path, "wb") as f:
        f.write(raw)
    fresh = readers.IndexedTFRecordReader()
    assert fresh.num_records(path) == 8  # the index reads headers only
    with pytest.raises(
        DataLossError, match=rf"idx\.tfrecord': record 3 \(byte offset {offset_3}\).*data's CRC"
    ):
        fresh.read_record(path, 3)
    skipping = readers.IndexedTFRecordReader(skip_corrupt=True)
    assert skipping.num_records(path) == 7 and skipping.num_skipped == 1
    assert [skipping.read_record(path, i) for i in range(7)] == records[:3] + records[4:]
    raw[offset_3 + 3] ^= 0xFF  # now record 3's length field
    with open(path, "wb") as f:
        f.write(raw)
    with pytest.raises(DataLossError, match="record 3 .*length's CRC"):
        readers.IndexedTFRecordReader().num_records(path)
