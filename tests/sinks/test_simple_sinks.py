"""The jsonl and memory sinks, the envelope helper and the registry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.errors import ConfigError, SinkError
from edgeinfer.sinks import Sink, encode_envelope, make_envelope, registry
from edgeinfer.sinks.jsonl import JsonlSink
from edgeinfer.sinks.memory import MemorySink


class FakeResult:
    def to_dict(self) -> dict[str, object]:
        return {"labels": ["cat"], "scores": np.array([0.5, 0.25], dtype=np.float32)}


def test_make_envelope_has_the_documented_keys_and_encodes_numpy() -> None:
    env = make_envelope(device_id="d", stream="s", frame_index=np.int64(7), result=FakeResult(),
                        model="m.onnx", latency_ms=3.25, timestamp=12.5)
    assert set(env) == {"device_id", "stream", "frame_index", "timestamp", "model", "latency_ms", "result"}
    decoded = json.loads(encode_envelope(env))
    assert decoded["frame_index"] == 7 and decoded["result"]["scores"] == [0.5, 0.25]
    with pytest.raises(TypeError, match="to_dict"):
        make_envelope(device_id="d", stream="s", frame_index=0, result=42)


def test_jsonl_writes_one_flushed_line_per_envelope(tmp_path: Path) -> None:
    path = tmp_path / "out" / "results.jsonl"
    sink = JsonlSink(path)
    assert isinstance(sink, Sink)
    for i in range(3):
        sink.send(make_envelope(device_id="d", stream="s", frame_index=i, result={"i": i}))
        assert len(path.read_text().splitlines()) == i + 1  # readable before close: flushed
    sink.close()
    assert [json.loads(line)["result"]["i"] for line in path.read_text().splitlines()] == [0, 1, 2]
    assert sink.stats()["sent"] == 3
    with pytest.raises(SinkError, match="closed"):
        sink.send(make_envelope(device_id="d", stream="s", frame_index=3, result={}))


def test_jsonl_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with JsonlSink("-") as sink:
        sink.send(make_envelope(device_id="d", stream="s", frame_index=5, result={"x": 1}))
    assert json.loads(capsys.readouterr().out)["frame_index"] == 5


def test_memory_sink_keeps_copies_frames_and_results() -> None:
    sink = MemorySink()
    frame = np.zeros((2, 2, 3), np.uint8)
    env = make_envelope(device_id="d", stream="s", frame_index=0, result={"n": [1]})
    sink.send(env, frame=frame, result="obj")
    env["result"]["n"].append(2)  # later changes by the caller do not leak in
    assert sink.envelopes[0]["result"] == {"n": [1]}
    assert sink.frames[0] is frame and sink.results == ["obj"]
    assert sink.flush(0.0) and sink.stats() == {"sent": 1, "dropped": 0, "errors": 0, "skipped": 0, "queued": 0}
    sink.clear()
    assert sink.envelopes == []


def test_registry_knows_every_sink_and_suggests_names() -> None:
    assert registry.names() == ["jsonl", "live", "memory", "mqtt", "video", "webhook"]
    assert registry.get("memory") is MemorySink and registry.get("jsonl") is JsonlSink
    with pytest.raises(ConfigError, match="Did you mean 'jsonl'"):
        registry.get("json")
    assert registry.entry("mqtt").extra == "mqtt" and registry.entry("mqtt").package == "paho-mqtt"


def test_importing_sinks_stays_light() -> None:
    code = ("import sys, edgeinfer.sinks, edgeinfer.sinks.memory, edgeinfer.sinks.jsonl; "
            "print([m for m in ('paho', 'cv2', 'sqlite3') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
