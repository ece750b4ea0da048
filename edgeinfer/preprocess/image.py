"""The image input kind: an image path, encoded bytes or a BGR array -> model-input tensor.

Registered as ``image`` in :mod:`edgeinfer.preprocess.inputs`; wraps the frame
:class:`~edgeinfer.preprocess.preprocessor.Preprocessor` built from the card, and decodes
paths and bytes with :func:`edgeinfer.images.read_image` (pixel cap included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.images import read_image
from edgeinfer.preprocess.preprocessor import build_preprocessor
from edgeinfer.types import Geometry, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard

__all__ = ["ImageInput"]


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
