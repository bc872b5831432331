"""CRC-32C (Castagnoli) and TensorFlow's masked form of it, for TFRecord files, event files and checkpoints.

The checksum itself is the `google-crc32c` package's C implementation (a dependency); this module gives it
the extend-from-a-previous-CRC signature the readers use and adds TensorFlow's mask.
"""

from __future__ import annotations

import google_crc32c

MASK_DELTA = 0xA282EAD8
_M32 = 0xFFFFFFFF


def crc32c(data, crc: int = 0) -> int:
    """CRC-32C of `data` (bytes-like); pass a previous result as `crc` to extend it over more bytes."""
    if not isinstance(data, bytes):
        data = memoryview(data).cast("B").tobytes()  # the C extension takes only `bytes`
    return google_crc32c.extend(crc & _M32, data)


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
