"""Text-line crops to recogniser and angle-classifier batches (PaddleOCR's layout).

Crops are sorted by aspect ratio, so that each batch holds lines of similar width and
little padding; each crop is resized to the model height keeping its aspect, normalised
to -1..1 and zero-padded on the right to the widest crop of its batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

__all__ = ["batches_by_aspect", "line_batch"]


def batches_by_aspect(crops: Sequence[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """Indices of ``crops`` in batches of up to ``batch_size``, narrowest aspect first.

    Args:
        crops: ``(h, w, 3)`` crops.
        batch_size: Most crops per batch.

    Yields:
        ``(b,)`` int64 indices into ``crops``.
    """
    aspects = np.array([c.shape[1] / float(c.shape[0]) for c in crops], dtype=np.float64)
    order = np.argsort(aspects, kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def line_batch(cv2: Any, crops: Sequence[np.ndarray], height: int, min_width: int, *,
               fixed_width: bool = False) -> np.ndarray:
    """Resize, normalise and pad crops into one NCHW batch.

    Args:
        cv2: The OpenCV module.
        crops: ``(h, w, 3)`` uint8 BGR crops.
        height: The model's input height in pixels (48 for PP-OCRv3/v4 recognisers).
        min_width: Narrowest batch width in pixels (320 for the recogniser, 192 for the
            angle classifier).
        fixed_width: Keep the batch exactly ``min_width`` wide (the classifier), instead of
            widening it to the crop with the largest aspect (the recogniser).

    Returns:
        ``(B, 3, height, W)`` float32 in -1..1, zero-padded on the right.
    """
    max_aspect = min_width / height
    if not fixed_width:
        max_aspect = max([max_aspect] + [c.shape[1] / float(c.shape[0]) for c in crops])
    width = int(height * max_aspect)
    batch = np.zeros((len(crops), 3, height, width), dtype=np.float32)
    for i, crop in enumerate(crops):
        resized_w = min(width, math.ceil(height * crop.shape[1] / float(crop.shape[0])))
        resized = cv2.resize(crop, (resized_w, height)).astype(np.float32)
        batch[i, :, :, :resized_w] = resized.transpose(2, 0, 1) * np.float32(2 / 255) - np.float32(1)
    return batch
