"""The image input kind: an image path, encoded bytes or a BGR array -> model-input tensor.

Registered as ``image`` in :mod:`edgeinfer.preprocess.inputs`; wraps the frame
:class:`~edgeinfer.preprocess.preprocessor.Preprocessor` built from the card.
:func:`read_image` is also what ``edgeinfer predict`` and ``serve`` use to decode uploads.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from edgeinfer.errors import ConfigError, ImageTooLargeError, InputError, MissingDependencyError
from edgeinfer.preprocess.base import import_cv2
from edgeinfer.preprocess.preprocessor import build_preprocessor
from edgeinfer.types import Geometry, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard

__all__ = ["DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "ImageInput", "ImageLike", "default_max_pixels", "image_size_wh",
           "read_image"]

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
    cv2 = import_cv2()
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

    Args:
        file: The encoded image, opened for binary reading.
        what: The image's name in error messages.

    Returns:
        ``(width, height)`` in pixels, or ``None`` when the header is not one of a known
        image format.

    Raises:
        ImageTooLargeError: the header declares more pixels than Pillow reads at all.
        MissingDependencyError: Pillow is not installed.
    """
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


class ImageInput:
    """Frames to the tensor of a model with one image input (3-D or 4-D).

    Args:
        card: The model card (its ``preprocess`` section).
        inputs: The model's input specs (exactly one).
    """

    @staticmethod
    def refuses(card: ModelCard, inputs: Sequence[TensorSpec]) -> str | None:
        """Why this kind cannot feed the model, or ``None``."""
        if len(inputs) == 1 and len(inputs[0].shape) in (3, 4):
            return None
        return f"needs one 3-D or 4-D image input, the model has {[list(s.shape) for s in inputs]}"

    def __init__(self, card: ModelCard, inputs: Sequence[TensorSpec]) -> None:
        self.spec = inputs[0]
        self.preprocessor = build_preprocessor(card.preprocess, self.spec)
        self.output_shape = self.preprocessor.output_shape
        self.dtype = self.preprocessor.dtype

    def read(self, item: Any) -> np.ndarray:
        """Decode a path or bytes; arrays pass through (:func:`read_image`)."""
        return read_image(item)

    def __call__(self, item: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, Geometry]:
        """Preprocess one frame into ``out`` (or the preprocessor's own buffer)."""
        return self.preprocessor(item, out=out)
