"""Drawing keypoints and skeletons, for :func:`edgeinfer.draw` on :class:`~edgeinfer.results.Poses`.

The boxes are drawn as detections are (:mod:`edgeinfer.annotate`); then, per object, each
limb whose two keypoints both score at least :data:`KEYPOINT_MIN_SCORE` is a line in the
object's colour, and each such keypoint a white dot with a rim in that colour (white stands
out on the box and its label tab).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["KEYPOINT_MIN_SCORE", "draw_keypoints"]

KEYPOINT_MIN_SCORE = 0.5
_FILL = (255, 255, 255)


def draw_keypoints(cv2: Any, canvas: np.ndarray, keypoints: np.ndarray, *,
                   skeleton: Sequence[tuple[int, int]] | None, colors: Sequence[tuple[int, int, int]],
                   thickness: int) -> None:
    """Draw ``(N, K, 3)`` keypoints (frame pixels, score) and their limbs onto ``canvas`` in place.

    Args:
        cv2: The OpenCV module.
        canvas: ``(H, W, 3)`` uint8 BGR image, changed in place.
        keypoints: ``x, y, score`` per keypoint of each object.
        skeleton: Limbs as pairs of keypoint indices, or ``None`` (dots only).
        colors: One BGR colour per object.
        thickness: Line thickness in pixels; dots are a little larger.
    """
    radius = thickness + 2
    for points, color in zip(keypoints, colors, strict=True):
        visible = points[:, 2] >= KEYPOINT_MIN_SCORE
        xy = np.rint(points[:, :2]).astype(np.int64).tolist()
        for a, b in skeleton or ():
            if visible[a] and visible[b]:
                cv2.line(canvas, tuple(xy[a]), tuple(xy[b]), color, thickness, cv2.LINE_AA)
        for (x, y), shown in zip(xy, visible.tolist(), strict=True):
            if shown:
                cv2.circle(canvas, (x, y), radius, _FILL, -1, cv2.LINE_AA)
                cv2.circle(canvas, (x, y), radius, color, 1, cv2.LINE_AA)
