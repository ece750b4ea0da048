"""Class-aware non-maximum suppression, the last step of every detection decoder.

OpenCV's ``cv2.dnn.NMSBoxesBatched`` does the work: it is well kept, fast, and already
present wherever frames come from a camera.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.images import import_cv2

__all__ = ["nms_per_class"]


def nms_per_class(
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    *,
    iou_threshold: float,
    max_detections: int,
    agnostic: bool = False,
) -> np.ndarray:
    """Return the indices of the boxes kept by class-aware NMS, best score first.

    A box is suppressed only by a higher-scoring box of the same class whose IoU with it
    exceeds ``iou_threshold``; boxes of different classes never suppress each other.

    Args:
        boxes_xyxy: ``(N, 4)`` float boxes ``x1, y1, x2, y2``, any pixel units.
        scores: ``(N,)`` float scores.
        class_ids: ``(N,)`` integer class ids.
        iou_threshold: Overlap (intersection over union, 0..1) above which a box is dropped.
        max_detections: Keep at most this many boxes (after NMS, so duplicates never
            take the place of real objects).
        agnostic: Let a box suppress overlapping boxes of every class (one box per object;
            the card's ``postprocess.agnostic_nms``).

    Returns:
        ``(K,)`` int64 indices into the inputs, ``K <= max_detections``, by falling score.

    Raises:
        MissingDependencyError: OpenCV is not installed.
    """
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    cv2 = import_cv2("non-maximum suppression of detections")
    boxes = np.asarray(boxes_xyxy, dtype=np.float64)
    boxes_xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    # score_threshold=-inf: the caller has already thresholded; OpenCV's top_k would cut
    # before NMS, so the max_detections cap is applied to its result instead.
    picked = cv2.dnn.NMSBoxesBatched(
        boxes_xywh.tolist(),
        np.asarray(scores, dtype=np.float64).tolist(),
        (np.zeros(len(scores), np.int64) if agnostic else np.asarray(class_ids, dtype=np.int64)).tolist(),
        float("-inf"),
        float(iou_threshold),
    )
    keep = np.asarray(picked, dtype=np.int64).reshape(-1)
    order = np.argsort(-np.asarray(scores)[keep], kind="stable")
    return keep[order][:max_detections]
