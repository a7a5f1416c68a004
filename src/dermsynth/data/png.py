"""A fast lossless PNG writer for RGB uint8 arrays.

Pillow's PNG encoder tries every row filter and then deflates with the system zlib; for the
resized copies of a dataset that is most of the preprocessing time. Here every row uses the
"Up" filter (computed with numpy) and is deflated by zlib-ng at level 1: the same lossless
PNG any reader opens, written about three times faster, a few per cent larger.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

try:  # zlib-ng is 2-3x faster than zlib at the low levels; same deflate format
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - zlib-ng is a dependency, this is a safety net
    _deflate = zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
FILTER_UP = 2


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 array."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
    height, width, _ = image.shape
    rows = image.reshape(height, width * 3)
    filtered = np.empty((height, width * 3 + 1), np.uint8)
    filtered[:, 0] = FILTER_UP
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])  # uint8 arithmetic wraps mod 256
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", _deflate.compress(filtered.tobytes(), level))
        + _chunk(b"IEND", b"")
    )


def write_png(path: str | Path, image: np.ndarray, level: int = 1) -> None:
    """Write an (H, W, 3) uint8 array as a PNG file."""
    Path(path).write_bytes(encode_png(image, level))
