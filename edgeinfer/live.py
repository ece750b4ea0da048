"""A sink that keeps each stream's latest frame and result, for the live web view.

It stores references only; a JPEG is drawn and encoded when a viewer asks for it, so a
daemon nobody watches pays nothing.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["LiveFrames"]


class LiveFrames:
    """Latest annotated frame per stream, and the streams' stats (the ``LiveView`` protocol)."""

    def __init__(self, stats_provider: Any = None, *, jpeg_quality: int = 80) -> None:
        self._latest: dict[str, tuple[int, np.ndarray, Any]] = {}
        self._encoded: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._stats_provider = stats_provider
        self._quality = jpeg_quality

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        if frame is None:
            return
        with self._lock:
            self._latest[envelope["stream"]] = (int(envelope["frame_index"]), frame, result)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        with self._lock:
            self._latest.clear()
            self._encoded.clear()

    def stats(self) -> dict[str, Any]:
        """Per-stream stats from the daemon (the sink's own counters are not interesting)."""
        return dict(self._stats_provider()) if self._stats_provider else {}

    def stream_names(self) -> list[str]:
        with self._lock:
            return sorted(self._latest)

    def latest_jpeg(self, name: str) -> bytes | None:
        """The newest frame of ``name`` with its result drawn on it, as JPEG bytes."""
        with self._lock:
            item = self._latest.get(name)
            cached = self._encoded.get(name)
        if item is None:
            return None
        index, frame, result = item
        if cached is not None and cached[0] == index:
            return cached[1]
        import cv2

        from edgeinfer.annotate import draw

        image = draw(frame, result) if result is not None else frame
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            return None
        jpeg = data.tobytes()
        with self._lock:
            self._encoded[name] = (index, jpeg)
        return jpeg
