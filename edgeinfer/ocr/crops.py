"""Between detector and recogniser: order the boxes, put them in reading order, cut them out.

Each detected box is a rotated rectangle; :func:`crop_line` warps it into an upright
image the recogniser can read (a tall, narrow crop is turned a quarter, as vertical text
usually is). Pure numpy and OpenCV.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["crop_line", "order_corners", "reading_order", "tidy_boxes"]

_MIN_BOX_PX = 3  # boxes this thin after clipping hold no readable text
_TALL_RATIO = 1.5  # a crop this much taller than wide is vertical text: turn it


def order_corners(points: np.ndarray) -> np.ndarray:
    """Order four corners as top-left, top-right, bottom-right, bottom-left.

    Args:
        points: ``(4, 2)`` corners in any order.

    Returns:
        ``(4, 2)`` float32 corners, clockwise from the top-left.
    """
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def tidy_boxes(boxes: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """Order each box's corners, clip them into the frame and drop boxes 3 px thin or less.

    Args:
        boxes: ``(N, 4, 2)`` corners in frame pixels.
        frame_hw: ``(H, W)`` of the frame.

    Returns:
        ``(M, 4, 2)`` float32 boxes, M <= N.
    """
    kept = []
    for box in boxes:
        ordered = order_corners(box)
        ordered[:, 0] = np.clip(ordered[:, 0], 0, frame_hw[1] - 1)
        ordered[:, 1] = np.clip(ordered[:, 1], 0, frame_hw[0] - 1)
        ordered = np.trunc(ordered)
        width = int(np.linalg.norm(ordered[0] - ordered[1]))
        height = int(np.linalg.norm(ordered[0] - ordered[3]))
        if width > _MIN_BOX_PX and height > _MIN_BOX_PX:
            kept.append(ordered)
    return np.stack(kept).astype(np.float32) if kept else np.zeros((0, 4, 2), np.float32)


def reading_order(boxes: np.ndarray, y_tolerance_px: float = 10.0) -> np.ndarray:
    """Indices that put boxes in reading order: top to bottom, left to right within a line.

    Boxes are sorted by their top-left corner (y, then x); a box whose top-left is within
    ``y_tolerance_px`` of the one before it counts as the same line and is then ordered
    by x (PaddleOCR's ``sorted_boxes``).

    Args:
        boxes: ``(N, 4, 2)`` corners, top-left first.
        y_tolerance_px: Largest difference in top-left y, in pixels, within one line.

    Returns:
        ``(N,)`` int64 indices into ``boxes``.
    """
    order = sorted(range(len(boxes)), key=lambda i: (float(boxes[i, 0, 1]), float(boxes[i, 0, 0])))
    for i in range(len(order) - 1):
        for j in range(i, -1, -1):
            a, b = boxes[order[j]], boxes[order[j + 1]]
            if abs(float(b[0, 1] - a[0, 1])) < y_tolerance_px and b[0, 0] < a[0, 0]:
                order[j], order[j + 1] = order[j + 1], order[j]
            else:
                break
    return np.asarray(order, dtype=np.int64)


def crop_line(cv2: Any, frame_bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Warp one rotated box out of the frame into an upright crop.

    Args:
        cv2: The OpenCV module.
        frame_bgr: ``(H, W, 3)`` uint8 frame.
        box: ``(4, 2)`` corners tl, tr, br, bl in frame pixels.

    Returns:
        ``(h, w, 3)`` uint8 crop, turned 90 degrees when it is much taller than wide.
    """
    box = box.astype(np.float32)
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(box, target)
    crop = cv2.warpPerspective(frame_bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    if crop.shape[0] >= _TALL_RATIO * crop.shape[1]:
        crop = np.ascontiguousarray(np.rot90(crop))
    return np.asarray(crop)
