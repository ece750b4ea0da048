"""Events through the pipeline: tracker and EventEngine on the publish thread, sinks get events and counts.

The "model" here is a threshold detector (white squares on black become boxes), so every
test knows exactly where each object is; the accuracy tests use the real detector.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import jsonschema
import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.events import EventsConfig, SnapshotConfig
from edgeinfer.events.journal import Journal
from edgeinfer.events.schema import event_schema
from edgeinfer.pipeline import Pipeline
from edgeinfer.publishing import EventSetup
from edgeinfer.results import Detections
from edgeinfer.sinks.jsonl import JsonlSink
from edgeinfer.sinks.memory import MemorySink
from edgeinfer.sources import ReplaySource
from edgeinfer.sources.base import SourceInfo, SourceStats
from edgeinfer.types import Frame

W, H, SIDE = 160, 120, 16
DOOR = [[80, 0], [160, 0], [160, 120], [80, 120]]  # the right half of the frame


def white_boxes(image: np.ndarray) -> Detections:
    """Each white square is a ``person``; the squares never touch."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((image[..., 0] > 127).astype(np.uint8))
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:count]], np.float32).reshape(-1, 4)
    n = len(boxes)
    return Detections(boxes, np.full(n, 0.9, np.float32), np.zeros(n, np.int64), ("person",) * n)


def walk(frames: int, *, y: int = 50, start: int = 4, step: int = 4, first: int = 0) -> list[np.ndarray]:
    """A square moving right ``step`` pixels a frame from frame ``first`` on (nothing before)."""
    images = []
    for i in range(frames):
        image = np.zeros((H, W, 3), np.uint8)
        if i >= first:
            x = start + step * (i - first)
            if x + SIDE <= W:
                image[y:y + SIDE, x:x + SIDE] = 255
        images.append(image)
    return images


def run(images: list[np.ndarray], setup: Any, sinks: list[Any] | None = None, fps: float = 10.0) -> MemorySink:
    sink = MemorySink()
    Pipeline(ReplaySource(images, fps=fps), white_boxes, [sink, *(sinks or [])], device_id="dev",
             stream_name="cam", events=setup).run()
    return sink


def no_snapshots(**setup: Any) -> EventSetup:
    return EventSetup(events=EventsConfig(snapshots=None, min_frames=2), **setup)


def test_an_object_walking_through_a_zone_is_one_event_with_its_zone_and_counts() -> None:
    sink = run(walk(40), no_snapshots(zones={"door": {"polygon": DOOR}}))
    assert [e["type"] for e in sink.events if e["type"] != "update"] == ["new", "end"]
    new, end = sink.events[0], sink.events[-1]
    assert new["event_id"] == end["event_id"] and new["track_id"] == end["track_id"]
    assert end["end_reason"] == "source_ended" and end["entered_zones"] == ["door"]
    counts = sink.counts["cam", "door"]
    assert (counts["entered"], counts["inside"], counts["left"]) == (1, 0, 1)  # at the end everyone leaves
    schema = event_schema()
    for event in sink.events:
        jsonschema.validate(event, schema)
    assert sink.envelopes == []  # publish: [events] is the default: no per-frame results


def test_a_file_is_timed_by_its_frame_rate_not_by_how_fast_it_was_read() -> None:
    sink = run(walk(30), no_snapshots(), fps=10.0)
    end = sink.events[-1]
    # 30 frames with the square in view (x = 4 .. 120), 10 frames a second, read in far less than 3 s.
    assert end["dwell_s"] == pytest.approx(2.9, abs=0.01)
    path = [p[0] for p in end["path"]]
    assert path == sorted(path)


def test_publish_results_too_gives_tracked_envelopes() -> None:
    sink = run(walk(12), no_snapshots(publish=["events", "results"]))
    assert len(sink.envelopes) == 12
    ids = {d["track_id"] for e in sink.envelopes for d in e["result"]["detections"]}
    assert ids == {sink.events[0]["track_id"]}


def test_sinks_that_draw_get_every_frame_when_only_events_are_published() -> None:
    class Drawing(MemorySink):
        draws = True

    drawing = Drawing()
    sink = run(walk(12), no_snapshots(), sinks=[drawing])
    assert sink.envelopes == [] and len(drawing.envelopes) == 12 and drawing.frames[0] is not None


def test_a_one_frame_flash_makes_no_event() -> None:
    images = walk(20)
    flash = np.zeros((H, W, 3), np.uint8)
    flash[90:106, 120:136] = 255
    images[5] = np.maximum(images[5], flash)
    sink = run(images, no_snapshots())
    assert len({e["event_id"] for e in sink.events}) == 1


def test_jsonl_sink_writes_events_in_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonlSink(path) as jsonl:
        run(walk(20), no_snapshots(), sinks=[jsonl])
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    events = [line for line in lines if line.get("kind") == "event"]
    assert events[0]["type"] == "new" and events[-1]["type"] == "end"


def test_snapshots_are_written_beside_the_event(tmp_path: Path) -> None:
    setup = EventSetup(events=EventsConfig(min_frames=2, snapshots=SnapshotConfig(dir=tmp_path / "snaps")))
    sink = run(walk(20), setup)
    snapshot = sink.events[-1]["snapshot"]
    crop = cv2.imread(snapshot["crop"])
    assert crop is not None and crop.mean() > 100  # the white square, padded
    assert cv2.imread(snapshot["frame"]).shape == (H, W, 3)


class StallingSource:
    """Frames of a walking square, then nothing (a camera that stopped sending) until released."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images, self.released, self.closed = images, threading.Event(), False
        self.info = SourceInfo(kind="camera", uri="test", name="cam", live=True, policy="every", width=W, height=H)
        self._i = 0

    def read(self) -> Frame | None:
        if self._i < len(self.images):
            self._i += 1
            time.sleep(0.01)
            return Frame(self.images[self._i - 1], self._i - 1, time.time(), "cam")
        self.released.wait(10)
        return None

    def stats(self) -> SourceStats:
        return SourceStats()

    def close(self) -> None:
        self.released.set()


def test_a_camera_that_stops_sending_ends_its_tracks_as_lost(wait_for: Any) -> None:
    sink = MemorySink()
    source = StallingSource(walk(15))
    setup = EventSetup(events=EventsConfig(snapshots=None, min_frames=2, max_lost_s=0.3))
    pipeline = Pipeline(source, white_boxes, [sink], device_id="dev", events=setup).start()
    try:
        assert wait_for(lambda: any(e["type"] == "end" for e in sink.events), timeout_s=10)
        assert sink.events[-1]["end_reason"] == "lost"
    finally:
        pipeline.stop()


def test_stop_ends_open_events_as_stopped(wait_for: Any) -> None:
    sink = MemorySink()
    source = StallingSource(walk(15))
    setup = EventSetup(events=EventsConfig(snapshots=None, min_frames=2, max_lost_s=60))
    pipeline = Pipeline(source, white_boxes, [sink], device_id="dev", events=setup).start()
    assert wait_for(lambda: any(e["type"] == "new" for e in sink.events), timeout_s=10)
    pipeline.stop()
    assert sink.events[-1]["type"] == "end" and sink.events[-1]["end_reason"] == "stopped"


def test_events_left_open_by_a_crash_end_as_interrupted_on_the_next_run(tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    setup = EventSetup(events=EventsConfig(snapshots=None, min_frames=2), journal=journal)
    sink = MemorySink()
    source = StallingSource(walk(15))
    pipeline = Pipeline(source, white_boxes, [sink], device_id="dev", events=setup).start()
    try:
        deadline = time.monotonic() + 10
        while not Journal(journal).read() and time.monotonic() < deadline:
            time.sleep(0.02)
        crashed = journal.read_text()  # what a kill -9 now would leave behind
    finally:
        pipeline.stop()
    journal.write_text(crashed)
    after = run(walk(3, first=3), setup)
    first = after.events[0]
    assert first["type"] == "end" and first["end_reason"] == "interrupted"
    assert first["event_id"] == json.loads(crashed)["events"][0]["event_id"]
    assert Journal(journal).read() == []


def test_events_need_a_tracker() -> None:
    with pytest.raises(ConfigError, match="tracker"):
        Pipeline(ReplaySource(walk(2)), white_boxes, [], events=True, tracker="none")


def test_a_zone_label_the_model_does_not_have_is_named() -> None:
    class Labelled:
        class card:  # what a Model offers: card.labels
            labels = ("person", "car")

        def __call__(self, image: np.ndarray) -> Detections:
            return white_boxes(image)

    zones = {"door": {"polygon": DOOR, "labels": ["bicycle"]}}
    with pytest.raises(ConfigError, match=r"zones\.door\.labels.*bicycle.*person, car"):
        Pipeline(ReplaySource(walk(2)), Labelled(), [], events=no_snapshots(zones=zones))


def test_a_zone_outside_the_frame_fails_before_the_first_frame() -> None:
    zones = {"door": {"polygon": [[10, 10], [500, 10], [500, 90]], "coords": "pixels"}}
    with pytest.raises(ConfigError, match=r"zones\.door\.polygon\[1\]"):
        Pipeline(ReplaySource(walk(2)), white_boxes, [], events=no_snapshots(zones=zones))


def read_brightness(path: Path) -> list[float]:
    """The mean brightness of each frame of a video file."""
    cap = cv2.VideoCapture(str(path))
    means = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        means.append(float(image.mean()))
    cap.release()
    return means


def test_each_event_gets_a_playable_clip_from_before_its_start_to_after_its_end(tmp_path: Path) -> None:
    from edgeinfer.events import ClipConfig

    # At 10 fps: black until frame 10, the square walks from frame 10 to 45, black again to 69.
    setup = EventSetup(events=EventsConfig(snapshots=None, min_frames=2, max_lost_s=0.5),
                       clips=ClipConfig(dir=tmp_path / "clips", pre_s=0.5, post_s=0.3))
    sink = MemorySink()
    pipeline = Pipeline(ReplaySource(walk(70, first=10), fps=10.0), white_boxes, [sink], stream_name="cam",
                        events=setup)
    pipeline.run()
    assert pipeline.clock_origin is not None
    new, end = sink.events[0], sink.events[-1]
    new_frame = round((new["timestamp"] - pipeline.clock_origin) * 10)
    clip = tmp_path / "clips" / "cam" / f"{new['event_id']}.mp4"
    assert new["clip"] == end["clip"] == str(clip) and clip.is_file()
    assert not list((tmp_path / "clips" / "cam" / ".part").glob("*"))  # finished clips leave no part behind
    means = read_brightness(clip)
    lit = [i for i, m in enumerate(means) if m > 1.0]
    # Pre-roll: the clip opens 0.5 s before the new event, on black frames (the square comes at 1.0 s).
    # The ring held the 5 frames before the new event's: the black ones are those before frame 10.
    assert lit[0] == 10 - (new_frame - 5) > 0
    # The square's 36 frames, then black frames up to 0.3 s after the event's end.
    assert len(lit) == 36 and lit == list(range(lit[0], lit[0] + 36))
    assert len(means) - 1 - lit[-1] >= 3
    cap = cv2.VideoCapture(str(clip))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    cap.release()


def test_a_clip_folder_that_cannot_be_written_loses_the_clip_not_the_events(tmp_path: Path) -> None:
    from edgeinfer.events import ClipConfig

    blocker = tmp_path / "clips"
    blocker.write_text("a file where the clip folder should be")
    setup = EventSetup(events=EventsConfig(snapshots=None, min_frames=2),
                       clips=ClipConfig(dir=blocker, pre_s=0.0, post_s=0.0))
    sink = run(walk(30), setup)
    assert [e["type"] for e in sink.events if e["type"] != "update"] == ["new", "end"]
    assert not Path(sink.events[0]["clip"]).exists()
