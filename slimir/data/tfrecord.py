"""TFRecord files: read and write them byte for byte as TensorFlow does, without TensorFlow.

A TFRecord file is a sequence of records, each framed as

    uint64 length (little endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC of data

optionally compressed as a whole with GZIP or ZLIB (`TFRecordOptions`). `tf_record_iterator(path)` yields the
data of each record; a corrupt or truncated record raises `DataLossError` naming the file, the record
index and the byte offset, or, with `skip_corrupt=True`, is skipped and counted (`num_skipped`, `on_corrupt`).
`TFRecordWriter` writes to a temporary file that becomes `path` only when it is closed.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from typing import Callable, Iterator, Optional, Union

from ..crc32c import masked_crc32c
from ..errors import DataLossError, InvalidArgumentError, NotFoundError

__all__ = [
    "TFRecordCompressionType",
    "TFRecordOptions",
    "TFRecordIterator",
    "TFRecordWriter",
    "tf_record_iterator",
]

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")


class TFRecordCompressionType:
    """The compression names TensorFlow accepts (`tf.io.TFRecordCompressionType`)."""

    NONE = ""
    ZLIB = "ZLIB"
    GZIP = "GZIP"


class TFRecordOptions:
    """How a TFRecord file is compressed: `TFRecordOptions('GZIP')`, `'ZLIB'` or `''` (none)."""

    def __init__(self, compression_type: Optional[str] = None, compression_level: int = 6):
        self.compression_type = _compression_name(compression_type)
        self.compression_level = int(compression_level)

    def __repr__(self) -> str:
        return f"TFRecordOptions({self.compression_type!r})"


OptionsLike = Union[None, str, TFRecordOptions]


def _compression_name(value) -> str:
    if value is None:
        return ""
    if isinstance(value, TFRecordOptions):
        return value.compression_type
    if isinstance(value, str) and value.upper() in ("", "NONE", "ZLIB", "GZIP"):
        return "" if value.upper() == "NONE" else value.upper()
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1, 2):
        return ("", "ZLIB", "GZIP")[value]  # TF 1.x's TFRecordCompressionType enum values
    raise InvalidArgumentError(
        f"unknown TFRecord compression {value!r}; use None, '', 'ZLIB', 'GZIP' or a TFRecordOptions"
    )


def _options(options: OptionsLike) -> TFRecordOptions:
    return options if isinstance(options, TFRecordOptions) else TFRecordOptions(options)


class _ZlibReader:
    """A minimal binary file object that inflates a zlib stream (TFRecord's ZLIB compression)."""

    def __init__(self, raw, chunk: int = 1 << 20):
        self._raw = raw
        self._z = zlib.decompressobj()
        self._buf = bytearray()
        self._pos = 0
        self._chunk = chunk
        self._started = False

    def read(self, n: int) -> bytes:
        while len(self._buf) - self._pos < n and not self._z.eof:
            data = self._raw.read(self._chunk)
            if not data:
                self._buf += self._z.flush()
                if len(self._buf) - self._pos < n and self._started:  # an empty file holds no records
                    raise EOFError("the ZLIB stream ends before its end marker")
                break
            self._started = True
            self._buf += self._z.decompress(data)
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += len(out)
        if self._pos >= self._chunk:  # drop what was consumed, amortised
            del self._buf[: self._pos]
            self._pos = 0
        return out

    def close(self) -> None:
        self._raw.close()


def _open_for_reading(path: str, compression: str):
    try:
        raw = open(path, "rb")
    except FileNotFoundError:
        raise NotFoundError(f"TFRecord file {path!r} does not exist") from None
    except IsADirectoryError:
        raise NotFoundError(f"{path!r} is a directory, not a TFRecord file") from None
    if compression == "GZIP":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "ZLIB":
        return _ZlibReader(raw)
    return raw


class TFRecordIterator:
    """Iterates over the data of each record of one TFRecord file.

    Attributes after (or during) iteration: `num_records` (records yielded), `num_skipped` (corrupt records
    skipped in `skip_corrupt` mode; a damaged length field ends the file and counts as one), and `skipped`
    (a list of `(record_index, byte_offset, reason)`).
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        options: OptionsLike = None,
        skip_corrupt: bool = False,
        on_corrupt: Optional[Callable[[str, int, int, str], None]] = None,
    ):
        self.path = os.fspath(path)
        self.compression = _options(options).compression_type
        self.skip_corrupt = bool(skip_corrupt)
        self.on_corrupt = on_corrupt
        self.num_records = 0
        self.num_skipped = 0
        self.skipped: list = []
        self.index = -1  # index in the file of the record last yielded (skipped records count)
        self.offset = -1  # byte offset of that record's header (in the inflated stream if compressed)
        self._gen = None

    def __iter__(self) -> "TFRecordIterator":
        return self

    def __next__(self) -> bytes:
        if self._gen is None:
            self._gen = self._records()
        return next(self._gen)

    def close(self) -> None:
        """Stop iterating and close the file."""
        if self._gen is not None:
            self._gen.close()

    def _corrupt(self, index: int, offset: int, reason: str, ends_file: bool) -> None:
        stream = f" of the inflated {self.compression} stream" if self.compression else ""
        where = f"TFRecord file {self.path!r}: record {index} (byte offset {offset}{stream})"
        if not self.skip_corrupt:
            raise DataLossError(f"{where}: {reason}")
        self.num_skipped += 1
        if ends_file:
            reason += "; the rest of the file cannot be framed and is skipped"
        self.skipped.append((index, offset, reason))
        if self.on_corrupt is not None:
            self.on_corrupt(self.path, index, offset, reason)

    def _records(self) -> Iterator[bytes]:
        f = _open_for_reading(self.path, self.compression)
        size = os.path.getsize(self.path) if not self.compression else None  # bounds a damaged length
        index = offset = 0
        try:
            while True:
                try:
                    header = f.read(12)
                except (OSError, EOFError, zlib.error) as e:  # damaged compressed stream
                    self._corrupt(index, offset, f"the {self.compression} stream is damaged ({e})", True)
                    return
                if not header:
                    return
                if len(header) < 12:
                    self._corrupt(index, offset, f"truncated record header ({len(header)} of 12 bytes)", True)
                    return
                length, length_crc = _HEADER.unpack(header)
                if masked_crc32c(header[:8]) != length_crc:
                    self._corrupt(
                        index, offset, "the length's CRC does not match (corrupt length field)", True
                    )
                    return
                if size is not None and offset + 16 + length > size:
                    self._corrupt(
                        index,
                        offset,
                        f"truncated record: expected {length} data bytes + 4 CRC bytes, "
                        f"the file ends {size - offset - 12} bytes after the header",
                        True,
                    )
                    return
                try:
                    data = f.read(length)
                    crc = f.read(4)
                except (OSError, EOFError, zlib.error, MemoryError, OverflowError) as e:
                    self._corrupt(index, offset, f"cannot read {length} data bytes ({e})", True)
                    return
                if len(data) < length or len(crc) < 4:
                    self._corrupt(
                        index,
                        offset,
                        f"truncated record: expected {length} data bytes + 4 CRC bytes, "
                        f"found {len(data) + len(crc)}",
                        True,
                    )
                    return
                if masked_crc32c(data) != _CRC.unpack(crc)[0]:
                    self._corrupt(index, offset, f"the data's CRC does not match ({length} bytes)", False)
                else:
                    self.num_records += 1
                    self.index, self.offset = index, offset
                    yield data
                index += 1
                offset += 16 + length
        finally:
            f.close()


def tf_record_iterator(
    path: Union[str, os.PathLike],
    options: OptionsLike = None,
    *,
    skip_corrupt: bool = False,
    on_corrupt: Optional[Callable[[str, int, int, str], None]] = None,
) -> TFRecordIterator:
    """Yield the bytes of each record of the TFRecord file `path` (TF's `tf.compat.v1.io.tf_record_iterator`).

    `options`: None, 'GZIP', 'ZLIB' or a `TFRecordOptions`. A corrupt or truncated record raises
    `DataLossError` naming the file and record; with `skip_corrupt=True` it is skipped instead, counted in
    the returned iterator's `num_skipped`, and reported to `on_corrupt(path, record_index, offset, reason)`.
    """
    return TFRecordIterator(path, options, skip_corrupt=skip_corrupt, on_corrupt=on_corrupt)


def encode_record(data: bytes) -> bytes:
    """One record framed as TFRecord stores it: length, masked CRC of the length, data, masked CRC of data."""
    data = bytes(data)
    header = struct.pack("<Q", len(data))
    return header + _CRC.pack(masked_crc32c(header)) + data + _CRC.pack(masked_crc32c(data))


class TFRecordWriter:
    """Writes records to a TFRecord file (TF's `tf.io.TFRecordWriter`).

    The records go to a temporary file in the same directory, which is renamed to `path` by `close()`, so a
    reader never sees a half-written file. Used as a context manager, an exception inside the block discards
    the temporary file and leaves any previous `path` untouched.
    """

    def __init__(self, path: Union[str, os.PathLike], options: OptionsLike = None):
        self.path = os.fspath(path)
        opts = _options(options)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise NotFoundError(
                f"cannot write TFRecord file {self.path!r}: directory {directory!r} does not exist"
            )
        fd, self._tmp = tempfile.mkstemp(
            prefix=os.path.basename(self.path) + ".", suffix=".tmp", dir=directory
        )
        self._raw = os.fdopen(fd, "wb")
        if opts.compression_type == "GZIP":
            self._f = gzip.GzipFile(
                filename="", fileobj=self._raw, mode="wb", compresslevel=opts.compression_level, mtime=0
            )
        elif opts.compression_type == "ZLIB":
            self._f = None
            self._z = zlib.compressobj(opts.compression_level)
        else:
            self._f = self._raw
        self.closed = False
        self.num_records = 0

    def write(self, record: bytes) -> None:
        """Append one record (bytes-like; str is UTF-8 encoded, a protobuf message serialized)."""
        if self.closed:
            raise InvalidArgumentError(f"TFRecordWriter for {self.path!r} is closed")
        if hasattr(record, "SerializeToString"):
            record = record.SerializeToString()
        elif isinstance(record, str):
            record = record.encode("utf-8")
        framed = encode_record(record)
        if self._f is None:
            self._raw.write(self._z.compress(framed))
        else:
            self._f.write(framed)
        self.num_records += 1

    def flush(self) -> None:
        """Push buffered records to the temporary file (the file becomes `path` at `close()`)."""
        if self._f is None:
            self._raw.write(self._z.flush(zlib.Z_SYNC_FLUSH))
        elif self._f is not self._raw:
            self._f.flush()
        self._raw.flush()

    def close(self) -> None:
        """Finish the file, fsync it and rename it to `path`."""
        if self.closed:
            return
        if self._f is None:
            self._raw.write(self._z.flush())
        elif self._f is not self._raw:
            self._f.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        os.fchmod(self._raw.fileno(), 0o644)  # mkstemp's 0600 would surprise readers of a data file
        self._raw.close()
        os.replace(self._tmp, self.path)
        self.closed = True

    def abort(self) -> None:
        """Discard what was written; `path` is not touched."""
        if self.closed:
            return
        self.closed = True
        try:
            self._raw.close()
        finally:
            if os.path.exists(self._tmp):
                os.remove(self._tmp)

    def __enter__(self) -> "TFRecordWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self):
        if not getattr(self, "closed", True):
            try:
                self.abort()
            except Exception:
                pass
