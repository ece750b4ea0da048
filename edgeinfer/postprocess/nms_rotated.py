"""Non-maximum suppression of rotated boxes, by the IoU of the rotated rectangles themselves.

OpenCV's ``cv2.dnn.NMSBoxesRotated`` does the work (it intersects the two rectangles with
``rotatedRectangleIntersection``). Two long thin boxes crossing at right angles have a
large axis-aligned IoU and almost no rotated one, so axis-aligned NMS would wrongly drop
one of them; this keeps both.

Ultralytics' own OBB predictor ranks overlaps with ``probiou`` (a Gaussian approximation
of rotated IoU) instead; the two agree on clear duplicates and clear non-overlaps and may
differ on boxes whose overlap is near the threshold.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.errors import MissingDependencyError

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
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError(
            "opencv-python-headless", "camera", "non-maximum suppression of rotated boxes"
        ) from exc
    boxes = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    # OpenCV keeps scores strictly above a non-negative threshold; the caller has already
    # thresholded, so shift every score above 0 (the order, all NMS uses, is unchanged).
    shifted = (scores - scores.min() + 1.0).tolist()
    groups = np.zeros(len(scores), np.int64) if agnostic else np.asarray(class_ids, dtype=np.int64)
    kept: list[np.ndarray] = []
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        rects = [((b[0], b[1]), (b[2], b[3]), float(np.degrees(b[4]))) for b in boxes[members].tolist()]
        picked = cv2.dnn.NMSBoxesRotated(rects, [shifted[i] for i in members], 0.0, float(iou_threshold))
        kept.append(members[np.asarray(picked, dtype=np.int64).reshape(-1)])
    keep = np.concatenate(kept)
    order = np.argsort(-scores[keep], kind="stable")
    return keep[order][:max_detections]
