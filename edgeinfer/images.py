"""Encoded images to pixels, with a pixel cap checked from the header before decoding.

Shared by everything that takes image files or bytes from outside: the image input kind
(:mod:`edgeinfer.preprocess.image`), ``serve`` (413 above the cap), ``edgeinfer predict``,
``edgeinfer bench --frame`` and the image-folder source. A PNG of a few hundred KB can
declare 20000 x 20000 pixels, 1.2 GB once decoded; the cap (50 MP by default,
``EDGEINFER_MAX_IMAGE_PIXELS``) refuses it from its header (JPEG and PNG read here,
other formats with Pillow).
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np

from edgeinfer.errors import ConfigError, ImageTooLargeError, InputError, MissingDependencyError

__all__ = [
    "DEFAULT_MAX_PIXELS", "IMAGE_SIGNATURES", "MAX_PIXELS_ENV", "ImageLike", "default_max_pixels", "image_size_wh",
    "import_cv2", "read_image",
]

DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "EDGEINFER_MAX_IMAGE_PIXELS"

ImageLike = np.ndarray | str | Path | bytes | bytearray | memoryview


def read_image(image: ImageLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Return a BGR uint8 image from an array, an image file path, or encoded bytes.

    Encoded images (paths and bytes) are measured from their header first and refused
    before decoding when they declare more than ``max_pixels``: a PNG of a few hundred KB
    can declare 20000 x 20000 pixels, 1.2 GB once decoded.

    Args:
        image: An ``(H, W, 3)`` array (returned as is), a path, or JPEG/PNG/... bytes.
        max_pixels: Largest accepted width x height; ``None`` for :func:`default_max_pixels`
            (50 MP unless ``EDGEINFER_MAX_IMAGE_PIXELS`` says otherwise).

    Returns:
        The decoded ``(H, W, 3)`` uint8 BGR image.

    Raises:
        ImageTooLargeError: the header declares more than ``max_pixels``.
        InputError: the file is missing or not an image, or the bytes do not decode.
    """
    if isinstance(image, np.ndarray):
        return image
    cap = default_max_pixels() if max_pixels is None else max_pixels
    cv2 = import_cv2("decoding images")
    if isinstance(image, bytes | bytearray | memoryview):
        raw = bytes(image)
        what = f"{len(raw)} bytes given as an image"
        decoded = None
        if raw and _fits(image_size_wh(io.BytesIO(raw), what), cap, what):
            decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise InputError(f"{what} could not be decoded; send JPEG or PNG data")
        return decoded
    path = Path(image)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    with path.open("rb") as file:
        size = image_size_wh(file, str(path))
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR) if _fits(size, cap, str(path)) else None
    if decoded is None:
        raise InputError(f"{path}: not a readable image (JPEG, PNG, BMP, TIFF, WebP ...)")
    return decoded


def default_max_pixels() -> int:
    """The pixel cap when none is given: ``$EDGEINFER_MAX_IMAGE_PIXELS``, else 50 MP.

    Raises:
        ConfigError: the variable is not a positive integer.
    """
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None:
        return DEFAULT_MAX_PIXELS
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{MAX_PIXELS_ENV}={value!r} is not a positive whole number of pixels (e.g. 50000000)")
    return int(value)


def image_size_wh(file: BinaryIO, what: str = "image") -> tuple[int, int] | None:
    """Width and height declared by an encoded image's header, without decoding it.

    JPEG and PNG headers (nearly every upload and camera still) are read here directly: a
    PNG's IHDR, or the first JPEG start-of-frame marker. Pillow's parser took 47 us per
    request in ``serve``, as much as the rest of its HTTP handling; this takes a few. Every
    other format, and a JPEG whose frame header is not in its first 256 KB, goes to Pillow.

    Args:
        file: The encoded image, opened for binary reading at its start.
        what: The image's name in error messages.

    Returns:
        ``(width, height)`` in pixels, or ``None`` when the header is not one of a known
        image format.

    Raises:
        ImageTooLargeError: the header declares more pixels than Pillow reads at all.
        MissingDependencyError: Pillow is not installed (for formats other than JPEG and PNG).
    """
    head = file.read(_HEAD_BYTES)
    size = _png_size(head) if head.startswith(_PNG) else _jpeg_size(head) if head.startswith(_JPEG) else None
    if size is not None:
        return size
    file.seek(0)
    return _pillow_size(file, what)


_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
# Leading bytes of JPEG, PNG, GIF, BMP, TIFF and WebP (RIFF) files: what a body sent without an
# image Content-Type (curl --data-binary) is recognised by.
IMAGE_SIGNATURES = (_JPEG, _PNG, b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_HEAD_BYTES = 256 * 1024
# JPEG start-of-frame markers (baseline, progressive, lossless ...): C0-CF but C4 (DHT), C8 (JPG), CC (DAC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length field


def _png_size(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None  # not a marker where one must be: leave it to Pillow (and then OpenCV)
        marker = head[at + 1]
        if marker == 0xFF:
            at += 1  # fill byte
        elif marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", head[at + 5:at + 9])
            return int(width), int(height)
        elif marker in _STANDALONE_MARKERS:
            at += 2
        else:
            at += 2 + int.from_bytes(head[at + 2:at + 4], "big")
    return None


def _pillow_size(file: BinaryIO, what: str) -> tuple[int, int] | None:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingDependencyError("pillow", "camera", "checking image sizes before decoding") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own cap decides
            with Image.open(file) as header:
                width, height = header.size
    except Image.DecompressionBombError as exc:
        limit_mp = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise ImageTooLargeError(
            f"{what} declares more than {limit_mp:.0f} MP, far more than a model input needs; send a smaller image"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None  # not an image header Pillow knows (the callers say so)
    return int(width), int(height)


def _fits(size_wh: tuple[int, int] | None, cap: int, what: str) -> bool:
    """False for no known header; raises above the cap."""
    if size_wh is None:
        return False
    width, height = size_wh
    if width * height > cap:
        raise ImageTooLargeError(
            f"{what} is {width} x {height} = {width * height / 1e6:.1f} MP, more than the {cap / 1e6:g} MP "
            f"allowed; send a smaller image, or raise the cap ({MAX_PIXELS_ENV}, serve --max-megapixels)"
        )
    return True


def import_cv2(purpose: str = "preprocessing frames") -> ModuleType:
    """Import and return OpenCV (here, beside the decoding, so every stage can use it).

    Raises:
        MissingDependencyError: ``opencv-python-headless`` is not installed.
    """
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError("opencv-python-headless", "camera", purpose) from exc
    return cv2
