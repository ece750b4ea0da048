"""The live pipeline on a real ONNX Runtime model: order, freshness, gating, shutdown, stats."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import InputError, SinkError
from edgeinfer.gating import FrameGate, GateConfig
from edgeinfer.pipeline import Pipeline, PipelineStats
from edgeinfer.sinks.memory import MemorySink
from edgeinfer.sources import Backoff, ReplaySource, open_source
from edgeinfer.streaming import stream
from tests.model_factory import onnx_cnn_bytes
from tests.sources.helpers import decode_index, index_frames, photos, write_video

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

CARD = {"task": "classification", "labels": list("abcde"), "preprocess": {"std": 255},
        "postprocess": {"top_k": 3}}
ENVELOPE_KEYS = {"device_id", "stream", "frame_index", "timestamp", "model", "latency_ms", "result"}


@pytest.fixture(scope="module")
def model() -> Iterator[Any]:
    with edgeinfer.load(onnx_cnn_bytes(), card=CARD) as loaded:
        yield loaded


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return write_video(tmp_path / "clip.mp4", index_frames(30))


def slow(model: Any, delay_s: float) -> Any:
    def infer(image: np.ndarray) -> Any:
        time.sleep(delay_s)
        return model.predict(image)

    return infer


def test_every_frame_published_once_in_order_with_model_results(model: Any, video: Path) -> None:
    sink = MemorySink()
    source = open_source(video, name="front")
    stats = Pipeline(source, model, [sink], device_id="cam-01").run()
    assert [e["frame_index"] for e in sink.envelopes] == list(range(30))
    assert [decode_index(f) for f in sink.frames] == list(range(30))
    first = sink.envelopes[0]
    assert set(first) == ENVELOPE_KEYS
    assert (first["device_id"], first["stream"], first["model"]) == ("cam-01", "front", model.name)
    assert first["latency_ms"] > 0 and first["result"]["task"] == "classification"
    for envelope, frame in zip(sink.envelopes, sink.frames, strict=True):
        assert envelope["result"] == model.predict(frame).to_dict()
    assert stats.frames_published == stats.frames_inferred == 30 and stats.frames_dropped == 0
    assert stats.state == "stopped" and source.closed


def test_latest_policy_with_slow_model_is_fresh_and_drops(model: Any) -> None:
    sink = MemorySink()
    source = ReplaySource(index_frames(150), fps=200, realtime=True)
    pipeline = Pipeline(source, slow(model, 0.02), [sink], device_id="d")
    stats = pipeline.run()
    indices = [e["frame_index"] for e in sink.envelopes]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert [decode_index(f) for f in sink.frames] == indices
    assert stats.frames_dropped > 50
    assert stats.frames_dropped + stats.frames_published == 150 - sum(stats.queue_depth.values())
    infer_p50 = stats.infer_ms["p50"]
    assert stats.latency_ms["p50"] < 2.5 * infer_p50 + 10.0  # the model starts on the newest frame


def test_gating_skips_static_frames_and_infers_on_change(model: Any, tmp_path: Path) -> None:
    pics = photos()
    still = cv2.resize(pics["chelsea"], (160, 120))
    other = cv2.resize(pics["coffee"], (160, 120))
    path = write_video(tmp_path / "static.mp4", [still] * 25 + [other] * 15)
    sink = MemorySink()
    gate = GateConfig(threshold=4.0, max_skip_s=None)
    stats = Pipeline(open_source(path), model, [sink], device_id="d", gate=gate).run()
    assert stats.frames_published == 40
    assert stats.frames_inferred + stats.frames_gated == 40
    assert stats.frames_gated >= 36 and 2 <= stats.frames_inferred <= 4
    results = sink.results
    assert results[24] is results[0]  # static run reuses the first result
    assert results[25] is not results[24]  # the scene change was inferred
    assert results[39] is results[25]


def test_gate_forces_inference_after_max_skip() -> None:
    gate = FrameGate(GateConfig(threshold=5.0, max_skip_s=0.05))
    image = np.zeros((40, 40, 3), np.uint8)
    assert gate.should_infer(image) and not gate.should_infer(image)
    time.sleep(0.06)
    assert gate.should_infer(image)
    assert gate.should_infer(image + 20) and gate.last_difference == pytest.approx(20.0)


class CountingSink(MemorySink):
    def __init__(self) -> None:
        super().__init__()
        self.flushes = 0

    def flush(self, timeout_s: float) -> bool:
        self.flushes += 1
        return True


def test_stop_drains_in_flight_frames_flushes_and_releases(model: Any) -> None:
    sink = CountingSink()
    source = ReplaySource(index_frames(2000), fps=300, realtime=True, policy="every")
    pipeline = Pipeline(source, slow(model, 0.005), [sink], device_id="d", queue_size=4).start()
    time.sleep(0.3)
    assert pipeline.stop(timeout_s=5.0)
    stats = pipeline.stats()
    assert source.closed and sink.flushes == 1 and stats.state == "stopped"
    assert stats.frames_captured > 10
    # Every frame taken from the camera was finished and published, in order, no gaps.
    assert [e["frame_index"] for e in sink.envelopes] == list(range(stats.frames_captured))
    published = len(sink.envelopes)
    time.sleep(0.1)
    assert len(sink.envelopes) == published
    pipeline.close()
    with pytest.raises(SinkError):
        sink.send({"frame_index": 0})


def test_stats_shape(model: Any, video: Path) -> None:
    pipeline = Pipeline(open_source(video), model, [MemorySink()], device_id="d")
    assert pipeline.stats().state == "idle"
    stats = pipeline.run()
    assert isinstance(stats, PipelineStats)
    as_dict = stats.to_dict()
    assert {"state", "uptime_s", "frames_captured", "frames_inferred", "frames_gated", "frames_published",
            "frames_dropped", "inference_errors", "disconnects", "reconnects", "fps", "latency_ms",
            "infer_ms", "queue_depth"} <= set(as_dict)
    assert set(stats.fps) == {"capture", "preprocess", "infer", "decode", "publish"}
    assert all(v > 0 for v in stats.fps.values())
    p = stats.latency_ms
    assert set(p) == {"p50", "p90", "p99"} and 0 < p["p50"] <= p["p90"] <= p["p99"]
    assert stats.queue_depth == {"preprocess": 0, "infer": 0, "decode": 0, "publish": 0}


def _settled_count(sink: MemorySink, quiet_s: float = 0.1, timeout_s: float = 3.0) -> int:
    """The number of envelopes once nothing new arrived for ``quiet_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    count = len(sink.envelopes)
    while time.monotonic() < deadline:
        time.sleep(quiet_s)
        if len(sink.envelopes) == count:
            return count
        count = len(sink.envelopes)
    raise AssertionError("results kept arriving while paused")


def test_pause_and_resume(model: Any) -> None:
    sink = MemorySink()
    source = ReplaySource(index_frames(400), fps=400, realtime=True)
    pipeline = Pipeline(source, model, [sink], device_id="d").start()
    time.sleep(0.15)
    pipeline.pause()
    assert pipeline.stats().state == "paused"
    paused_at = _settled_count(sink)  # frames already past the gate finish; nothing new starts
    time.sleep(0.2)
    assert len(sink.envelopes) == paused_at
    pipeline.resume()
    time.sleep(0.15)
    assert len(sink.envelopes) > paused_at + 5
    pipeline.stop()
    assert source.closed


def test_reconnecting_source_keeps_the_pipeline_going(model: Any) -> None:
    sink = MemorySink()
    source = ReplaySource(index_frames(40), fps=500, realtime=True, policy="every", disconnect_at=[15],
                          failed_reconnects=2, backoff=Backoff(0.01, 2.0, 0.05))
    stats = Pipeline(source, model, [sink], device_id="d").run()
    assert [decode_index(f) for f in sink.frames] == list(range(40))
    assert (stats.disconnects, stats.reconnects) == (1, 1)


def test_inference_errors_are_counted_then_fatal(model: Any) -> None:
    def flaky(image: np.ndarray) -> Any:
        if decode_index(image) % 3 == 0:
            raise InputError("bad frame")
        return model.predict(image)

    sink = MemorySink()
    stats = Pipeline(ReplaySource(index_frames(12)), flaky, [sink], device_id="d").run()
    assert stats.inference_errors == 4 and stats.frames_published == 8
    assert [e["frame_index"] for e in sink.envelopes] == [1, 2, 4, 5, 7, 8, 10, 11]

    def broken(image: np.ndarray) -> Any:
        raise InputError("always")

    source = ReplaySource(index_frames(50))
    with pytest.raises(InputError, match="always"):
        Pipeline(source, broken, [MemorySink()], device_id="d").run()
    assert source.closed


def test_sink_failure_stops_the_pipeline_and_releases_the_source(model: Any) -> None:
    sink = MemorySink()
    sink.close()
    source = ReplaySource(index_frames(20))
    started = time.monotonic()
    with pytest.raises(SinkError):
        Pipeline(source, model, [sink], device_id="d").run()
    assert source.closed
    assert time.monotonic() - started < 3.0  # no stage left blocked on a dead publisher


def test_model_stream_yields_every_frame_of_a_file(model: Any, video: Path) -> None:
    pairs = list(model.stream(str(video)))
    assert [frame.index for frame, _ in pairs] == list(range(30))
    assert [decode_index(frame.image) for frame, _ in pairs] == list(range(30))
    frame, result = pairs[3]
    assert result.to_dict() == model.predict(frame.image).to_dict()


def test_stream_latest_slow_consumer_and_closing_releases(model: Any) -> None:
    source = ReplaySource(index_frames(300), fps=200, realtime=True)
    seen, ages = [], []
    generator = stream(model, source)
    for frame, _result in generator:
        ages.append(time.time() - frame.timestamp)
        seen.append(frame.index)
        time.sleep(0.03)
        if len(seen) == 8:
            break
    generator.close()
    assert seen == sorted(seen) and seen[-1] - seen[0] > 20  # frames skipped to stay current
    assert sorted(ages)[len(ages) // 2] < 0.05 and max(ages) < 0.25
    assert source.closed


def test_stop_from_another_thread_ends_run(model: Any) -> None:
    source = ReplaySource(index_frames(100), fps=100, realtime=True, loop=True)
    pipeline = Pipeline(source, model, [MemorySink()], device_id="d")
    threading.Timer(0.2, pipeline.stop).start()
    started = time.monotonic()
    stats = pipeline.run()
    assert time.monotonic() - started < 3.0
    assert stats.state == "stopped" and source.closed and stats.frames_published > 5


def test_stream_raises_the_source_error(model: Any, tmp_path: Path) -> None:
    from edgeinfer.errors import SourceError

    cv2.imwrite(str(tmp_path / "a.png"), photos()["chelsea"])
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    got = []
    with pytest.raises(SourceError, match=r"b\.png"):
        for frame, _ in model.stream(str(tmp_path)):
            got.append(frame.index)
    assert got == [0]
