"""Live sink: keeps each stream's latest frame and result, for the live web view.

It stores references only; a JPEG is drawn and encoded when a viewer asks for it, so a
daemon nobody watches pays nothing. ``edgeinfer run`` adds a ``{type: live}`` sink when
the config has an ``http:`` section and serves it as the page's
:class:`~edgeinfer.serve.app.LiveView`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.errors import SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig, SinkContext

__all__ = ["LiveFrames", "LiveSinkConfig"]

StatsProvider = Callable[[], dict[str, dict[str, Any]]]


class LiveSinkConfig(SinkConfig):
    """Keep the latest frame per stream for the ``http:`` page (added when ``http:`` is set)."""

    keep_on_reload: ClassVar[bool] = True  # the web server holds it

    type: Literal["live"] = "live"


class LiveFrames(BaseSink):
    """Latest annotated frame per stream, and the streams' stats (the ``LiveView`` protocol).

    Args:
        stats_provider: Returns the per-stream stats the page shows.
        jpeg_quality: JPEG quality of the frames served, 1..100.
    """

    Config: ClassVar[type[LiveSinkConfig]] = LiveSinkConfig

    def __init__(self, stats_provider: StatsProvider | None = None, *, jpeg_quality: int = 80) -> None:
        super().__init__()
        self._latest: dict[str, tuple[int, np.ndarray, Any]] = {}
        self._encoded: dict[str, tuple[int, bytes]] = {}
        self._lock = threading.Lock()
        self._stats_provider = stats_provider
        self._quality = jpeg_quality
        self._closed = False

    @classmethod
    def from_config(cls, config: LiveSinkConfig, context: SinkContext) -> LiveFrames:
        """The live sink showing the daemon's stream stats."""
        return cls(context.stream_stats)

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Keep ``frame`` and ``result`` as the stream's latest (an envelope without a frame is skipped).

        Raises:
            SinkError: the sink is closed.
        """
        if self._closed:
            raise SinkError("The live sink is closed")
        if frame is None:
            self._counters.add("skipped")
            return
        with self._lock:
            self._latest[envelope["stream"]] = (int(envelope["frame_index"]), frame, result)
        self._counters.add("sent")

    def close(self) -> None:
        """Forget the frames; further sends raise."""
        self._closed = True
        with self._lock:
            self._latest.clear()
            self._encoded.clear()

    def stream_stats(self) -> dict[str, Any]:
        """Per-stream stats from the daemon (the page's figures)."""
        return dict(self._stats_provider()) if self._stats_provider else {}

    def stream_names(self) -> list[str]:
        """Streams that have shown a frame, sorted; with a stats provider, only those it lists
        (the running streams: one removed by a reload is no longer shown)."""
        running = None if self._stats_provider is None else self._stats_provider()
        with self._lock:
            return sorted(n for n in self._latest if running is None or n in running)

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
