"""Pure-Python reader of TensorFlow V2 checkpoints (tensor bundles): `<prefix>.index` + `<prefix>.data-*`.

The index is an SSTable mapping "" to a BundleHeaderProto (shard count, endianness, version) and each tensor
name to a BundleEntryProto (dtype, shape, shard, offset, size, masked CRC-32C); the data files hold the raw
tensor bytes. No TensorFlow, no generated protobuf code, no pickle.

    reader = TFCheckpointReader("/ckpts/model.ckpt")   # a prefix, or a directory with a `checkpoint` file
    for name, shape in reader.list_variables(): ...
    w = reader.get_tensor("vgg_16/conv1/conv1_1/weights")
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from slimir.errors import CheckpointError

from slimir.crc32c import crc32c, mask
from .sstable import _Corrupt, has_table_magic, read_table, read_varint

READER_VERSION = 1  # the bundle format version this reader understands (TF writes producer 1, min_consumer 0)
STATE_FILE = "checkpoint"
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")

# --------------------------------------------------------------------------------------------- dtypes

# TF DataType enum value -> (name, numpy dtype or None when unsupported). Quantized types read as their
# storage integers. DT_STRING is handled separately.
DT_STRING = 7
_DTYPES = {
    1: ("float32", np.dtype(np.float32)),
    2: ("float64", np.dtype(np.float64)),
    3: ("int32", np.dtype(np.int32)),
    4: ("uint8", np.dtype(np.uint8)),
    5: ("int16", np.dtype(np.int16)),
    6: ("int8", np.dtype(np.int8)),
    7: ("string", np.dtype(object)),
    8: ("complex64", np.dtype(np.complex64)),
    9: ("int64", np.dtype(np.int64)),
    10: ("bool", np.dtype(np.bool_)),
    11: ("qint8", np.dtype(np.int8)),
    12: ("quint8", np.dtype(np.uint8)),
    13: ("qint32", np.dtype(np.int32)),
    14: ("bfloat16", None),
    15: ("qint16", np.dtype(np.int16)),
    16: ("quint16", np.dtype(np.uint16)),
    17: ("uint16", np.dtype(np.uint16)),
    18: ("complex128", np.dtype(np.complex128)),
    19: ("float16", np.dtype(np.float16)),
    20: ("resource", None),
    21: ("variant", None),
    22: ("uint32", np.dtype(np.uint32)),
    23: ("uint64", np.dtype(np.uint64)),
    24: ("float8_e5m2", None),
    25: ("float8_e4m3fn", None),
}
try:  # numpy has no bfloat16 / float8; ml_dtypes (a dependency of onnx) does
    import ml_dtypes

    _DTYPES[14] = ("bfloat16", np.dtype(ml_dtypes.bfloat16))
    _DTYPES[24] = ("float8_e5m2", np.dtype(ml_dtypes.float8_e5m2))
    _DTYPES[25] = ("float8_e4m3fn", np.dtype(ml_dtypes.float8_e4m3fn))
except (ImportError, AttributeError):  # pragma: no cover - ml_dtypes comes with onnx
    pass


def _dtype_name(code: int) -> str:
    return _DTYPES.get(code, (f"DataType {code}", None))[0]


# ------------------------------------------------------------------------ minimal protobuf wire decoding

def _fields(buf: bytes):
    """Yields (field number, wire type, value) of a serialized protobuf message: ints or bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = read_varint(buf, pos, end)
        num, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = read_varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise _Corrupt("fixed64 field runs past the message")
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = read_varint(buf, pos, end)
            if pos + n > end:
                raise _Corrupt("length-delimited field runs past the message")
            value = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            if pos + 4 > end:
                raise _Corrupt("fixed32 field runs past the message")
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise _Corrupt(f"unsupported wire type {wire} (field {num})")
        yield num, wire, value


def _int64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


@dataclass
class BundleHeader:
    num_shards: int = 0
    big_endian: bool = False
    producer: int = 0
    min_consumer: int = 0
    bad_consumers: list = field(default_factory=list)


@dataclass
class BundleEntry:
    dtype: int = 0
    shape: list | None = None  # None: unknown rank
    shard_id: int = 0
    offset: int = 0
    size: int = 0
    crc32c: int = 0
    num_slices: int = 0


def _parse_header(buf: bytes) -> BundleHeader:
    h = BundleHeader()
    for num, wire, v in _fields(buf):
        if num == 1 and wire == 0:
            h.num_shards = _int64(v)
        elif num == 2 and wire == 0:
            h.big_endian = v == 1
        elif num == 3 and wire == 2:
            for vn, vw, vv in _fields(v):
                if vn == 1 and vw == 0:
                    h.producer = _int64(vv)
                elif vn == 2 and vw == 0:
                    h.min_consumer = _int64(vv)
                elif vn == 3 and vw == 0:
                    h.bad_consumers.append(_int64(vv))
                elif vn == 3 and vw == 2:  # packed
                    p = 0
                    while p < len(vv):
                        x, p = read_varint(vv, p)
                        h.bad_consumers.append(_int64(x))
    return h


def _parse_shape(buf: bytes) -> list | None:
    dims, unknown_rank = [], False
    for num, wire, v in _fields(buf):
        if num == 2 and wire == 2:
            size = 0
            for dn, dw, dv in _fields(v):
                if dn == 1 and dw == 0:
                    size = _int64(dv)
            dims.append(size)
        elif num == 3 and wire == 0:
            unknown_rank = bool(v)
    return None if unknown_rank else dims


def _parse_entry(buf: bytes) -> BundleEntry:
    e = BundleEntry(shape=[])
    for num, wire, v in _fields(buf):
        if num == 1 and wire == 0:
            e.dtype = v
        elif num == 2 and wire == 2:
            e.shape = _parse_shape(v)
        elif num == 3 and wire == 0:
            e.shard_id = _int64(v)
        elif num == 4 and wire == 0:
            e.offset = _int64(v)
        elif num == 5 and wire == 0:
            e.size = _int64(v)
        elif num == 6 and wire == 5:
            e.crc32c = v
        elif num == 7 and wire == 2:
            e.num_slices += 1
    return e


# --------------------------------------------------------------------------- prefixes and state files

_STATE_LINE = re.compile(r"""^\s*(\w+)\s*:\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*$""")
_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"', "'": b"'", "a": b"\a", "b": b"\b",
            "f": b"\f", "v": b"\v", "?": b"?"}


def _unescape(s: str) -> str:
    """C-style escapes of a text-format protobuf string."""
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 == len(s):
            out += c.encode("utf-8")
            i += 1
            continue
        n = s[i + 1]
        if n in _ESCAPES:
            out += _ESCAPES[n]
            i += 2
        elif n in "xX" and re.match(r"[0-9a-fA-F]{1,2}", s[i + 2:]):
            h = re.match(r"[0-9a-fA-F]{1,2}", s[i + 2:]).group(0)
            out.append(int(h, 16))
            i += 2 + len(h)
        elif n in "01234567":
            o = re.match(r"[0-7]{1,3}", s[i + 1:]).group(0)
            out.append(int(o, 8) & 0xFF)
            i += 1 + len(o)
        else:
            out += n.encode("utf-8")
            i += 2
    return out.decode("utf-8", errors="replace")


def read_checkpoint_state(directory) -> dict:
    """Parses `<directory>/checkpoint` (text proto): {'model_checkpoint_path': str | None,
    'all_model_checkpoint_paths': [str]}, relative paths resolved against `directory`. Missing file: {}."""
    path = os.path.join(os.fspath(directory), STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint state file ({e})") from None
    state: dict = {"model_checkpoint_path": None, "all_model_checkpoint_paths": []}
    for line in text.splitlines():
        m = _STATE_LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), _unescape(m.group(2) if m.group(2) is not None else m.group(3))
        if not os.path.isabs(value):
            value = os.path.join(os.fspath(directory), value)
        if key == "model_checkpoint_path":
            state["model_checkpoint_path"] = value
        elif key == "all_model_checkpoint_paths":
            state["all_model_checkpoint_paths"].append(value)
    return state


def latest_tf_checkpoint(directory) -> str | None:
    """The prefix the `checkpoint` state file in `directory` names, if its `.index` exists; else None
    (as tf.train.latest_checkpoint)."""
    prefix = read_checkpoint_state(directory).get("model_checkpoint_path")
    if prefix and os.path.isfile(prefix + ".index"):
        return prefix
    return None


def resolve_tf_checkpoint(path) -> str:
    """The checkpoint prefix for `path`: a prefix, a directory holding a `checkpoint` state file, or a
    `.index` / `.data-NNNNN-of-NNNNN` file of the bundle."""
    path = os.fspath(path)
    if os.path.isdir(path):
        state = read_checkpoint_state(path)
        if not state:
            raise CheckpointError(f"{path}: a directory without a '{STATE_FILE}' state file; pass the "
                                  "checkpoint prefix (e.g. .../model.ckpt-1000) instead")
        prefix = state.get("model_checkpoint_path")
        if not prefix:
            raise CheckpointError(f"{os.path.join(path, STATE_FILE)}: names no model_checkpoint_path")
        return prefix
    if path.endswith(".index") and os.path.isfile(path):
        return path[: -len(".index")]
    if _DATA_SUFFIX.search(path) and os.path.isfile(path):
        return _DATA_SUFFIX.sub("", path)
    return path


def is_tf_checkpoint(path) -> bool:
    """True when `path` resolves to a TF V2 checkpoint whose `.index` file carries the table magic."""
    try:
        prefix = resolve_tf_checkpoint(path)
    except CheckpointError:
        return False
    return has_table_magic(prefix + ".index")


def data_file_name(prefix: str, shard_id: int, num_shards: int) -> str:
    return f"{prefix}.data-{shard_id:05d}-of-{num_shards:05d}"


# ------------------------------------------------------------------------------------------- the reader

class TFCheckpointReader:
    """Reads the variables of a TF V2 checkpoint without TensorFlow (tf.train.load_checkpoint's reader).

    `prefix` is the checkpoint prefix (`.../model.ckpt-1000`), a directory holding a `checkpoint` state
    file, or one of the bundle's files. With `verify_crc` (default) every tensor's masked CRC-32C is checked.
    """

    def __init__(self, prefix, verify_crc: bool = True):
        self.prefix = resolve_tf_checkpoint(prefix)
        self.index_path = self.prefix + ".index"
        self.verify_crc = verify_crc
        if not os.path.isfile(self.index_path):
            if os.path.isfile(self.prefix) and has_table_magic(self.prefix):
                raise CheckpointError(f"{self.prefix}: a TF V1 checkpoint (one table file, no .index); only V2 "
                                      "checkpoints (.index + .data-*) are read; re-save it with TensorFlow as V2")
            raise CheckpointError(f"{self.index_path}: no such file (no TF V2 checkpoint with prefix "
                                  f"{self.prefix!r})")
        header, entries = None, {}
        for key, value in read_table(self.index_path):
            try:
                if key == b"":
                    header = _parse_header(value)
                elif key[:1] == b"\x00":
                    continue  # one slice of a partitioned variable (its full entry is listed by name)
                else:
                    name = key.decode("utf-8", errors="replace")
                    entries[name] = _parse_entry(value)
            except _Corrupt as e:
                what = "the bundle header" if key == b"" else f"the entry of variable {key!r}"
                raise CheckpointError(f"{self.index_path}: corrupt protobuf in {what} ({e})") from None
        if header is None:
            raise CheckpointError(f"{self.index_path}: no bundle header (empty key): not a TF V2 checkpoint")
        if header.min_consumer > READER_VERSION or READER_VERSION in header.bad_consumers:
            raise CheckpointError(f"{self.index_path}: written for readers of bundle version >= "
                                  f"{header.min_consumer}; this reader is version {READER_VERSION}")
        if header.num_shards < 1:
            raise CheckpointError(f"{self.index_path}: bundle header has num_shards={header.num_shards}")
        self.header = header
        self._entries = entries

    # ----------------------------------------------------------------------------------- listing

    def list_variables(self) -> list:
        """[(name, shape)] sorted by name, as tf.train.list_variables."""
        return [(n, list(self._entries[n].shape or [])) for n in sorted(self._entries)]

    def has_tensor(self, name: str) -> bool:
        return name in self._entries

    def get_variable_to_shape_map(self) -> dict:
        return {n: list(e.shape or []) for n, e in self._entries.items()}

    def get_variable_to_dtype_map(self) -> dict:
        """{name: numpy dtype} (object for strings; None for dtypes this reader cannot return)."""
        return {n: _DTYPES.get(e.dtype, ("", None))[1] for n, e in self._entries.items()}

    def __contains__(self, name) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"TFCheckpointReader({self.prefix!r}, {len(self._entries)} tensors)"

    # ----------------------------------------------------------------------------------- reading

    def _entry(self, name: str) -> BundleEntry:
        try:
            return self._entries[name]
        except KeyError:
            close = [n for n in sorted(self._entries) if n.rsplit("/", 1)[-1] == name.rsplit("/", 1)[-1]][:3]
            hint = f"; similar names: {close}" if close else ""
            raise CheckpointError(f"{self.index_path}: variable {name!r} is not in the checkpoint{hint}") from None

    def _read_bytes(self, name: str, e: BundleEntry) -> tuple:
        if not 0 <= e.shard_id < self.header.num_shards:
            raise CheckpointError(f"{self.index_path}: variable {name!r} names shard {e.shard_id} of "
                                  f"{self.header.num_shards}")
        path = data_file_name(self.prefix, e.shard_id, self.header.num_shards)
        if e.offset < 0 or e.size < 0:
            raise CheckpointError(f"{self.index_path}: variable {name!r} has offset {e.offset}, size {e.size}")
        buf = bytearray(e.size)
        try:
            with open(path, "rb") as f:
                f.seek(e.offset)
                got = f.readinto(buf)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no such file (data shard of variable {name!r})") from None
        except OSError as err:
            raise CheckpointError(f"{path}: cannot read variable {name!r} ({err})") from None
        if got != e.size:
            raise CheckpointError(f"{path}: truncated data file: variable {name!r} needs bytes "
                                  f"[{e.offset}, {e.offset + e.size}), only {got} of {e.size} are there")
        return buf, path

    def _crc_error(self, path, name, stored, actual) -> CheckpointError:
        return CheckpointError(f"{path}: CRC32C mismatch for variable {name!r} (index says {stored:#010x}, data "
                               f"gives {actual:#010x}): the data file is corrupt")

    def get_tensor(self, name: str) -> np.ndarray:
        """The value of tensor `name` as a numpy array (TF dtype, C order, writable)."""
        e = self._entry(name)
        dname, dtype = _DTYPES.get(e.dtype, (_dtype_name(e.dtype), None))
        if dtype is None:
            raise CheckpointError(f"{self.index_path}: variable {name!r} has dtype {dname}, which this reader "
                                  "cannot return as a numpy array")
        if e.num_slices:
            raise CheckpointError(f"{self.index_path}: variable {name!r} is partitioned ({e.num_slices} slices); "
                                  "partitioned variables are not supported by this reader")
        if e.shape is None or any(d < 0 for d in e.shape):
            raise CheckpointError(f"{self.index_path}: variable {name!r} has no fully known shape ({e.shape})")
        count = int(np.prod(e.shape, dtype=np.int64))
        if e.dtype == DT_STRING:
            return self._get_strings(name, e, count)
        expected = count * dtype.itemsize
        if e.size != expected:
            raise CheckpointError(f"{self.index_path}: variable {name!r} ({dname}{list(e.shape)}) should take "
                                  f"{expected} bytes, the index says {e.size}")
        buf, path = self._read_bytes(name, e)
        if self.verify_crc:
            actual = mask(crc32c(buf))
            if actual != e.crc32c:
                raise self._crc_error(path, name, e.crc32c, actual)
        order = ">" if self.header.big_endian else "<"
        arr = np.frombuffer(buf, dtype=dtype.newbyteorder(order) if dtype.itemsize > 1 else dtype)
        if self.header.big_endian and dtype.itemsize > 1:
            arr = arr.astype(dtype.newbyteorder("="))
        return arr.reshape(e.shape)

    def _get_strings(self, name: str, e: BundleEntry, count: int) -> np.ndarray:
        """DT_STRING layout: varint64 length of each element, the masked CRC-32C of the lengths (each taken
        as a little-endian uint64), then the bytes of each element. The entry's CRC covers those uint64
        lengths, the 4 checksum bytes and the element bytes, in that order."""
        buf, path = self._read_bytes(name, e)
        lengths, pos = [], 0
        try:
            for _ in range(count):
                n, pos = read_varint(buf, pos)
                lengths.append(n)
        except _Corrupt:
            raise CheckpointError(f"{path}: truncated string lengths of variable {name!r}") from None
        if pos + 4 + sum(lengths) != len(buf):
            raise CheckpointError(f"{path}: string variable {name!r}: lengths do not add up to its size {e.size}")
        crc = crc32c(b"".join(struct.pack("<Q", n) for n in lengths))
        stored_len_crc = struct.unpack_from("<I", buf, pos)[0]
        if self.verify_crc and mask(crc) != stored_len_crc:
            raise self._crc_error(path, name, stored_len_crc, mask(crc))
        crc = crc32c(buf[pos:pos + 4], crc)
        pos += 4
        out = np.empty(count, dtype=object)
        for i, n in enumerate(lengths):
            out[i] = bytes(buf[pos:pos + n])
            pos += n
        if self.verify_crc:
            crc = crc32c(buf[pos - sum(lengths):pos], crc)
            if mask(crc) != e.crc32c:
                raise self._crc_error(path, name, e.crc32c, mask(crc))
        return out.reshape(e.shape)


def load_checkpoint(path, verify_crc: bool = True) -> TFCheckpointReader:
    """tf.train.load_checkpoint: a reader for a prefix or a directory with a `checkpoint` state file."""
    return TFCheckpointReader(path, verify_crc=verify_crc)


def list_variables(path) -> list:
    """tf.train.list_variables: [(name, shape)] of the checkpoint at `path`, sorted by name."""
    return TFCheckpointReader(path, verify_crc=False).list_variables()
