"""The image input kind: an image path, encoded bytes or a BGR array -> model-input tensor.

Registered as ``image`` in :mod:`edgeinfer.preprocess.inputs`; wraps the frame
:class:`~edgeinfer.preprocess.preprocessor.Preprocessor` built from the card.
:func:`read_image` is also what ``edgeinfer predict`` and ``serve`` use to decode uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.preprocess.base import import_cv2
from edgeinfer.preprocess.preprocessor import build_preprocessor
from edgeinfer.types import Geometry, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard

__all__ = ["ImageInput", "ImageLike", "read_image"]

ImageLike = np.ndarray | str | Path | bytes | bytearray | memoryview


def read_image(image: ImageLike) -> np.ndarray:
    """Return a BGR uint8 image from an array, an image file path, or encoded bytes.

    Args:
        image: An ``(H, W, 3)`` array (returned as is), a path, or JPEG/PNG/... bytes.

    Returns:
        The decoded ``(H, W, 3)`` uint8 BGR image.

    Raises:
        InputError: the file is missing or not an image, or the bytes do not decode.
    """
    if isinstance(image, np.ndarray):
        return image
    cv2 = import_cv2()
    if isinstance(image, bytes | bytearray | memoryview):
        data = np.frombuffer(bytes(image), np.uint8)
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if decoded is None:
            raise InputError(f"{len(data)} bytes given as an image could not be decoded; send JPEG or PNG data")
        return decoded
    path = Path(image)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if decoded is None:
        raise InputError(f"{path}: not a readable image (JPEG, PNG, BMP, TIFF, WebP ...)")
    return decoded


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
