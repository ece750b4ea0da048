"""The pipeline's last stage: track, turn tracks into events, hand results and events to the sinks.

Runs on the pipeline's publish thread, in frame order::

    Detections -> tracker (track_ids) -> EventEngine (new/update/end, zone counts) -> sinks

What a stream publishes is its choice (``publish: [events, results]``): with ``events``
alone, only the sinks that draw (the live view, the video file, :func:`edgeinfer.stream`)
still get every frame; the rest get events and zone counts only.

Time: events need the time the picture shows. A live source's frames carry their capture
time; a file is read as fast as the model goes, so its frames are timed by their position
(``index / fps`` after the start), as if it played at its own speed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeinfer.errors import ConfigError
from edgeinfer.events import (
    ClipConfig,
    ClipRecorder,
    EventEngine,
    EventsConfig,
    LineConfig,
    ZoneConfig,
    ZoneSet,
    ZonesFile,
    load_zones,
)
from edgeinfer.results import Detections
from edgeinfer.sinks.base import make_envelope
from edgeinfer.sources.base import SourceInfo
from edgeinfer.tracking import make_tracker
from edgeinfer.types import Frame

__all__ = ["EventSetup", "Publisher"]

log = logging.getLogger("edgeinfer.pipeline")

Output = Literal["events", "results"]


class EventSetup(BaseModel):
    """A stream's zones, lines, event settings and clips, and what it publishes.

    ``zones`` and ``lines`` are named zones and lines; ``zones_file`` a YAML file holding more
    of both (``zones:`` and ``lines:``, what ``edgeinfer predict --zones`` takes).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    zones: dict[str, ZoneConfig] = {}
    zones_file: Path | None = None
    lines: dict[str, LineConfig] = {}
    events: EventsConfig = EventsConfig()
    clips: ClipConfig | None = Field(None, description=(
        "an MP4 clip per event, from pre_s before it starts to post_s after it ends"))
    publish: list[Output] = Field(["events"], min_length=1, description=(
        "what the sinks get: events and zone counts, per-frame results, or both (sinks that draw "
        "pictures, the live view and video files, always get every frame)"))
    journal: Path | None = Field(None, description=(
        "a file keeping the open events, so that a restart ends those a crash left open (reason interrupted)"))

    @model_validator(mode="after")
    def _unique_outputs(self) -> EventSetup:
        if len(set(self.publish)) != len(self.publish):
            raise ValueError(f"publish lists an output twice: {self.publish}")
        return self

    def all_zones(self, labels: Sequence[str] | None = None, where: str = "zones") -> ZonesFile:
        """The zones and lines as one validated :class:`~edgeinfer.events.ZonesFile`.

        Args:
            labels: The model's labels; a zone's or line's unknown label is then an error.
            where: The config key, for messages.

        Raises:
            ConfigError: an unreadable or invalid zones file, a name used twice, an unknown label.
        """
        base = ZonesFile() if self.zones_file is None else load_zones(self.zones_file)
        if self.zones or self.lines:
            both = sorted((set(base.zones) | set(base.lines)) & (set(self.zones) | set(self.lines)))
            if both:
                raise ConfigError(f"{where}: {both[0]!r} is in the zones file and in zones:/lines:; keep one")
            try:
                base = ZonesFile(zones={**base.zones, **self.zones}, lines={**base.lines, **self.lines})
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from exc
        if labels is not None:
            check_labels(base, labels, where)
        return base


def check_labels(zones: ZonesFile, labels: Sequence[str], where: str) -> None:
    """Every label a zone or line counts is one of the model's.

    Raises:
        ConfigError: naming the key (``zones.door.labels``), the label and the model's labels.
    """
    known = set(labels)
    for kind, items in (("zones", zones.zones), ("lines", zones.lines)):
        for name, item in items.items():
            unknown = [label for label in item.labels or () if label not in known]
            if unknown:
                raise ConfigError(f"{where}: {kind}.{name}.labels: unknown label {unknown[0]!r}; the model's "
                                  f"labels are: {', '.join(labels)}")


def as_setup(events: EventSetup | EventsConfig | Mapping[str, Any] | bool | None) -> EventSetup | None:
    """What ``Pipeline(events=...)`` takes, as an :class:`EventSetup` (``None``: no events)."""
    if events is None or events is False:
        return None
    if events is True:
        return EventSetup()
    if isinstance(events, EventsConfig):
        return EventSetup(events=events)
    if isinstance(events, Mapping):
        return EventSetup.model_validate(events)
    return events


class Publisher:
    """Track, make events and send to the sinks, one frame at a time, on one thread.

    Args:
        sinks: The stream's sinks.
        device_id: The device's name.
        stream: The stream's name.
        model: The model's name.
        source: The source's info (size for the zones, live or file for the clock).
        tracker: What :func:`edgeinfer.tracking.make_tracker` takes; ByteTrack when events are on.
        events: The events setup; ``None`` publishes results only.
        labels: The model's labels, to check the zones' labels against.

    Raises:
        ConfigError: the events need a tracker, or the zones do not fit the model or the frame.
    """

    def __init__(self, sinks: Sequence[Any], *, device_id: str, stream: str, model: str, source: SourceInfo,
                 tracker: Any = None, events: EventSetup | None = None,
                 labels: Sequence[str] | None = None) -> None:
        self.sinks = list(sinks)
        self.device_id, self.stream, self.model = device_id, stream, model
        self.setup = events
        if events is not None and tracker is None:
            tracker = "bytetrack"
        self.tracker = make_tracker(tracker)
        if events is not None and self.tracker is None:
            raise ConfigError(f"stream {stream}: events follow tracks, but tracker is none; "
                              "use tracker: bytetrack (or iou)")
        self.results = events is None or "results" in events.publish
        self._media_fps = 0.0 if source.live else source.fps
        self._t0: float | None = None
        self._last_t = 0.0
        self.engine: EventEngine | None = None
        self.clips: ClipRecorder | None = None
        if events is not None:
            zones_file = events.all_zones(labels, f"stream {stream}")
            zones: ZonesFile | ZoneSet = zones_file
            if source.width and source.height:  # points outside the frame fail now, not at the first frame
                zones = ZoneSet(zones_file, (source.width, source.height), labels=labels)
            if events.clips is not None:
                self.clips = ClipRecorder(events.clips, stream=stream, source_fps=source.fps or None)
            self.engine = EventEngine(events.events, device_id=device_id, stream=stream, model=model,
                                      zones=zones, journal=events.journal, clips=self.clips,
                                      autosave=False)

    @property
    def origin(self) -> float | None:
        """The clock at frame 0 (``None`` before the first frame)."""
        return self._t0

    def clock(self, frame: Frame) -> float:
        """The time the frame shows: its capture time, or for a file its position from the start."""
        if self._t0 is None:
            self._t0 = frame.timestamp - (frame.index / self._media_fps if self._media_fps > 0 else 0.0)
        if self._media_fps > 0:
            return self._t0 + frame.index / self._media_fps
        return frame.timestamp

    def start(self) -> None:
        """End the events a killed process left open (reason ``interrupted``), before any new one."""
        if self.engine is not None:
            self._send_events(self.engine.recover(), {})

    def publish(self, frame: Frame, result: Any, latency_ms: float) -> Any:
        """Track, update the events, and send. Returns the (tracked) result."""
        t = self._last_t = self.clock(frame)
        if self.tracker is not None and isinstance(result, Detections):
            result = self.tracker.update(result, t)
        output = None
        if self.engine is not None and isinstance(result, Detections):
            output = self.engine.update(frame.image, t, result)
        envelope = make_envelope(device_id=self.device_id, stream=self.stream, frame_index=frame.index,
                                 result=result, model=self.model, latency_ms=latency_ms,
                                 timestamp=frame.timestamp)
        for sink in self.sinks:
            if self.results or getattr(sink, "draws", False):
                sink.send(envelope, frame=frame.image, result=result)
        if output is not None:
            self._send_events(output.events, output.counts)
        return result

    def idle(self) -> None:
        """No frame came for a while (a camera dropped): end the tracks lost for ``max_lost_s``.

        A file's clock stands still while no frame comes, so nothing is lost then.
        """
        if self.engine is not None and self._media_fps <= 0 and self._t0 is not None:
            self._send_events(self.engine.expire(time.time()), {})

    def finish(self, reason: str) -> None:
        """End every open event (``source_ended`` or ``stopped``), send the last counts, finish the clips."""
        if self.engine is None:
            return
        t = self._last_t if self._media_fps > 0 else max(time.time(), self._last_t)
        try:
            self._send_events(self.engine.finish(t, reason), self.engine.counts())
        finally:
            if self.clips is not None:
                self.clips.close()

    def _send_events(self, events: list[dict[str, Any]], counts: dict[str, dict[str, Any]]) -> None:
        engine = self.engine
        ends = [e for e in events if e["type"] == "end"]
        if engine is not None and (ends or any(e["type"] == "new" for e in events)):
            # Journal first: a kill while sending then repeats an end at the next start, never loses one.
            engine.save_journal(force=True, pending=ends)
        for sink in self.sinks:
            send_event = getattr(sink, "send_event", None)
            if send_event is not None:
                for event in events:
                    send_event(event)
            send_counts = getattr(sink, "send_counts", None)
            if send_counts is not None:
                for name, message in counts.items():
                    send_counts(self.stream, name, message)
        if engine is not None:
            engine.save_journal(force=bool(ends))  # the sinks took the ends: out of the journal
        for event in events:
            log.debug("%s: event %s %s %s", self.stream, event["type"], event["label"], event["event_id"])
