"""Instance masks: detections that each carry a pixel mask (Ultralytics ``-seg`` models).

Memory is what decides the layout on a Pi: a full-frame ``[N, H, W]`` bool stack of 100
objects on a 1080p frame is 200 MB. Each mask is kept instead **cropped to its box**: a
``(h_i, w_i)`` bool array covering the frame-pixel rectangle whose top-left corner is
``mask_origins[i]`` (the box rounded out to whole pixels and clipped to the frame), so the
cost is the boxes' area. :meth:`InstanceMasks.frame_mask` gives one instance's mask at
frame size when that is what the caller wants.

Its JSON payload keeps MQTT messages small as ``postprocess.mask_format`` says::

    {"task": "instance_segmentation", "detections": [{"label": "person", "class_id": 0,
        "score": 0.91, "box_xyxy": [x1, y1, x2, y2],
        "polygons": [[[x, y], ...], ...]}]}                       # mask_format: polygon
        "rle": {"size": [h, w], "counts": [0s, 1s, 0s, ...]}      # mask_format: rle
                                                                  # mask_format: none: no mask key

Polygons are the outer contours of each mask (one per separate part, largest first),
simplified by :data:`POLYGON_EPSILON` pixels, in frame pixels. RLE is COCO's uncompressed
form over the whole frame: run lengths in column-major (Fortran) order, the first run
counting zeros, with ``size`` ``[height, width]`` (``pycocotools.mask.frPyObjects`` reads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.results.core import Detections

__all__ = ["POLYGON_EPSILON", "InstanceMasks", "MaskFormat", "mask_polygons", "mask_rle"]

MaskFormat = Literal["polygon", "rle", "none"]
POLYGON_EPSILON = 1.0  # pixels: cv2.approxPolyDP tolerance for the JSON polygons


def _no_origins() -> np.ndarray:
    return np.zeros((0, 2), np.int64)


@dataclass(frozen=True, eq=False)
class InstanceMasks(Detections):
    """Detections with one mask per object, each cropped to its box (see the module doc).

    Attributes:
        masks: ``N`` bool arrays; ``masks[i]`` is ``(h_i, w_i)``, True on the object.
        mask_origins: ``(N, 2)`` int64 ``x, y`` frame pixel of each mask's top-left corner.
        frame_width: Width of the frame the masks belong to, pixels.
        frame_height: Height of the frame, pixels.
        mask_format: How :meth:`to_dict` writes the masks: ``polygon``, ``rle`` or ``none``
            (the card's ``postprocess.mask_format``).
    """

    task: ClassVar[Literal["instance_segmentation"]] = "instance_segmentation"  # type: ignore[assignment]
    masks: tuple[np.ndarray, ...] = ()
    mask_origins: np.ndarray = field(default_factory=_no_origins)
    frame_width: int = 0
    frame_height: int = 0
    mask_format: MaskFormat = "polygon"

    def frame_mask(self, i: int) -> np.ndarray:
        """Instance ``i``'s mask at frame size: ``(frame_height, frame_width)`` bool."""
        out = np.zeros((self.frame_height, self.frame_width), bool)
        x, y = (int(v) for v in self.mask_origins[i])
        crop = self.masks[i]
        out[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
        return out

    def areas(self) -> np.ndarray:
        """``(N,)`` int64 mask area of each object, pixels."""
        return np.asarray([int(m.sum()) for m in self.masks], dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        """Detections' payload, each with ``polygons`` or ``rle`` as ``mask_format`` says."""
        out = super().to_dict()
        if self.mask_format == "none":
            return out
        for detection, crop, origin in zip(out["detections"], self.masks, self.mask_origins, strict=True):
            x, y = int(origin[0]), int(origin[1])
            if self.mask_format == "rle":
                detection["rle"] = mask_rle(crop, (x, y), (self.frame_width, self.frame_height))
            else:
                detection["polygons"] = mask_polygons(crop, (x, y))
        return out


def mask_polygons(crop: np.ndarray, origin_xy: tuple[int, int],
                  epsilon: float = POLYGON_EPSILON) -> list[list[list[int]]]:
    """Simplified outer contours of a cropped mask, in frame pixels, largest first.

    Args:
        crop: ``(h, w)`` bool mask.
        origin_xy: Frame pixel of the crop's top-left corner.
        epsilon: ``cv2.approxPolyDP`` tolerance, pixels.

    Returns:
        One ``[[x, y], ...]`` polygon (3 points or more) per separate part of the mask.
    """
    import cv2

    if crop.size == 0 or not crop.any():
        return []
    contours, _ = cv2.findContours(crop.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE,
                                   offset=(int(origin_xy[0]), int(origin_xy[1])))
    contours = sorted(contours, key=lambda c: -cv2.contourArea(c))
    polygons = []
    for contour in contours:
        points = cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)
        if len(points) < 3:
            points = contour.reshape(-1, 2)  # a thin sliver: keep it rather than lose the part
        polygons.append(points.astype(int).tolist())
    return polygons


def mask_rle(crop: np.ndarray, origin_xy: tuple[int, int], frame_wh: tuple[int, int]) -> dict[str, Any]:
    """COCO uncompressed RLE of a cropped mask placed in its frame.

    Only the crop's columns are expanded to the frame height, so the cost follows the
    box's width, not the frame's area.

    Args:
        crop: ``(h, w)`` bool mask.
        origin_xy: Frame pixel of the crop's top-left corner.
        frame_wh: Frame width and height.

    Returns:
        ``{"size": [height, width], "counts": [...]}``; runs alternate zeros and ones in
        column-major order, starting with zeros (a leading 0 when the first pixel is set).
    """
    width, height = frame_wh
    x, y = origin_xy
    h, w = crop.shape
    columns = np.zeros((w, height), bool)  # the crop's columns, full height, column-major rows
    columns[:, y : y + h] = crop.T
    flat = columns.reshape(-1)
    head, tail = x * height, (width - x - w) * height  # zeros before and after the crop's columns
    if flat.size == 0:
        return {"size": [int(height), int(width)], "counts": [int(width * height)]}
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).astype(np.int64)
    if flat[0]:
        counts = np.concatenate([[0], counts])  # COCO's first run counts zeros
    counts[0] += head
    if flat[-1]:
        counts = np.concatenate([counts, [tail]]) if tail else counts
    else:
        counts[-1] += tail
    return {"size": [int(height), int(width)], "counts": [int(c) for c in counts]}
