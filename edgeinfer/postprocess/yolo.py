"""YOLO output decoders: raw head tensors to candidate boxes in model-input pixels.

Both layouts carry centre-size boxes ``cx, cy, w, h`` followed by per-class scores:

- ``yolov8`` (Ultralytics YOLOv8/11 export): ``[1, 4 + classes, N]``, no objectness.
- ``yolov5``: ``[1, N, 5 + classes]``, objectness in column 4; score = objectness x class.

The anchor axis is told from the channel axis by shape, never by name: the channel axis is
the one of size ``4 + len(labels)`` (``5 + ...`` for yolov5) when the card has labels,
otherwise the shorter one (a head has far more anchors than channels). Extra channels
after the class scores (segmentation mask coefficients) are ignored when labels are known.

Normalised boxes: some exports (Ultralytics TFLite) give coordinates in 0..1 of the input
size instead of pixels. When every box coordinate of the output is at most
:data:`NORMALISED_MAX` the boxes are taken as normalised and multiplied by the input
width and height; a pixel-space head always has anchors far beyond 1.5 pixels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from edgeinfer.errors import InputError

__all__ = ["NORMALISED_MAX", "Candidates", "decode_yolov5", "decode_yolov8"]

NORMALISED_MAX = 1.5


class Candidates(NamedTuple):
    """Boxes before NMS: ``(N, 4)`` xyxy input pixels, ``(N,)`` scores, ``(N,)`` int64 ids."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def decode_yolov8(
    arrays: list[np.ndarray], input_size_wh: tuple[int, int], num_classes: int | None
) -> Candidates:
    """Decode an Ultralytics YOLOv8-style head ``[1, 4 + classes, N]`` (or transposed).

    Args:
        arrays: Model outputs, batch dimension first; the first 3-D one is the head.
        input_size_wh: Model input width and height, pixels.
        num_classes: Number of classes from the card's labels, or ``None`` if unknown.

    Returns:
        One candidate per anchor, boxes in input pixels.

    Raises:
        InputError: no output has the ``[1, channels, anchors]`` shape.
    """
    rows = _anchor_rows(arrays, extra=4, num_classes=num_classes, decoder="yolov8")
    n_cls = num_classes if num_classes is not None else rows.shape[1] - 4
    class_scores = rows[:, 4 : 4 + n_cls]
    class_ids = class_scores.argmax(axis=1)
    scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
    return Candidates(_cxcywh_to_xyxy(rows[:, :4], input_size_wh), scores, class_ids.astype(np.int64))


def decode_yolov5(
    arrays: list[np.ndarray], input_size_wh: tuple[int, int], num_classes: int | None
) -> Candidates:
    """Decode a YOLOv5-style head ``[1, N, 5 + classes]`` with objectness (or transposed).

    Args:
        arrays: Model outputs, batch dimension first; the first 3-D one is the head.
        input_size_wh: Model input width and height, pixels.
        num_classes: Number of classes from the card's labels, or ``None`` if unknown.

    Returns:
        One candidate per anchor, score = objectness x best class score.

    Raises:
        InputError: no output has the ``[1, anchors, channels]`` shape.
    """
    rows = _anchor_rows(arrays, extra=5, num_classes=num_classes, decoder="yolov5")
    n_cls = num_classes if num_classes is not None else rows.shape[1] - 5
    class_scores = rows[:, 5 : 5 + n_cls] * rows[:, 4:5]
    class_ids = class_scores.argmax(axis=1)
    scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
    return Candidates(_cxcywh_to_xyxy(rows[:, :4], input_size_wh), scores, class_ids.astype(np.int64))


def _anchor_rows(
    arrays: list[np.ndarray], *, extra: int, num_classes: int | None, decoder: str
) -> np.ndarray:
    """Return the head as ``(anchors, channels)`` float32, whichever way it was exported."""
    head = next((a for a in arrays if a.ndim == 3 and a.shape[0] == 1), None)
    if head is None:
        shapes = [list(a.shape) for a in arrays]
        raise InputError(
            f"The {decoder} decoder needs an output shaped [1, channels, anchors]; the model "
            f"gives {shapes}. Check postprocess.decoder in the model card."
        )
    a, b = head.shape[1:]
    channels = None if num_classes is None else extra + num_classes
    channels_first = a == channels if channels in (a, b) else a < b
    rows = head[0].T if channels_first else head[0]
    if rows.shape[1] < extra + (num_classes or 1):
        raise InputError(
            f"The {decoder} head {list(head.shape)} has {rows.shape[1]} channels; it needs "
            f"{extra} box values plus {num_classes or 'at least 1'} class scores."
        )
    return np.asarray(rows, dtype=np.float32)


def _cxcywh_to_xyxy(cxcywh: np.ndarray, input_size_wh: tuple[int, int]) -> np.ndarray:
    """Centre-size boxes to corners in input pixels, scaling normalised ones up."""
    boxes = cxcywh.astype(np.float32)
    if boxes.size and float(np.abs(boxes).max()) <= NORMALISED_MAX:
        boxes = boxes * np.asarray([*input_size_wh, *input_size_wh], dtype=np.float32)
    half = boxes[:, 2:] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)
