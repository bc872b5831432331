"""CRC-32C (Castagnoli) and TensorFlow's masked form of it, for TFRecord files, event files and checkpoints.

The C library of the `google-crc32c` package computes it when that package is installed with its C
extension (GB/s). The pure fallback below is Python + numpy: small inputs use a byte-at-a-time table loop; large ones (tensor data, ~100 MB) split the bytes into
equal chunks, run slicing-by-4 over all chunks at once with numpy, then fold the chunk CRCs pairwise
with the linear "append N zero bytes" operator (CRC is linear over GF(2)), so no C extension is needed.
"""

from __future__ import annotations

import numpy as np

POLY = 0x82F63B78  # CRC-32C, bit-reflected
MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF
_VECTOR_MIN = 16384  # below this many bytes the plain loop is as fast


def _byte_table() -> np.ndarray:
    t = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        t = np.where(t & 1, (t >> 1) ^ np.uint32(POLY), t >> 1).astype(np.uint32)
    return t


_T0 = _byte_table()
_T0_LIST = [int(v) for v in _T0]


def _shifted(prev: np.ndarray) -> np.ndarray:
    """Table for one more trailing zero byte after the byte that indexes `prev`."""
    return ((prev >> 8) ^ _T0[prev & 0xFF]).astype(np.uint32)


_T1 = _shifted(_T0)
_T2 = _shifted(_T1)
_T3 = _shifted(_T2)


# ------------------------------------------------------------------ linear operators on the 32-bit state

def _op_one_zero_byte() -> np.ndarray:
    """Columns (image of each state bit) of the map 'feed one zero byte' on the raw CRC state."""
    bits = np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
    return ((bits >> 8) ^ _T0[bits & 0xFF]).astype(np.uint32)


def _op_tables(cols: np.ndarray) -> tuple:
    """Four 256-entry tables so that op(s) = A0[s&255] ^ A1[s>>8&255] ^ A2[s>>16&255] ^ A3[s>>24]."""
    idx = np.arange(256, dtype=np.uint32)
    tables = []
    for j in range(4):
        tab = np.zeros(256, dtype=np.uint32)
        for i in range(8):
            tab ^= np.where((idx >> i) & 1, cols[8 * j + i], np.uint32(0)).astype(np.uint32)
        tables.append(tab)
    return tuple(tables)


def _op_apply(tables: tuple, s: np.ndarray) -> np.ndarray:
    a0, a1, a2, a3 = tables
    return a0[s & 0xFF] ^ a1[(s >> 8) & 0xFF] ^ a2[(s >> 16) & 0xFF] ^ a3[s >> 24]


def _op_square(cols: np.ndarray) -> np.ndarray:
    """Columns of op∘op (feeding twice as many zero bytes)."""
    return _op_apply(_op_tables(cols), cols).astype(np.uint32)


# ---------------------------------------------------------------------------------------- the CRC itself

def _update_bytes(state: int, data) -> int:
    t = _T0_LIST
    for b in data:
        state = t[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def _chunk_len(n: int) -> int:
    """Chunk length (bytes): short chunks mean few numpy calls over long arrays; the fold is cheap (cached)."""
    return 64 if n < (1 << 16) else 256


_FOLD_TABLES: dict = {}  # chunk length -> [op tables of "append length * 2**level zero bytes", per level]


def _fold_tables(length: int, levels: int) -> list:
    tables = _FOLD_TABLES.get(length)
    if tables is None or len(tables) < levels:
        op = _op_one_zero_byte()
        for _ in range(length.bit_length() - 1):
            op = _op_square(op)
        tables = []
        for _ in range(max(levels, 24)):
            tables.append(_op_tables(op))
            op = _op_square(op)
        _FOLD_TABLES[length] = tables  # replaced whole, so concurrent readers see a complete list
    return tables


def _update_vectorized(state: int, buf: memoryview) -> int:
    n = len(buf)
    length = _chunk_len(n)
    nchunks = n // length
    main = nchunks * length
    words = np.frombuffer(buf, dtype="<u4", count=main // 4).reshape(nchunks, length // 4)
    cols = np.array(words.T, dtype=np.uint32, order="C")  # a copy: [word in chunk, chunk]
    cols[0, 0] ^= np.uint32(state)  # the running state enters as an xor into the first four bytes
    s = np.zeros(nchunks, dtype=np.uint32)
    for row in cols:
        x = s ^ row
        s = _T3[x & 0xFF] ^ _T2[(x >> 8) & 0xFF] ^ _T1[(x >> 16) & 0xFF] ^ _T0[x >> 24]
    # fold neighbouring chunks: crc(A || B) = shift_len(B)(crc(A)) ^ crc(B) on the raw (linear) state
    tables = _fold_tables(length, max(1, (nchunks - 1).bit_length()))
    level = 0
    while s.size > 1:
        if s.size % 2:
            s = np.concatenate([np.zeros(1, np.uint32), s])  # a leading all-zero chunk leaves a zero state
        s = _op_apply(tables[level], s[0::2]) ^ s[1::2]
        level += 1
    return _update_bytes(int(s[0]), buf[main:])


def crc32c_pure(data, crc: int = 0) -> int:
    """CRC-32C computed in Python + numpy (the fallback); same contract as `crc32c`."""
    buf = memoryview(data).cast("B")
    state = (crc ^ _M32) & _M32
    if len(buf) < _VECTOR_MIN:
        state = _update_bytes(state, buf)
    else:
        state = _update_vectorized(state, buf)
    return state ^ _M32


def _fast_crc32c():
    """google-crc32c's C implementation, or None (its pure-Python mode is slower than our numpy one)."""
    try:
        import google_crc32c
    except ImportError:
        return None
    if getattr(google_crc32c, "implementation", None) != "c":
        return None
    extend = google_crc32c.extend

    def crc32c(data, crc: int = 0) -> int:
        """CRC-32C of `data` (bytes-like); pass a previous result as `crc` to extend it over more bytes."""
        if not isinstance(data, bytes):
            data = memoryview(data).cast("B").tobytes()  # the C extension takes only `bytes`
        return extend(crc & _M32, data)

    return crc32c


crc32c = _fast_crc32c() or crc32c_pure
IMPLEMENTATION = "c" if crc32c is not crc32c_pure else "numpy"


def mask(crc: int) -> int:
    """TensorFlow's (LevelDB's) masked CRC, stored so that CRCs of CRC-bearing data stay well-behaved."""
    crc &= _M32
    return ((((crc >> 15) | (crc << 17)) & _M32) + MASK_DELTA) & _M32


def unmask(masked: int) -> int:
    """The inverse of `mask`."""
    rot = (masked - MASK_DELTA) & _M32
    return ((rot >> 17) | (rot << 15)) & _M32


def masked_crc32c(data) -> int:
    """`mask(crc32c(data))`: the checksum TFRecord, event and checkpoint files store."""
    return mask(crc32c(data))
