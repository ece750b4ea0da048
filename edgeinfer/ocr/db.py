"""The text detector's two ends: frame to DB input, and DB probability map to rotated boxes.

DB (Differentiable Binarization, PP-OCR's detector) outputs a per-pixel text probability
``(1, 1, h, w)``. :func:`boxes_from_probability` binarises it, follows each region's
contour, scores the region by the mean probability inside its minimum-area rectangle,
grows the rectangle by ``area * unclip_ratio / perimeter`` (the shrink DB was trained
with, undone with pyclipper) and maps the grown rectangle to frame pixels. Pure numpy and
OpenCV; the same steps and defaults as PaddleOCR's ``DBPostProcess``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import MissingDependencyError

__all__ = ["DbOptions", "boxes_from_probability", "detector_input"]

_MIN_SIDE_PX = 3  # regions thinner than this (in map pixels) are noise
_STRIDE = 32  # DB's backbone downsamples by 32: input sides are multiples of it


@dataclass(frozen=True)
class DbOptions:
    """DB post-processing settings (PaddleOCR's names in brackets).

    Attributes:
        thresh: Probability above which a pixel is text [thresh].
        box_thresh: Least mean probability inside a box to keep it [box_thresh].
        unclip_ratio: How much to grow each box back [unclip_ratio].
        dilate: Dilate the binary map with a 2x2 kernel first, which joins broken
            strokes [use_dilation].
        max_candidates: Most regions looked at [max_candidates].
        limit_side_len: The detector sees the frame resized so that its short side is at
            least this many pixels (then rounded to multiples of 32) [limit_side_len, "min"].
        max_side_len: Frames whose long side is larger are first shrunk to it.
    """

    thresh: float = 0.3
    box_thresh: float = 0.5
    unclip_ratio: float = 1.5
    dilate: bool = True
    max_candidates: int = 1000
    limit_side_len: int = 736
    max_side_len: int = 2000


def _cv2() -> Any:
    from edgeinfer.images import import_cv2

    return import_cv2("OCR")


def _pyclipper() -> Any:
    try:
        import pyclipper
    except ImportError as exc:
        raise MissingDependencyError("pyclipper", "ocr", "growing OCR text boxes") from exc
    return pyclipper


def detector_input(frame_bgr: np.ndarray, options: DbOptions) -> np.ndarray:
    """Resize and normalise a frame for the DB detector.

    Args:
        frame_bgr: ``(H, W, 3)`` uint8 BGR frame.
        options: The resize limits.

    Returns:
        ``(1, 3, h, w)`` float32, ``(pixel / 255 - 0.5) / 0.5``, sides multiples of 32.
    """
    cv2 = _cv2()
    h, w = frame_bgr.shape[:2]
    ratio = 1.0
    if max(h, w) > options.max_side_len:
        ratio = options.max_side_len / max(h, w)
    if min(h, w) * ratio < options.limit_side_len:
        ratio = options.limit_side_len / min(h, w)
    size_h = max(_STRIDE, round(int(h * ratio) / _STRIDE) * _STRIDE)
    size_w = max(_STRIDE, round(int(w * ratio) / _STRIDE) * _STRIDE)
    resized = cv2.resize(frame_bgr, (size_w, size_h))
    tensor = resized.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None])


def _mini_box(cv2: Any, points: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle of ``points`` as ``(4, 2)`` corners (tl, tr, br, bl) and its short side."""
    rect = cv2.minAreaRect(points)
    corners = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = sorted(corners[:2], key=lambda p: p[1])
    right = sorted(corners[2:], key=lambda p: p[1])
    box = np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)
    return box, float(min(rect[1]))


def _box_score(cv2: Any, prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside ``box`` (PaddleOCR's "fast" score)."""
    h, w = prob.shape
    x0, x1 = (int(np.clip(v, 0, w - 1)) for v in (np.floor(box[:, 0].min()), np.ceil(box[:, 0].max())))
    y0, y1 = (int(np.clip(v, 0, h - 1)) for v in (np.floor(box[:, 1].min()), np.ceil(box[:, 1].max())))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    cv2.fillPoly(mask, (box - np.array([x0, y0], np.float32)).reshape(1, -1, 2).astype(np.int32), 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _unclip(pyclipper: Any, box: np.ndarray, ratio: float) -> np.ndarray:
    """Grow ``box`` by ``area * ratio / perimeter`` pixels (round joins)."""
    x, y = box[:, 0].astype(np.float64), box[:, 1].astype(np.float64)
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    perimeter = float(np.linalg.norm(box - np.roll(box, 1, axis=0), axis=1).sum())
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    grown = offset.Execute(area * ratio / max(perimeter, 1e-6))
    if len(grown) != 1:
        return np.zeros((0, 2), np.float32)  # a degenerate box grows into nothing or into pieces
    return np.asarray(grown[0], dtype=np.float32)


def boxes_from_probability(prob_map: np.ndarray, frame_hw: tuple[int, int],
                           options: DbOptions) -> tuple[np.ndarray, np.ndarray]:
    """Rotated text boxes from the DB probability map, in frame pixels.

    Args:
        prob_map: ``(1, 1, h, w)`` or ``(h, w)`` float32 text probability.
        frame_hw: ``(H, W)`` of the frame the detector input was made from.
        options: Thresholds and the unclip ratio.

    Returns:
        ``(N, 4, 2)`` float32 corners (tl, tr, br, bl, whole pixels, clipped to the frame)
        and ``(N,)`` float32 box scores, in contour order.
    """
    cv2, pyclipper = _cv2(), _pyclipper()
    prob: np.ndarray = np.asarray(prob_map, dtype=np.float32).reshape(prob_map.shape[-2:])
    bitmap = (prob > options.thresh).astype(np.uint8)
    if options.dilate:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    map_h, map_w = int(prob.shape[0]), int(prob.shape[1])
    scale = np.array([frame_hw[1] / map_w, frame_hw[0] / map_h], np.float32)
    limit = np.array([frame_hw[1], frame_hw[0]], np.float32)
    boxes, scores = [], []
    for contour in contours[:options.max_candidates]:
        box, short_side = _mini_box(cv2, contour)
        if short_side < _MIN_SIDE_PX:
            continue
        score = _box_score(cv2, prob, box)
        if score < options.box_thresh:
            continue
        grown = _unclip(pyclipper, box, options.unclip_ratio)
        if len(grown) < 3:
            continue
        box, short_side = _mini_box(cv2, grown.reshape(-1, 1, 2))
        if short_side < _MIN_SIDE_PX + 2:
            continue
        boxes.append(np.clip(np.round(box * scale), 0, limit))
        scores.append(score)
    if not boxes:
        return np.zeros((0, 4, 2), np.float32), np.zeros(0, np.float32)
    return np.stack(boxes).astype(np.float32), np.asarray(scores, np.float32)
