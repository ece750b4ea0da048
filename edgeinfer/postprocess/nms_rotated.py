"""Non-maximum suppression of rotated boxes, by the IoU of the rotated rectangles themselves.

Greedy NMS: the best remaining box is kept and every box of its class (of any class with
``agnostic``) whose rotated IoU with it exceeds the threshold is dropped. The overlap is
OpenCV's ``rotatedRectangleIntersection`` polygon, measured with ``contourArea``, and is
only computed for pairs whose axis-aligned bounds touch. Two long thin boxes crossing at
right angles have a large axis-aligned IoU and almost no rotated one, so axis-aligned NMS
would wrongly drop one of them; this keeps both.

``cv2.dnn.NMSBoxesRotated`` is not used: it scores a box lying wholly inside another as
IoU 1.0 (OpenCV 4.x and 5.0, ``rotatedRectIOU`` in ``nms.cpp``), so a small box inside a
large one of the same class is dropped whatever their real overlap.

Ultralytics' own OBB predictor ranks overlaps with ``probiou`` (a Gaussian approximation
of rotated IoU) instead; the two agree on clear duplicates and clear non-overlaps and may
differ on boxes whose overlap is near the threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeinfer.images import import_cv2

__all__ = ["nms_rotated"]


def nms_rotated(
    rboxes: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    *,
    iou_threshold: float,
    max_detections: int,
    agnostic: bool = False,
) -> np.ndarray:
    """Return the indices of the rotated boxes kept by class-aware NMS, best score first.

    Args:
        rboxes: ``(N, 5)`` ``cx, cy, w, h, angle`` (any pixel units, radians; ``w`` along
            ``(cos a, sin a)``).
        scores: ``(N,)`` float scores.
        class_ids: ``(N,)`` integer class ids.
        iou_threshold: Rotated IoU (0..1) above which the lower-scoring box is dropped.
        max_detections: Keep at most this many boxes, applied after NMS.
        agnostic: Let boxes of different classes suppress each other.

    Returns:
        ``(K,)`` int64 indices into the inputs, ``K <= max_detections``, by falling score.

    Raises:
        MissingDependencyError: OpenCV is not installed.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    cv2 = import_cv2("non-maximum suppression of rotated boxes")
    boxes = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    groups = np.zeros(len(scores), np.int64) if agnostic else np.asarray(class_ids, dtype=np.int64)
    rects = [((b[0], b[1]), (b[2], b[3]), float(np.degrees(b[4]))) for b in boxes.tolist()]
    areas = boxes[:, 2] * boxes[:, 3]
    bounds = _bounds(boxes)
    alive = np.ones(len(scores), dtype=bool)
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) == max_detections:
            break
        alive[i] = False
        touching = np.flatnonzero(alive & (groups == groups[i])
                                  & (bounds[:, 0] < bounds[i, 2]) & (bounds[:, 2] > bounds[i, 0])
                                  & (bounds[:, 1] < bounds[i, 3]) & (bounds[:, 3] > bounds[i, 1]))
        # IoU is at most the smaller area over the larger: skip pairs that cannot pass.
        ratio = np.minimum(areas[touching], areas[i]) / np.maximum(np.maximum(areas[touching], areas[i]), 1e-12)
        for j in touching[ratio > iou_threshold].tolist():
            if _iou(cv2, rects[i], rects[j], areas[i] + areas[j]) > iou_threshold:
                alive[j] = False
    return np.asarray(keep, dtype=np.int64)


def _iou(cv2: Any, a: Any, b: Any, area_sum: float) -> float:
    """Rotated IoU of two OpenCV rotated rects, whose areas add up to ``area_sum``."""
    _, points = cv2.rotatedRectangleIntersection(a, b)
    if points is None or len(points) < 3:
        return 0.0
    inter = float(cv2.contourArea(points))
    union = area_sum - inter
    return inter / union if union > 0 else 0.0


def _bounds(boxes: np.ndarray) -> np.ndarray:
    """Axis-aligned ``x1, y1, x2, y2`` of ``(N, 5)`` rotated boxes."""
    cos, sin = np.abs(np.cos(boxes[:, 4])), np.abs(np.sin(boxes[:, 4]))
    half_w = (boxes[:, 2] * cos + boxes[:, 3] * sin) / 2
    half_h = (boxes[:, 2] * sin + boxes[:, 3] * cos) / 2
    return np.stack([boxes[:, 0] - half_w, boxes[:, 1] - half_h,
                     boxes[:, 0] + half_w, boxes[:, 1] + half_h], axis=1)
