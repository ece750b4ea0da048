"""Events-stage benchmarks: tracking + zones + events per frame, and their share of the pipeline's CPU.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Milliseconds per frame of the events stage as the pipeline's publish thread runs it
   (:class:`edgeinfer.publishing.Publisher`): ByteTrack ``tracker.update(detections, t)``
   then ``EventEngine.update(image, t, tracked)`` (``EventsConfig(snapshots=None)``,
   ``autosave=False``), on a synthetic 1280x720 scene of 50 objects (30x30 px boxes moving
   on straight lines at constant speed, re-entering on the far side when they leave, so
   tracks keep starting and ending) with 3 zones and 2 lines. No model: this times our
   stage only. Baseline, measured in the same run in alternating blocks: class-aware NMS
   (:func:`edgeinfer.postprocess.nms.nms_per_class`) of the same 50 boxes, the cheapest
   step a detector's decode always does. Goal: <= 0.5 ms per frame (median).
2. (info) Tracking alone and the engine alone, split out of the same calls as row 1.
3. Share of the pipeline's CPU per frame spent in the events stage:
   :class:`edgeinfer.pipeline.Pipeline` on a 1280x720 mp4v video showing the same scene
   (the panning photo of bench_pipeline with the 50 objects drawn on it), with the
   benchmark model of bench_pipeline (MobileNetV2 224 ONNX, one thread) run on every frame.
   A classifier finds no boxes, so the detector is that model's real ``predict`` followed
   by the scene's true boxes of the frame: the CPU of a real model, the detections of a
   perfect one. Process CPU time (user + system) per published frame, events on
   (zone + line, ``publish: [events, results]`` so the sink gets the same per-frame
   envelopes) against events off, in alternating rounds; share = (on - off) / on per
   round, median. Goal: <= 5 %. Also recorded: the stage's CPU measured directly inside
   the pipeline (thread CPU time around the tracker and the engine) over the pipeline's.

Run: ``python bench/bench_events.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_pipeline import CARD, mobilenet_onnx
from common import interleaved_ms, row

import edgeinfer
from edgeinfer.events import EventEngine, EventsConfig, ZoneSet, parse_zones
from edgeinfer.pipeline import Pipeline
from edgeinfer.postprocess.nms import nms_per_class
from edgeinfer.publishing import EventSetup
from edgeinfer.results import Detections
from edgeinfer.sinks.jsonl import JsonlSink
from edgeinfer.sources import open_source
from edgeinfer.tracking import make_tracker

SIZE_WH = (1280, 720)
FPS = 30.0
OBJECTS = 50
BOX = 30.0
LABELS = ("person", "car")
ZONES: dict[str, Any] = {
    "zones": {
        "left": {"polygon": [[0, 0], [320, 0], [320, 720], [0, 720]]},
        "centre": {"polygon": [[480, 200], [800, 180], [860, 520], [440, 540]]},
        "corner": {"polygon": [[900, 450], [1279, 450], [1279, 719]], "labels": ["car"]},
    },
    "lines": {
        "middle": {"points": [[640, 0], [640, 719]]},
        "horizon": {"points": [[0, 360], [1279, 360]], "labels": ["person"]},
    },
}


class Scene:
    """``OBJECTS`` boxes of ``BOX`` px moving on straight lines, wrapping around the frame's edges."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        w, h = SIZE_WH
        self.start = rng.uniform((0, 0), (w - BOX, h - BOX), (OBJECTS, 2))
        angle = rng.uniform(0, 2 * np.pi, OBJECTS)
        speed = rng.uniform(60, 240, OBJECTS)  # px/s: 2 to 8 px per frame at 30 fps
        self.velocity = np.stack([np.cos(angle), np.sin(angle)], axis=1) * speed[:, None]
        self.scores = rng.uniform(0.6, 0.95, OBJECTS).astype(np.float32)
        self.class_ids = rng.integers(0, len(LABELS), OBJECTS).astype(np.int64)
        self._rng = rng

    def detections(self, index: int) -> Detections:
        """Frame ``index``'s boxes (a little jitter on position and score), best score first."""
        w, h = SIZE_WH
        top_left = (self.start + self.velocity * (index / FPS)) % (w - BOX, h - BOX)
        jitter = self._rng.normal(0, 0.5, (OBJECTS, 4))
        boxes = np.concatenate([top_left, top_left + BOX], axis=1) + jitter
        boxes = np.clip(boxes, 0, (w - 1, h - 1, w - 1, h - 1)).astype(np.float32)
        scores = np.clip(self.scores + self._rng.normal(0, 0.02, OBJECTS), 0, 1).astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        class_ids = self.class_ids[order]
        return Detections(boxes[order], scores[order], class_ids, tuple(LABELS[c] for c in class_ids.tolist()))


def events_setup() -> EventSetup:
    """The zones and lines, events without snapshots, results and events both published."""
    zones = parse_zones(ZONES)
    return EventSetup(zones=zones.zones, lines=zones.lines, events=EventsConfig(snapshots=None),
                      publish=["events", "results"])


class Stage:
    """One call = one frame through the tracker and the engine, as ``Publisher.publish`` does."""

    def __init__(self, frames: list[Detections], image: np.ndarray) -> None:
        self.frames, self.image, self.index = frames, image, 0
        setup = events_setup()
        self.tracker = make_tracker("bytetrack")
        assert self.tracker is not None
        zones = ZoneSet(setup.all_zones(LABELS), SIZE_WH, labels=LABELS)
        self.engine = EventEngine(setup.events, device_id="bench", stream="bench", model="scene", zones=zones,
                                  autosave=False)
        self.track_ms: list[float] = []
        self.engine_ms: list[float] = []
        self.events = 0

    def current(self) -> Detections:
        return self.frames[self.index % len(self.frames)]

    def __call__(self) -> None:
        assert self.tracker is not None
        t = self.index / FPS
        t0 = time.perf_counter()
        tracked = self.tracker.update(self.current(), t)
        t1 = time.perf_counter()
        out = self.engine.update(self.image, t, tracked)
        t2 = time.perf_counter()
        self.track_ms.append((t1 - t0) * 1000)
        self.engine_ms.append((t2 - t1) * 1000)
        self.events += len(out.events)
        self.index += 1


def stage_rows(quick: bool) -> list[dict[str, Any]]:
    """Rows 1 and 2. The scene is precomputed (longer than the run: no wrap of the frame index)."""
    rounds, per_round = (6, 100) if quick else (10, 300)
    warm = 90  # three seconds: every object tracked and past min_frames before the clock starts
    scene = Scene()
    frames = [scene.detections(i) for i in range(warm + 2 * rounds * per_round + 20)]
    image = np.zeros((SIZE_WH[1], SIZE_WH[0], 3), np.uint8)
    stage = Stage(frames, image)
    for _ in range(warm):
        stage()
    stage.track_ms.clear()
    stage.engine_ms.clear()
    events_before = stage.events

    def nms() -> None:
        d = stage.current()
        nms_per_class(d.boxes_xyxy, d.scores, d.class_ids, iou_threshold=0.45, max_detections=300)

    timing = interleaved_ms(stage, nms, rounds=rounds, per_round=per_round, warmup=0)
    frames_timed = len(stage.track_ms)
    total = np.add(stage.track_ms, stage.engine_ms)
    ms = timing.candidate_ms
    name = f"tracking + zones + events per frame ({OBJECTS} objects, 3 zones, 2 lines) vs NMS of the same boxes"
    main = row(name, round(ms, 4), "ms", round(timing.baseline_ms, 4), "<= 0.5 ms", ms <= 0.5,
               ratio=round(timing.ratio, 3), round_ratios=[round(x, 3) for x in timing.round_ratios],
               mean_ms=round(float(total.mean()), 4), p95_ms=round(float(np.percentile(total, 95)), 4),
               frames=frames_timed, events_per_frame=round((stage.events - events_before) / frames_timed, 3))
    parts = [
        row(f"ByteTrack update per frame ({OBJECTS} objects)", round(float(np.median(stage.track_ms)), 4), "ms",
            None, None, None, mean_ms=round(float(np.mean(stage.track_ms)), 4)),
        row(f"EventEngine update per frame ({OBJECTS} tracks, 3 zones, 2 lines)",
            round(float(np.median(stage.engine_ms)), 4), "ms", None, None, None,
            mean_ms=round(float(np.mean(stage.engine_ms)), 4)),
    ]
    return [main, *parts]


def scene_video(folder: Path, scene: Scene, frames: int) -> Path:
    """The panning photo of bench_pipeline's camera video with the scene's boxes drawn on it."""
    from skimage.data import coffee

    w, h = SIZE_WH
    base = cv2.resize(np.ascontiguousarray(coffee()[:, :, ::-1]), (w + frames, h))
    path = folder / f"scene_{w}x{h}_{frames}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE_WH)
    try:
        for i in range(frames):
            image = np.ascontiguousarray(base[:, i:i + w])
            d = scene.detections(i)
            for (x1, y1, x2, y2), c in zip(d.boxes_xyxy.astype(int).tolist(), d.class_ids.tolist(), strict=True):
                cv2.rectangle(image, (x1, y1), (x2, y2), (0, 200, 255) if c else (255, 80, 0), -1)
            writer.write(image)
    finally:
        writer.release()
    return path


class SceneDetector:
    """The benchmark model's real ``predict`` on each frame, then the scene's true boxes of that frame.

    Frames arrive in order (one worker, policy ``every``), so a call counter is the frame index.
    """

    def __init__(self, model: Any, frames: list[Detections]) -> None:
        self.model, self.frames, self.calls = model, frames, 0
        self.name = "mobilenetv2+scene"

    def predict(self, image: np.ndarray) -> Detections:
        self.model.predict(image)
        out = self.frames[self.calls]
        self.calls += 1
        return out


class ThreadCpu:
    """Wraps a tracker or an engine: adds the thread CPU time of every ``update`` to ``seconds``."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0
        self._lock = threading.Lock()

    def update(self, *args: Any) -> Any:
        t0 = time.thread_time()
        try:
            return self.inner.update(*args)
        finally:
            with self._lock:
                self.seconds += time.thread_time() - t0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def pipeline_cpu(model: Any, frames: list[Detections], video: Path, out: Path,
                 setup: EventSetup | None) -> tuple[float, float, int]:
    """One run: process CPU ms per published frame, events-stage CPU ms per frame (direct), frames."""
    detector = SceneDetector(model, frames)
    sink = JsonlSink(out)
    pipeline = Pipeline(open_source(video, policy="every"), detector, [sink], device_id="bench",
                        tracker="bytetrack" if setup else None, events=setup)
    probes: list[ThreadCpu] = []
    publisher = pipeline._publisher  # the bench reaches in to time the stage directly, as a cross-check
    if setup is not None:
        publisher.tracker = ThreadCpu(publisher.tracker)
        publisher.engine = ThreadCpu(publisher.engine)  # type: ignore[assignment]
        probes = [publisher.tracker, publisher.engine]  # type: ignore[list-item]
    before = os.times()
    try:
        stats = pipeline.run()
    finally:
        sink.close()
    after = os.times()
    n = stats.frames_published
    cpu = after.user + after.system - before.user - before.system
    return 1000 * cpu / n, 1000 * sum(p.seconds for p in probes) / n, n


def share_row(quick: bool) -> dict[str, Any]:
    """Row 3, in alternating rounds (on/off, then off/on) so both sides see the same machine load."""
    rounds, length = (3, 90) if quick else (7, 300)
    scene = Scene(seed=1)
    frames = [scene.detections(i) for i in range(length + 5)]
    setup = events_setup()
    on: list[float] = []
    off: list[float] = []
    direct: list[float] = []
    shares: list[float] = []
    with tempfile.TemporaryDirectory() as folder, edgeinfer.load(mobilenet_onnx(), threads=1, card=CARD) as model:
        tmp = Path(folder)
        video = scene_video(tmp, Scene(seed=1), length)
        model.predict(np.zeros((SIZE_WH[1], SIZE_WH[0], 3), np.uint8))
        pipeline_cpu(model, frames, video, tmp / "warm.jsonl", setup)  # warm: imports, first-call costs
        for r in range(rounds):
            sides = (True, False) if r % 2 == 0 else (False, True)
            got: dict[bool, float] = {}
            for events_on in sides:
                cpu_ms, stage_ms, _ = pipeline_cpu(model, frames, video, tmp / f"{r}_{events_on}.jsonl",
                                                   setup if events_on else None)
                got[events_on] = cpu_ms
                if events_on:
                    direct.append(stage_ms / cpu_ms)
            on.append(got[True])
            off.append(got[False])
            shares.append((got[True] - got[False]) / got[True])
    share = 100 * float(np.median(shares))
    on_ms, off_ms = float(np.median(on)), float(np.median(off))
    return row("events stage share of pipeline CPU per frame (720p mp4v, MobileNetV2 224 ONNX + 50 scene boxes, "
               "1 zone set: 3 zones, 2 lines)", round(share, 3), "%", None, "<= 5 %", share <= 5.0,
               ratio=None, cpu_ms_per_frame_events_on=round(on_ms, 3), cpu_ms_per_frame_events_off=round(off_ms, 3),
               round_shares_pct=[round(100 * s, 3) for s in shares],
               direct_share_pct=round(100 * float(np.median(direct)), 3), rounds=rounds, frames=length)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the events benchmarks; ``quick`` uses fewer frames and rounds."""
    return [*stage_rows(quick), share_row(quick)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
