"""OpenCV ``VideoCapture`` shared by the camera, file, stream and GStreamer readers.

Imported only by those implementations, so ``import edgeinfer`` never imports cv2.
"""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

from edgeinfer.errors import SourceError

__all__ = ["OpenCVReader", "has_gstreamer"]

log = logging.getLogger("edgeinfer.sources")


def has_gstreamer() -> bool:
    """True when this OpenCV build was compiled with GStreamer (``getBuildInformation``)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return "YES" in line.split(":", 1)[1].upper()
    return False


class OpenCVReader:
    """A :class:`~edgeinfer.sources.base.FrameReader` over ``cv2.VideoCapture``.

    Args:
        target: Device index, path, URL or GStreamer pipeline.
        api: ``cv2.CAP_*`` backend preference.
        live: Whether a failed read is a drop (camera, stream) rather than the end (file).
        description: Name used in messages.
        width: Requested frame width, pixels (applied with ``cap.set`` where supported).
        height: Requested frame height, pixels.
        fps: Requested frame rate.
    """

    def __init__(self, target: int | str, api: int, *, live: bool, description: str,
                 width: int | None = None, height: int | None = None, fps: float | None = None) -> None:
        self.target = target
        self.api = api
        self.live = live
        self.ended = False
        self.description = description
        self.requested = (width, height, fps)
        self._cap: Any = None

    def open(self) -> None:
        """Open the capture and apply the requested size and rate.

        Raises:
            SourceError: OpenCV could not open it (the message is :meth:`open_error`).
        """
        self.close()
        try:
            cap = cv2.VideoCapture(self.target, self.api)
        except cv2.error as exc:
            raise SourceError(f"{self.open_error()} (OpenCV: {exc})") from exc
        if not cap.isOpened():
            cap.release()
            raise SourceError(self.open_error())
        self._cap = cap
        self._apply_requested()

    def open_error(self) -> str:
        """The message for a failed open; implementations override it with what to check."""
        return f"Cannot open {self.description}"

    def _apply_requested(self) -> None:
        width, height, fps = self.requested
        props = ((cv2.CAP_PROP_FRAME_WIDTH, width), (cv2.CAP_PROP_FRAME_HEIGHT, height),
                 (cv2.CAP_PROP_FPS, fps))
        for prop, value in props:
            if value is not None:
                self._cap.set(prop, float(value))
        if any(v is not None for v in self.requested):
            actual = self.size_fps()[:3]
            if any(req is not None and abs(float(req) - float(act)) > 0.5
                   for req, act in zip(self.requested, actual, strict=True)):
                log.warning("%s: asked for %s x %s @ %s fps, the device delivers %d x %d @ %.1f fps",
                            self.description, width, height, fps, *actual)

    def read(self) -> np.ndarray | None:
        """Return the next BGR image, or ``None`` when the read failed or the file ended."""
        if self._cap is None:
            return None
        try:
            ok, image = self._cap.read()
        except cv2.error as exc:
            # A device that vanished mid-read: report a drop, the source reconnects.
            log.warning("%s: read failed: %s", self.description, exc)
            return None
        if not ok or image is None:
            return None
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return np.asarray(image)

    def close(self) -> None:
        """Release the capture. Idempotent."""
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def size_fps(self) -> tuple[int, int, float, int | None]:
        """Actual ``(width, height, fps, frame_count)`` reported by OpenCV."""
        if self._cap is None:
            return 0, 0, 0.0, None
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        return width, height, fps, (count if count > 0 else None)
