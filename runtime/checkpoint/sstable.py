"""Reader for LevelDB-format sorted tables (SSTables), the container of a TF checkpoint's `.index` file.

Layout: data blocks, meta blocks, a metaindex block, an index block (one entry per data block whose value is
the data block's handle), then a 48-byte footer: two block handles (varint offset, varint size), zero padding
to 40 bytes, and the 8-byte magic. Every block is followed by a 1-byte compression type (0 none, 1 snappy) and
the masked CRC-32C of the block plus that byte. Inside a block, entries share key prefixes with the entry
before (shared, non-shared, value-length varints, then the key suffix and the value), and a trailing array of
uint32 restart offsets plus its length closes the block.
"""

from __future__ import annotations

import itertools
import struct

from slimir.errors import CheckpointError

from slimir.crc32c import crc32c, unmask

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5
NO_COMPRESSION = 0
SNAPPY_COMPRESSION = 1


class _Corrupt(Exception):
    """Internal: a malformed structure; turned into a CheckpointError that names the file."""


def read_varint(buf, pos: int, end: int | None = None) -> tuple:
    """Decodes one base-128 varint (up to 64 bits) at `pos`; returns (value, next position)."""
    end = len(buf) if end is None else end
    value = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Corrupt("varint runs past the end of its buffer")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise _Corrupt("varint longer than 10 bytes")


def has_table_magic(path) -> bool:
    """True when `path` is a file at least a footer long that ends with the table magic number."""
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() < FOOTER_SIZE:
                return False
            f.seek(-8, 2)
            return struct.unpack("<Q", f.read(8))[0] == TABLE_MAGIC
    except OSError:
        return False


def _snappy_decompress(data: bytes, path) -> bytes:
    try:
        import snappy  # python-snappy

        return snappy.uncompress(data)
    except ImportError:
        pass
    try:
        import cramjam

        return bytes(cramjam.snappy.decompress_raw(data))
    except ImportError:
        pass
    raise CheckpointError(f"{path}: a block of this table is snappy-compressed and no snappy decompressor is "
                          "installed (pip install python-snappy or cramjam)")


def _decode_handle(buf, pos: int = 0, end: int | None = None) -> tuple:
    offset, pos = read_varint(buf, pos, end)
    size, pos = read_varint(buf, pos, end)
    return (offset, size), pos


def _read_block(data: bytes, handle: tuple, limit: int, path, what: str) -> bytes:
    offset, size = handle
    if offset + size + BLOCK_TRAILER_SIZE > limit:
        raise CheckpointError(f"{path}: {what} block [{offset}, +{size}) lies past the end of the table "
                              f"({limit} bytes before the footer): the file is truncated or corrupt")
    contents = data[offset:offset + size]
    ctype = data[offset + size]
    stored = struct.unpack_from("<I", data, offset + size + 1)[0]
    actual = crc32c(data[offset + size:offset + size + 1], crc32c(contents))
    if unmask(stored) != actual:
        raise CheckpointError(f"{path}: CRC32C mismatch in the {what} block at offset {offset}: the index "
                              "file is corrupt")
    if ctype == NO_COMPRESSION:
        return contents
    if ctype == SNAPPY_COMPRESSION:
        return _snappy_decompress(contents, path)
    raise CheckpointError(f"{path}: {what} block at offset {offset} has unknown compression type {ctype}")


def _block_entries(block: bytes) -> list:
    if len(block) < 4:
        raise _Corrupt(f"block of {len(block)} bytes is too short for its restart count")
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    limit = len(block) - 4 - 4 * num_restarts
    if limit < 0:
        raise _Corrupt(f"block of {len(block)} bytes cannot hold {num_restarts} restart points")
    entries = []
    key = b""
    pos = 0
    while pos < limit:
        shared, pos = read_varint(block, pos, limit)
        unshared, pos = read_varint(block, pos, limit)
        vlen, pos = read_varint(block, pos, limit)
        if shared > len(key) or pos + unshared + vlen > limit:
            raise _Corrupt("block entry overruns its block")
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + vlen]))
        pos += vlen
    return entries


def read_table(path) -> list:
    """All (key, value) byte pairs of the table at `path`, in key order."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    if len(data) < FOOTER_SIZE:
        raise CheckpointError(f"{path}: {len(data)} bytes is shorter than the {FOOTER_SIZE}-byte table footer: "
                              "the file is truncated or not a TensorFlow checkpoint index")
    footer_at = len(data) - FOOTER_SIZE
    if struct.unpack_from("<Q", data, len(data) - 8)[0] != TABLE_MAGIC:
        raise CheckpointError(f"{path}: bad magic number at the end of the file: truncated, or not a "
                              "TensorFlow checkpoint index")
    try:
        _, pos = _decode_handle(data, footer_at, footer_at + 40)  # metaindex: no meta block is needed here
        index_handle, _ = _decode_handle(data, pos, footer_at + 40)
        index = _block_entries(_read_block(data, index_handle, footer_at, path, "index"))
        entries = []
        for _, value in index:
            handle, _ = _decode_handle(value)
            entries.extend(_block_entries(_read_block(data, handle, footer_at, path, "data")))
    except _Corrupt as e:
        raise CheckpointError(f"{path}: corrupt table ({e})") from None
    for (a, _), (b, _) in itertools.pairwise(entries):
        if not a < b:
            raise CheckpointError(f"{path}: corrupt table (keys out of order: {a!r} before {b!r})")
    return entries
