"""EventEngine on hand-made tracked detections over a synthetic 320x240 frame."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.events import EventEngine, EventsConfig, SnapshotConfig, parse_zones
from edgeinfer.events.schema import LineCounts, ZoneCounts, event_schema
from edgeinfer.events.snapshots import crop_box
from edgeinfer.results import Detections

W, H = 320, 240
LABELS = ("person", "car")
DOOR = [[100, 60], [220, 60], [220, 180], [100, 180]]
ZONES = parse_zones({"zones": {"door": {"polygon": DOOR}}, "lines": {"gate": {"points": [[0, 120], [320, 120]]}}})
FRAME = np.add.outer(np.arange(H), np.arange(W)).astype(np.uint8)[..., None].repeat(3, axis=2)
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "edgeinfer" / "events" / "event.schema.json"
DOCS_SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "event.schema.json"



def dets(*objs: tuple[Any, ...]) -> Detections:
    """Detections of ``(track_id, box[, score[, class_id]])`` tuples."""
    full = [(o[0], o[1], o[2] if len(o) > 2 else 0.9, o[3] if len(o) > 3 else 0) for o in objs]
    return Detections(np.array([o[1] for o in full], np.float32).reshape(-1, 4),
                      np.array([o[2] for o in full], np.float32), np.array([o[3] for o in full], np.int64),
                      tuple(LABELS[o[3]] for o in full), track_ids=np.array([o[0] for o in full], np.int64))


def at(cx: float, bottom: float, size: float = 20) -> tuple[float, float, float, float]:
    """A square box whose bottom center is ``(cx, bottom)``."""
    return (cx - size / 2, bottom - size, cx + size / 2, bottom)


def engine(**cfg: Any) -> EventEngine:
    cfg.setdefault("snapshots", None)
    return EventEngine(EventsConfig(**cfg), device_id="dev1", stream="cam", model="m", zones=ZONES)


def run(eng: EventEngine, frames: list[Detections], t0: float = 0.0, dt: float = 0.1,
        ) -> tuple[list[dict[str, Any]], list[dict[str, dict[str, Any]]]]:
    events, counts = [], []
    for i, d in enumerate(frames):
        out = eng.update(FRAME, t0 + i * dt, d)
        events.extend(out.events)
        counts.append(out.counts)
    return events, counts


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_zone_entered_and_left_once_each() -> None:
    eng = engine(min_frames=1)
    path = [dets((1, at(x, 100))) for x in range(20, 310, 10)]  # left to right through the door
    events, _ = run(eng, path[:15])
    assert events[-1]["zones"] == events[-1]["entered_zones"] == ["door"]
    assert eng.counts()["door"]["inside"] == 1
    assert eng.counts()["door"]["by_label"] == {"person": {"inside": 1, "entered": 1, "left": 0}}
    run(eng, path[15:], t0=1.5)
    door = eng.counts()["door"]
    assert (door["entered"], door["left"], door["inside"]) == (1, 1, 0)
    assert door["inside"] == door["entered"] - door["left"]
    assert eng.counts()["gate"]["in"] == eng.counts()["gate"]["out"] == 0


def test_line_crossed_in_each_direction_once() -> None:
    eng = engine(min_frames=1)
    down = [dets((1, at(40, y))) for y in range(60, 200, 10)]
    events, _ = run(eng, down)
    crossings = events[-1]["crossings"]
    assert [c["direction"] for c in crossings] == ["in"]
    assert crossings[0]["line"] == "gate"
    up = [dets((2, at(40, y))) for y in range(200, 60, -10)]
    events, _ = run(eng, up, t0=2.0)
    assert [c["direction"] for c in events[-1]["crossings"]] == ["out"]
    gate = eng.counts()["gate"]
    assert (gate["in"], gate["out"]) == (1, 1)
    assert gate["by_label"] == {"person": {"in": 1, "out": 1}}


def test_jitter_on_the_line_is_not_double_counted() -> None:
    eng = engine(min_frames=1)
    frames = [dets((1, at(40, y))) for y in (100, 110, 119, 121, 119, 121, 119, 121, 130, 121, 119, 121, 119)]
    events, _ = run(eng, frames)
    gate = eng.counts()["gate"]
    assert (gate["in"], gate["out"]) == (1, 0)
    assert len(events[-1]["crossings"]) == 1


def test_one_frame_detection_makes_no_event() -> None:
    eng = engine(min_frames=3, max_lost_s=0.5)
    events, _ = run(eng, [dets((7, at(40, 100))), dets(), dets(), dets()])
    assert events == []
    assert eng.expire(5.0) == []
    assert eng.finish(6.0) == []


def test_new_only_after_min_frames() -> None:
    eng = engine(min_frames=3)
    per_frame = [eng.update(FRAME, i * 0.1, dets((1, at(40, 100)))).events for i in range(4)]
    assert [types(e) for e in per_frame] == [[], [], ["new"], []]
    new = per_frame[2][0]
    assert (new["track_id"], new["label"], new["class_id"], new["device_id"], new["stream"]) == (1, "person", 0,
                                                                                                 "dev1", "cam")
    assert new["first_seen"] == 0.0 and new["end_reason"] is None


def test_update_rate_limited_but_immediate_on_zone_change() -> None:
    eng = engine(min_frames=1, update_interval_s=5.0, max_lost_s=100.0)
    still = [dets((1, at(40, 100))) for _ in range(20)]  # 2 s outside every zone
    events, _ = run(eng, still)
    assert types(events) == ["new"]
    out = eng.update(FRAME, 2.0, dets((1, at(160, 100))))  # steps into the door
    assert types(out.events) == ["update"] and out.events[0]["zones"] == ["door"]
    assert out.counts["door"]["inside"] == 1
    events, _ = run(eng, [dets((1, at(160, 100))) for _ in range(49)], t0=2.1)
    assert types(events) == []  # within 5 s of the last update
    assert types(eng.update(FRAME, 7.05, dets((1, at(160, 100)))).events) == ["update"]


def test_end_after_max_lost_via_update() -> None:
    eng = engine(min_frames=1, max_lost_s=1.0)
    run(eng, [dets((1, at(160, 100))) for _ in range(5)])  # last seen at 0.4
    assert eng.update(FRAME, 1.3, dets()).events == []
    out = eng.update(FRAME, 1.5, dets())
    assert types(out.events) == ["end"] and out.events[0]["end_reason"] == "lost"
    assert out.events[0]["last_seen"] == 0.4 and out.events[0]["dwell_s"] == 0.4
    assert out.counts["door"]["inside"] == 0 and out.counts["door"]["left"] == 1


def test_end_after_max_lost_via_expire() -> None:
    eng = engine(min_frames=1, max_lost_s=1.0)
    run(eng, [dets((1, at(160, 100))) for _ in range(5)])
    assert eng.expire(1.3) == []
    ended = eng.expire(1.5)
    assert types(ended) == ["end"] and ended[0]["end_reason"] == "lost" and ended[0]["timestamp"] == 1.5
    assert eng.expire(3.0) == []
    assert eng.counts()["door"]["inside"] == 0
    out = eng.update(FRAME, 3.1, dets())
    assert out.events == [] and out.counts["door"]["left"] == 1  # the zone change goes out with the next frame


def test_finish_ends_all_open_events() -> None:
    eng = engine(min_frames=1)
    events, _ = run(eng, [dets((1, at(40, 100)), (2, at(160, 100)), (3, at(260, 200))) for _ in range(3)])
    ended = eng.finish(1.0)
    assert sorted(e["track_id"] for e in ended) == [1, 2, 3]
    assert {e["end_reason"] for e in ended} == {"source_ended"} and set(types(ended)) == {"end"}
    assert {e["event_id"] for e in ended} == {e["event_id"] for e in events if e["type"] == "new"}
    assert eng.finish(2.0, reason="stopped") == []


def test_filter_labels() -> None:
    eng = engine(min_frames=1, labels=["person"])
    events, _ = run(eng, [dets((1, at(40, 100), 0.9, 1), (2, at(160, 100), 0.9, 0)) for _ in range(3)])
    assert {e["track_id"] for e in events} == {2}


def test_filter_min_score() -> None:
    eng = engine(min_frames=1, min_score=0.5)
    events, _ = run(eng, [dets((1, at(40, 100), 0.3), (2, at(160, 100), 0.7)) for _ in range(3)])
    assert {e["track_id"] for e in events} == {2}


def test_filter_min_area() -> None:
    eng = engine(min_frames=1, min_area=0.05)  # 3840 px^2 of 320x240
    events, _ = run(eng, [dets((1, at(40, 100, 20)), (2, at(160, 100, 80))) for _ in range(3)])
    assert {e["track_id"] for e in events} == {2}


def test_filter_required_zones() -> None:
    eng = engine(min_frames=1, required_zones=["door"])
    events, _ = run(eng, [dets((1, at(40, 100)), (2, at(160, 100))) for _ in range(3)])
    assert {e["track_id"] for e in events} == {2}
    with pytest.raises(ConfigError, match=r"events\.required_zones\[0\].*'hall'.*door"):
        engine(required_zones=["hall"]).update(FRAME, 0.0, dets())


def test_untracked_detections_are_refused() -> None:
    plain = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), ())
    with pytest.raises(InputError, match="tracker"):
        engine().update(FRAME, 0.0, plain)


def test_snapshots_written_and_readable(tmp_path: Path) -> None:
    import cv2

    eng = engine(min_frames=2, snapshots=SnapshotConfig(dir=tmp_path))
    box = (130.0, 70.0, 190.0, 150.0)
    events, _ = run(eng, [dets((1, box)) for _ in range(2)])
    snap = events[0]["snapshot"]
    assert snap["score"] == pytest.approx(0.9) and snap["timestamp"] == 0.0
    frame = cv2.imread(snap["frame"])
    assert frame is not None and frame.shape == FRAME.shape
    crop = cv2.imread(snap["crop"])
    x1, y1, x2, y2 = crop_box(np.array(box), (W, H))
    assert (x1, y1, x2, y2) == (124, 62, 196, 158)  # padded by 10 % each side
    assert crop is not None and crop.shape == (y2 - y1, x2 - x1, 3)
    assert np.abs(crop.astype(int) - FRAME[y1:y2, x1:x2].astype(int)).mean() < 3


def test_events_validate_against_the_schema(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema == event_schema()
    assert json.loads(DOCS_SCHEMA.read_text()) == schema
    assert schema["title"] == "edgeinfer event message"
    eng = engine(min_frames=1, update_interval_s=0.0, snapshots=SnapshotConfig(dir=tmp_path))
    events, counts = run(eng, [dets((1, at(40, y))) for y in range(60, 200, 10)])
    events.extend(eng.finish(5.0))
    assert set(types(events)) == {"new", "update", "end"}
    assert events[0]["snapshot"]["crop"] is not None and events[0]["crossings"] == []
    for event in events:
        jsonschema.validate(json.loads(json.dumps(event)), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**events[0], "extra": 1}, schema)
    for frame_counts in counts:
        for message in frame_counts.values():
            (ZoneCounts if message["kind"] == "zone" else LineCounts).model_validate(message)


def test_first_update_gives_counts_with_geometry() -> None:
    zones = parse_zones({"zones": {"tri": {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}, "door": {"polygon": DOOR}},
                         "lines": {"gate": {"points": [[0.0, 0.5], [1.0, 0.5]]}}})
    eng = EventEngine(EventsConfig(snapshots=None), device_id="d", stream="cam", zones=zones)
    first = eng.update(FRAME, 0.0, dets())
    assert set(first.counts) == {"tri", "door", "gate"}
    assert first.counts["tri"]["polygon"] == [[32.0, 24.0], [288.0, 24.0], [160.0, 216.0]]
    assert first.counts["door"]["polygon"] == [[float(x), float(y)] for x, y in DOOR]
    assert first.counts["gate"]["points"] == [[0.0, 120.0], [320.0, 120.0]]
    assert first.counts["door"]["inside"] == 0 and first.counts["gate"]["in"] == 0
    assert eng.update(FRAME, 0.1, dets()).counts == {}


def test_journal_recovered_after_a_kill(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    first = EventEngine(EventsConfig(min_frames=1, snapshots=None), device_id="d", stream="cam", journal=journal)
    events, _ = run(first, [dets((1, at(40, 100)), (2, at(160, 100))) for _ in range(3)])
    opened = {e["event_id"] for e in events if e["type"] == "new"}
    assert len(opened) == 2
    del first  # killed: no finish()
    second = EventEngine(EventsConfig(snapshots=None), device_id="d", stream="cam", journal=journal)
    ended = second.recover()
    assert {e["event_id"] for e in ended} == opened and len(ended) == 2
    assert {(e["type"], e["end_reason"]) for e in ended} == {("end", "interrupted")}
    schema = json.loads(SCHEMA_FILE.read_text())
    for event in ended:
        jsonschema.validate(event, schema)
    assert second.recover() == []
    third = EventEngine(EventsConfig(snapshots=None), device_id="d", stream="cam", journal=journal)
    assert third.recover() == []


def test_corrupt_journal_is_ignored_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    journal = tmp_path / "journal.json"
    journal.write_text('{"version": 1, "events": [')
    with caplog.at_level(logging.WARNING, logger="edgeinfer.events.journal"):
        eng = EventEngine(EventsConfig(snapshots=None), device_id="d", stream="cam", journal=journal)
    assert "corrupt" in caplog.text and str(journal) in caplog.text
    assert eng.recover() == []
