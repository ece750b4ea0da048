"""EventEngine: tracked detections in, ``new`` / ``update`` / ``end`` events and zone counts out.

Runs per stream after the tracker, in frame order (see docs/ARCHITECTURE.md). Per frame the
work on all tracks is done on arrays (:mod:`edgeinfer.events.track_state`,
:mod:`edgeinfer.events.counting`); Python code runs only for tracks whose state changes.
A track's label is the class it was detected as most often, ties going to the class of its
best-scoring detection. Its path holds its ``bottom_center`` points.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.events.counting import ZoneCounter
from edgeinfer.events.journal import Journal
from edgeinfer.events.snapshots import SnapshotConfig, SnapshotWriter
from edgeinfer.events.track_state import Candidate, TrackTable
from edgeinfer.events.zones import ZoneSet, ZonesFile
from edgeinfer.results import Detections

__all__ = ["ClipRecording", "EngineOutput", "EventEngine", "EventsConfig"]

log = logging.getLogger(__name__)
JOURNAL_INTERVAL_S = 1.0
T_DEC, SCORE_DEC, BOX_DEC = 3, 4, 1


class EventsConfig(BaseModel):
    """When tracks become events, and what the events carry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_frames: int = Field(3, ge=1)
    update_interval_s: float = Field(5.0, ge=0.0)
    max_lost_s: float = Field(2.0, ge=0.0)
    labels: list[str] | None = None
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    min_area: float = Field(0.0, ge=0.0, le=1.0)
    required_zones: list[str] = []
    path_points: int = Field(32, ge=2)
    snapshots: SnapshotConfig | None = SnapshotConfig()


class ClipRecording(Protocol):
    """What the engine needs of a clip recorder (``edgeinfer.events.clips.ClipRecorder``)."""

    def add_frame(self, image: np.ndarray, timestamp: float) -> None:
        """Buffer one frame."""

    def start(self, event_id: str, timestamp: float) -> Path:
        """Start a clip; return its final path."""

    def stop(self, event_id: str, timestamp: float) -> None:
        """Stop a clip after its post-roll."""


@dataclass(frozen=True)
class EngineOutput:
    """One frame's output: the event messages, and the counts of the zones/lines that changed."""

    events: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)


class EventEngine:
    """Turns one stream's tracked detections into events and zone/line counts.

    Args:
        config: The events settings.
        device_id: The device's id (in every message).
        stream: The stream's name.
        model: The model's name.
        zones: Zones and lines; a ``ZonesFile`` is bound to the first frame's size.
        journal: A JSON file keeping the open events, for :meth:`recover` after a kill.
        clips: A clip recorder, told about every frame and every event's start and end.
        autosave: Write the journal inside :meth:`update`, :meth:`finish` and :meth:`recover`.
            ``False``: the caller calls :meth:`save_journal` once the messages are delivered (or
            queued on disk), so a kill in between never loses an ``end``.
    """

    def __init__(self, config: EventsConfig, *, device_id: str, stream: str, model: str = "",
                 zones: ZoneSet | ZonesFile | None = None, journal: Path | None = None,
                 clips: ClipRecording | None = None, autosave: bool = True) -> None:
        self.config, self.device_id, self.stream, self.model = config, device_id, stream, model
        self._autosave, self._journal_due = autosave, False
        self._zones_file = zones.zones_file if isinstance(zones, ZoneSet) else (zones or ZonesFile())
        self._zones: ZoneSet | None = zones if isinstance(zones, ZoneSet) else None
        self._clips = clips
        self._snapshots = None if config.snapshots is None else SnapshotWriter(config.snapshots, stream=stream)
        self._tracks = TrackTable(config.path_points)
        self._counter: ZoneCounter | None = None
        self._label_of: dict[int, str] = {}
        self._class_ok = np.zeros(0, bool)
        self._zone_ok = np.zeros((0, 0), bool)
        self._line_ok = np.zeros((0, 0), bool)
        self._journal = None if journal is None else Journal(journal)
        self._orphans = [] if self._journal is None else self._journal.read()
        self._journal_at = 0.0
        self._required: np.ndarray = np.zeros(0, np.intp)
        self._announced = False  # the counts of every zone/line went out (with their geometry)
        self._pending_counts: set[str] = set()  # changed between frames (expire, finish), sent with the next
        if self._zones is not None:
            self._bind(self._zones)

    def _bind(self, zones: ZoneSet) -> None:
        names = zones.zone_names
        for i, name in enumerate(self.config.required_zones):
            if name not in names:
                raise ConfigError(f"events.required_zones[{i}]: unknown zone {name!r}; the zones are: "
                                  f"{', '.join(names) or '(none)'}")
        self._zones = zones
        self._required = np.array([names.index(n) for n in self.config.required_zones], np.intp)
        if self._counter is None:
            self._counter = ZoneCounter(names, zones.line_names, zones.lines_px, stream=self.stream,
                                        capacity=self._tracks.capacity)
        self._counter.set_geometry(zones.polygons_px, zones.lines_px)
        self._announced = False  # new geometry: send every zone's and line's counts again
        self._class_ok = np.zeros(0, bool)  # rebuilt for the new zones
        self._zone_ok = np.zeros((0, len(names)), bool)
        self._line_ok = np.zeros((0, len(zones.line_names)), bool)

    def _zone_set(self, image: np.ndarray) -> ZoneSet:
        size = (int(image.shape[1]), int(image.shape[0]))
        if self._zones is None:
            self._bind(ZoneSet(self._zones_file, size))
        elif self._zones.size_wh != size:
            log.warning("stream %s: frames are now %dx%d (zones were bound to %dx%d); rebinding the zones",
                        self.stream, *size, *self._zones.size_wh)
            self._bind(self._zones.rebind(size))
        assert self._zones is not None
        return self._zones

    def _learn_classes(self, class_ids: np.ndarray, labels: tuple[str, ...], zones: ZoneSet) -> None:
        """Extend the per-class lookup tables for class ids seen for the first time."""
        top = int(class_ids.max()) + 1 if len(class_ids) else 0
        if top <= len(self._class_ok) and all(int(c) in self._label_of for c in np.unique(class_ids)):
            return
        for cid, label in zip(class_ids.tolist(), labels, strict=True):
            self._label_of.setdefault(int(cid), label)
        size = max(top, len(self._class_ok))
        self._tracks.widen_votes(size)
        wanted = self.config.labels
        names = [self._label_of.get(c, str(c)) for c in range(size)]
        self._class_ok = np.array([wanted is None or n in wanted for n in names], bool)
        allowed = [zones.allows(n) for n in names]
        self._zone_ok = np.array([a[0] for a in allowed], bool).reshape(size, len(zones.zone_names))
        self._line_ok = np.array([a[1] for a in allowed], bool).reshape(size, len(zones.line_names))

    def update(self, image: np.ndarray, timestamp: float, detections: Detections) -> EngineOutput:
        """Take one frame's tracked detections; return the events and changed counts.

        Args:
            image: ``(H, W, 3)`` uint8 BGR frame (kept by reference for snapshots).
            timestamp: The frame's time in seconds.
            detections: The tracker's output, with ``track_ids``.

        Returns:
            The frame's :class:`EngineOutput`.

        Raises:
            InputError: the detections carry no track ids.
        """
        if detections.track_ids is None:
            raise InputError("EventEngine needs tracked detections (track_ids is None); configure a tracker "
                             "for this stream (tracker: bytetrack)")
        t = float(timestamp)
        if self._clips is not None:
            self._clips.add_frame(image, t)
        zones = self._zone_set(image)
        counter = self._counter
        assert counter is not None
        slots = self._slots(np.asarray(detections.track_ids, np.int64), t, counter)
        class_ids = np.asarray(detections.class_ids, np.int64)
        self._learn_classes(class_ids, detections.labels, zones)
        boxes = np.asarray(detections.boxes_xyxy, np.float64).reshape(-1, 4)
        scores = np.asarray(detections.scores, np.float64)
        table = self._tracks
        anchors = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]], axis=1)
        for row in table.observe(slots, t, boxes, scores, class_ids=class_ids, anchors=anchors).tolist():
            table.info[int(slots[row])].candidate = Candidate(image, boxes[row].copy(), float(scores[row]), t)
        w, h = zones.size_wh
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        table.passing[slots] += self._class_ok[class_ids] & (area >= self.config.min_area * w * h)
        best = table.best_score[slots][:, None]
        zone_ok = self._zone_ok[class_ids] & (best >= zones.zone_min_scores)
        line_ok = self._line_ok[class_ids] & (best >= zones.line_min_scores)
        hits = zones.locate(boxes)
        transitions = counter.update(slots, hits, zone_ok, line_ok, zones.hysteresis_px)
        changed_names: set[str] = set()
        changed_slots: set[int] = set()
        for row in transitions.changed_rows().tolist():
            slot = int(slots[row])
            changed_names.update(counter.apply(slot, row, transitions, detections.labels[row], t))
            changed_slots.add(slot)
            for li in np.flatnonzero(transitions.crossed[row]).tolist():
                direction = "in" if transitions.crossed[row, li] > 0 else "out"
                table.info[slot].crossings.append(
                    {"line": zones.line_names[li], "direction": direction, "timestamp": round(t, T_DEC)})
        events = self._emit(slots, t, changed_slots, counter)
        events.extend(self._expire(t, counter, changed_names))
        self._keep_journal(bool(events and any(e["type"] != "update" for e in events)))
        changed_names |= self._pending_counts
        self._pending_counts = set()
        if not self._announced:
            self._announced = True
            return EngineOutput(events, self.counts())
        return EngineOutput(events, {name: counter.message(name) for name in sorted(changed_names)})

    def expire(self, timestamp: float) -> list[dict[str, Any]]:
        """End (reason ``lost``) the events whose track was last seen more than ``max_lost_s`` before ``timestamp``.

        For a source that gives no frames (a camera that dropped); :meth:`update` does the same every frame.
        The zones those tracks leave come in the ``counts`` of the next :meth:`update`, and in :meth:`counts`.

        Args:
            timestamp: The time now, on the frames' clock, in seconds.

        Returns:
            The ``end`` messages.
        """
        counter = self._counter
        if counter is None:
            return []
        events = self._expire(float(timestamp), counter, self._pending_counts)
        self._keep_journal(bool(events))
        return events

    def _slots(self, track_ids: np.ndarray, t: float, counter: ZoneCounter) -> np.ndarray:
        slots = self._tracks.lookup(track_ids)
        for row in np.flatnonzero(slots < 0).tolist():
            slots[row] = self._tracks.allocate(int(track_ids[row]), t)
            counter.grow(self._tracks.capacity)
            counter.reset(int(slots[row]))
        return slots.astype(np.intp)

    def _emit(self, slots: np.ndarray, t: float, changed: set[int], counter: ZoneCounter) -> list[dict[str, Any]]:
        table, cfg = self._tracks, self.config
        ready = ~table.has_event[slots] & (table.passing[slots] >= cfg.min_frames)
        ready &= table.best_score[slots] >= cfg.min_score
        if len(self._required):
            ready &= counter.ever[slots][:, self._required].any(axis=1)
        events = [self._start(int(s), t, counter) for s in slots[ready].tolist()]
        started = set(slots[ready].tolist())
        for slot in slots[table.has_event[slots]].tolist():
            info = table.info[slot]
            if slot not in started and (slot in changed or t - info.last_message_t >= cfg.update_interval_s):
                info.last_message_t = t
                events.append(self._message(slot, "update", t, counter))
        return events

    def _start(self, slot: int, t: float, counter: ZoneCounter) -> dict[str, Any]:
        table = self._tracks
        info = table.info[slot]
        table.has_event[slot] = True
        first = table.first_seen[slot]
        info.event_id = f"{self.stream}-{int(first)}-{int(table.track_id[slot])}-{secrets.token_hex(2)}"
        info.last_message_t = t
        self._write_snapshot(slot)
        if self._clips is not None:
            try:
                info.clip = str(self._clips.start(info.event_id, t))
            except OSError as exc:
                log.warning("event %s: clip not started (%s)", info.event_id, exc)
        return self._message(slot, "new", t, counter)

    def _write_snapshot(self, slot: int) -> None:
        info = self._tracks.info[slot]
        cand = info.candidate
        if self._snapshots is None or cand is None or info.event_id is None or cand.score <= info.snapshot_score:
            return
        info.snapshot = self._snapshots.write(info.event_id, cand.image, cand.box_xyxy, cand.score, cand.timestamp)
        info.snapshot_score = cand.score
        info.candidate = None  # let the frame go; a better one comes back as a new candidate

    def _end(self, slot: int, t: float, reason: str, counter: ZoneCounter) -> dict[str, Any] | None:
        table = self._tracks
        message = None
        if table.has_event[slot]:
            info = table.info[slot]
            self._write_snapshot(slot)
            if self._clips is not None and info.event_id is not None:
                self._clips.stop(info.event_id, t)
            message = self._message(slot, "end", t, counter, end_reason=reason)
        return message

    def _expire(self, t: float, counter: ZoneCounter, changed_names: set[str]) -> list[dict[str, Any]]:
        table = self._tracks
        live = table.active_slots()
        events = []
        for slot in live[t - table.last_seen[live] > self.config.max_lost_s].tolist():
            message = self._end(slot, t, "lost", counter)
            if message is not None:
                events.append(message)
            changed_names.update(counter.release(slot, t))
            table.free(slot)
        return events

    def _message(self, slot: int, kind: str, t: float, counter: ZoneCounter,
                 end_reason: str | None = None) -> dict[str, Any]:
        table = self._tracks
        info = table.info[slot]
        cid = table.label_class(slot)
        first, last = float(table.first_seen[slot]), float(table.last_seen[slot])
        now, ever = counter.zones_of(slot)
        return {
            "kind": "event", "type": kind, "event_id": info.event_id, "device_id": self.device_id,
            "stream": self.stream, "model": self.model, "timestamp": round(t, T_DEC),
            "track_id": int(table.track_id[slot]), "label": self._label_of.get(cid, str(cid)), "class_id": cid,
            "score": round(float(table.best_score[slot]), SCORE_DEC),
            "box_xyxy": [round(v, BOX_DEC) for v in table.box[slot].tolist()],
            "first_seen": round(first, T_DEC), "last_seen": round(last, T_DEC), "dwell_s": round(last - first, T_DEC),
            "zones": now, "entered_zones": ever, "crossings": list(info.crossings),
            "path": table.path_of(slot, T_DEC), "snapshot": info.snapshot, "clip": info.clip,
            "end_reason": end_reason,
        }

    def counts(self) -> dict[str, dict[str, Any]]:
        """The counts messages of every zone and line."""
        if self._counter is None:
            return {}
        return {name: self._counter.message(name) for name in (*self._counter.zone_names, *self._counter.line_names)}

    def finish(self, timestamp: float, reason: str = "source_ended") -> list[dict[str, Any]]:
        """End every open event (``reason``: ``source_ended`` or ``stopped``); tracks leave their zones."""
        events = []
        counter = self._counter
        if counter is not None:
            for slot in self._tracks.active_slots().tolist():
                message = self._end(slot, float(timestamp), reason, counter)
                if message is not None:
                    events.append(message)
                self._pending_counts.update(counter.release(slot, float(timestamp)))
                self._tracks.free(slot)
        self._keep_journal(True)
        return events

    def recover(self) -> list[dict[str, Any]]:
        """``end`` messages (reason ``interrupted``) for the events a killed process left open in the journal.

        An ``end`` the killed process made but had not handed to its sinks goes out as it was.
        """
        ended = []
        for event in self._orphans:
            if event.get("type") == "end":
                ended.append(event)
                continue
            ended.append({**event, "type": "end", "end_reason": "interrupted",
                          "timestamp": event.get("last_seen", event.get("timestamp"))})
        self._orphans = []
        self._keep_journal(True)
        return ended

    def _keep_journal(self, now: bool) -> None:
        self._journal_due = self._journal_due or now
        if self._autosave:
            self.save_journal()

    def save_journal(self, *, force: bool = False, pending: list[dict[str, Any]] | None = None) -> None:
        """Write the open events to the journal: at once after a ``new`` or ``end``, else at most every second.

        Args:
            force: Write now.
            pending: ``end`` messages not yet handed to the sinks, kept in the journal until they
                are (a kill in between sends them at the next start, rather than losing them).
        """
        if self._journal is None:
            return
        now, self._journal_due = force or self._journal_due, False
        clock = time.monotonic()
        open_slots = np.flatnonzero(self._tracks.has_event & (self._tracks.track_id >= 0)).tolist()
        if not now and (not open_slots or clock - self._journal_at < JOURNAL_INTERVAL_S):
            return
        self._journal_at = clock
        counter = self._counter
        current = [] if counter is None else [self._message(s, "update", float(self._tracks.last_seen[s]), counter)
                                               for s in open_slots]
        self._journal.write([*self._orphans, *current, *(pending or ())])
