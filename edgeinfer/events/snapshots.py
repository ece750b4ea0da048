"""Event snapshots: the frame and the padded crop of a track's best detection, as JPEG files.

Written by :class:`~edgeinfer.events.engine.EventEngine` when an event starts (and again
when it ends, if a better detection came) to ``<dir>/<stream>/<event_id>-frame.jpg`` and
``-crop.jpg``. A file is written to a temporary name and renamed, so a reader never sees
half a JPEG; a failed write (full disk) is logged and the event goes out without that path.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgeinfer.images import import_cv2

__all__ = ["CROP_PADDING", "SnapshotConfig", "SnapshotWriter", "crop_box"]

log = logging.getLogger(__name__)
CROP_PADDING = 0.1  # of the box's width (left and right) and height (top and bottom)


class SnapshotConfig(BaseModel):
    """Where and how event snapshots are written."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dir: Path = Path("snapshots")
    crop: bool = True
    frame: bool = True
    quality: int = Field(85, ge=1, le=100)
    inline: bool = False  # the webhook sink adds the JPEGs as base64


def crop_box(box_xyxy: np.ndarray, size_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box padded by :data:`CROP_PADDING` on each side, widened to whole pixels and clipped.

    Args:
        box_xyxy: ``(4,)`` box in pixels.
        size_wh: The frame's ``(width, height)``.

    Returns:
        ``(x1, y1, x2, y2)`` integer pixel bounds (``x2``, ``y2`` exclusive).
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    pad_x, pad_y = CROP_PADDING * (x2 - x1), CROP_PADDING * (y2 - y1)
    w, h = size_wh
    return (max(0, math.floor(x1 - pad_x)), max(0, math.floor(y1 - pad_y)),
            min(w, math.ceil(x2 + pad_x)), min(h, math.ceil(y2 + pad_y)))


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class SnapshotWriter:
    """Writes the JPEG snapshots of one stream's events.

    Args:
        config: The snapshot settings.
        stream: The stream's name (a folder under ``config.dir``).
    """

    def __init__(self, config: SnapshotConfig, *, stream: str) -> None:
        self.config = config
        self.folder = config.dir / stream

    def write(self, event_id: str, image: np.ndarray, box_xyxy: np.ndarray, score: float,
              timestamp: float) -> dict[str, Any]:
        """Encode and write the frame and crop of one detection.

        Args:
            event_id: The event's id (the files' name).
            image: ``(H, W, 3)`` uint8 BGR frame.
            box_xyxy: ``(4,)`` the detection's box in pixels.
            score: The detection's score.
            timestamp: The frame's time in seconds.

        Returns:
            ``{"frame": path | None, "crop": path | None, "score", "timestamp"}``; a path is
            ``None`` when that image is turned off or could not be written.
        """
        out: dict[str, Any] = {"frame": None, "crop": None, "score": round(float(score), 4),
                               "timestamp": round(float(timestamp), 3)}
        if self.config.frame:
            out["frame"] = self._save(f"{event_id}-frame.jpg", image)
        if self.config.crop:
            x1, y1, x2, y2 = crop_box(box_xyxy, (image.shape[1], image.shape[0]))
            if x2 > x1 and y2 > y1:
                out["crop"] = self._save(f"{event_id}-crop.jpg", image[y1:y2, x1:x2])
        return out

    def _save(self, name: str, image: np.ndarray) -> str | None:
        cv2 = import_cv2("writing event snapshots")
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.quality])
        path = self.folder / name
        if not ok:
            log.warning("snapshot %s not written: the frame (shape %s) could not be encoded as JPEG",
                        path, image.shape)
            return None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, encoded.tobytes())
        except OSError as exc:
            log.warning("snapshot %s not written (%s); the event goes out without it", path,
                        exc.strerror or exc)
            return None
        return str(path)
