"""Oriented boxes: detections whose boxes are rotated rectangles (task ``obb``).

:class:`OrientedBoxes` is a :class:`~edgeinfer.results.Detections`, so trackers, zones
and events work on it unchanged through ``boxes_xyxy`` (the axis-aligned bounds of each
rotated box); the rotated box itself rides along in ``rboxes``. Its JSON payload::

    {"task": "obb", "detections": [{"label": "ship", "class_id": 1, "score": 0.83,
                                    "box_xyxy": [x1, y1, x2, y2],
                                    "rbox": [cx, cy, w, h, angle],
                                    "polygon": [[x, y], [x, y], [x, y], [x, y]]}]}
    (a tracked detection also has "track_id": 7)

Angles are radians, measured from the image x axis towards the y axis (clockwise on
screen, y pointing down), in ``[0, pi/2)`` as Ultralytics regularises them: ``w`` lies
along ``(cos a, sin a)`` and ``h`` along ``(-sin a, cos a)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.results.core import BOX_DECIMALS, Detections

__all__ = ["ANGLE_DECIMALS", "OrientedBoxes", "rbox_polygons"]

ANGLE_DECIMALS = 4


def rbox_polygons(rboxes: np.ndarray) -> np.ndarray:
    """Corners of rotated boxes, in the order Ultralytics' ``xywhr2xyxyxyxy`` gives them.

    Args:
        rboxes: ``(N, 5)`` ``cx, cy, w, h, angle`` (pixels, radians).

    Returns:
        ``(N, 4, 2)`` float32 corners ``x, y``, going round the box.
    """
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    cos, sin = np.cos(r[:, 4]), np.sin(r[:, 4])
    along_w = np.stack([r[:, 2] / 2 * cos, r[:, 2] / 2 * sin], axis=1)
    along_h = np.stack([-r[:, 3] / 2 * sin, r[:, 3] / 2 * cos], axis=1)
    centre = r[:, :2]
    corners = [centre + along_w + along_h, centre + along_w - along_h,
               centre - along_w - along_h, centre - along_w + along_h]
    return np.stack(corners, axis=1).astype(np.float32)


@dataclass(frozen=True, eq=False)
class OrientedBoxes(Detections):
    """Rotated boxes found in one frame, best score first.

    Attributes:
        boxes_xyxy: ``(N, 4)`` float32 axis-aligned bounds of each rotated box, frame
            pixels, clipped to the frame (what trackers and zones use).
        scores: ``(N,)`` float32 confidence in 0..1.
        class_ids: ``(N,)`` int64 class indices.
        labels: ``N`` labels.
        track_ids: ``(N,)`` int64 track ids, ``None`` when untracked.
        rboxes: ``(N, 5)`` float32 ``cx, cy, w, h, angle`` in frame pixels and radians
            (not clipped: a box may reach past the frame edge).
    """

    task: ClassVar[Literal["obb"]] = "obb"  # type: ignore[assignment]
    rboxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), np.float32))

    @property
    def polygons(self) -> np.ndarray:
        """``(N, 4, 2)`` float32 corners of each rotated box, frame pixels."""
        return rbox_polygons(self.rboxes)

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "obb", "detections": [{..., "box_xyxy", "rbox", "polygon"}]}``."""
        out = super().to_dict()
        for detection, rbox, polygon in zip(out["detections"], self.rboxes, self.polygons, strict=True):
            detection["rbox"] = [round(float(v), BOX_DECIMALS) for v in rbox[:4]]
            detection["rbox"].append(round(float(rbox[4]), ANGLE_DECIMALS))
            detection["polygon"] = [[round(float(x), BOX_DECIMALS), round(float(y), BOX_DECIMALS)]
                                    for x, y in polygon]
        return out
