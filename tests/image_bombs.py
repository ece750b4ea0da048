"""Decompression bombs for the image-size cap tests: small files that declare huge images."""

from __future__ import annotations

import functools
import struct
import zlib

__all__ = ["png_bomb"]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@functools.lru_cache(maxsize=4)
def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A valid greyscale PNG of ``width x height`` black pixels (389 KB for 20000 x 20000).

    Decoded by OpenCV it takes ``width * height * 3`` bytes (1.2 GB for the default),
    which is what the cap must never let happen.
    """
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte 0, then the row's pixels
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
