"""Live sink: keeps each stream's latest frame and result, for the live web view.

It also keeps the recent events (``GET /v1/events``) and each zone's and line's latest
counts, which carry their geometry: the page's frames show the zones, lines and track ids.
It stores references only; a JPEG is drawn and encoded when a viewer asks for it, so a
daemon nobody watches pays nothing. ``edgeinfer run`` adds a ``{type: live}`` sink when
the config has an ``http:`` section and serves it as the page's
:class:`~edgeinfer.serve.app.LiveView`.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.errors import SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig, SinkContext

__all__ = ["LiveFrames", "LiveSinkConfig"]

StatsProvider = Callable[[], dict[str, dict[str, Any]]]

RECENT_EVENTS = 200
EVENT_FILES = ("frame", "crop", "clip")  # the files an event may point to, by the names of its links


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
    draws: ClassVar[bool] = True  # gets every frame, also when a stream publishes only events

    def __init__(self, stats_provider: StatsProvider | None = None, *, jpeg_quality: int = 80,
                 recent_events: int = RECENT_EVENTS) -> None:
        super().__init__()
        self._latest: dict[str, tuple[int, np.ndarray, Any]] = {}
        # event_id -> its latest message; the oldest event is forgotten first
        self._events: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self._recent = recent_events
        self._regions: dict[str, dict[str, dict[str, Any]]] = {}  # stream -> name -> counts
        self._version = 0  # bumped by counts, so a cached JPEG is redrawn
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

    def send_event(self, event: dict[str, Any]) -> None:
        """Keep an event's latest message (``new``, then ``update``s, then ``end``) for ``recent_events``."""
        event_id = str(event.get("event_id", ""))
        with self._lock:
            self._events.pop(event_id, None)
            self._events[event_id] = event
            while len(self._events) > self._recent:
                self._events.popitem(last=False)

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """Keep a zone's or line's latest counts (and geometry), drawn on the stream's frames."""
        with self._lock:
            self._regions.setdefault(stream, {})[name] = counts
            self._version += 1

    def recent_events(self, stream: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest message of the most recent events, newest first (of one stream, or all)."""
        with self._lock:
            events = list(self._events.values())
        chosen = [e for e in reversed(events) if stream is None or e.get("stream") == stream]
        return chosen[:limit]

    def regions(self, stream: str) -> list[dict[str, Any]]:
        """The latest counts of each zone and line of ``stream``."""
        with self._lock:
            return list(self._regions.get(stream, {}).values())

    def event_file(self, event_id: str, what: str) -> Path | None:
        """The snapshot (``frame``, ``crop``) or ``clip`` file an event names; None when it has none.

        Only paths that a received event names are ever returned, so a request cannot reach
        another file.
        """
        with self._lock:
            event = self._events.get(event_id)
        if event is None or what not in EVENT_FILES:
            return None
        path = event.get("clip") if what == "clip" else (event.get("snapshot") or {}).get(what)
        return Path(path) if path else None

    def close(self) -> None:
        """Forget the frames; further sends raise."""
        self._closed = True
        with self._lock:
            self._latest.clear()
            self._encoded.clear()
            self._events.clear()
            self._regions.clear()

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
            version = self._version
            regions = list(self._regions.get(name, {}).values())
        if item is None:
            return None
        index, frame, result = item
        key = index * 1_000_003 + version
        if cached is not None and cached[0] == key:
            return cached[1]
        import cv2

        from edgeinfer.annotate import draw
        from edgeinfer.overlay import draw_regions

        image = draw_regions(frame, regions) if regions else frame
        image = draw(image, result) if result is not None else image
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            return None
        jpeg = data.tobytes()
        with self._lock:
            self._encoded[name] = (key, jpeg)
        return jpeg
