"""Shared pieces for the daemon tests: a model, a generated video, configs, a runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.model_factory import tflite_bytes

CARD = {"task": "classification", "labels": ["a", "b", "c", "d"], "preprocess": {"std": 255}}


def make_model(folder: Path) -> Path:
    from edgeinfer.card import write

    path = folder / "cls.tflite"
    if not path.exists():
        path.write_bytes(tflite_bytes("int8", "uint8"))
        write(path, CARD)
    return path


def make_video(path: Path, frames: int, size_wh: tuple[int, int] = (160, 120)) -> Path:
    """An MP4 whose frames differ (a moving bar and the frame number drawn in)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, size_wh)
    w, h = size_wh
    for i in range(frames):
        frame = np.full((h, w, 3), (i * 7) % 255, np.uint8)
        frame[:, (i * 5) % w: (i * 5) % w + 10] = (0, 255, 255)
        cv2.putText(frame, str(i), (5, h - 10), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
        writer.write(frame)
    writer.release()
    return path


def write_config(folder: Path, broker: Any, *, source: str, name: str = "config.yaml",
                 device_id: str = "cam-01", extra_mqtt: dict[str, Any] | None = None,
                 stream_extra: dict[str, Any] | None = None, **top: Any) -> Path:
    config: dict[str, Any] = {
        "device_id": device_id,
        "mqtt": {"host": broker.host, "port": broker.port, "qos": 1, "queue_path": "queue.db",
                 "keepalive_s": 5, **(extra_mqtt or {})},
        "streams": [{"name": "front", "source": source, "model": "cls.tflite", "policy": "every",
                     **(stream_extra or {})}],
        "sinks": ["mqtt", {"type": "jsonl", "path": "produced.jsonl"}],
        "health_interval_s": 1,
        **top,
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def start_daemon(config: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-m", "edgeinfer", "-v", "run", str(config), *args],
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(proc: subprocess.Popen[str], timeout_s: float = 60.0) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
        raise AssertionError(f"daemon did not finish in {timeout_s} s:\n{err[-3000:]}") from None
    return proc.returncode, err


def produced(folder: Path, name: str = "produced.jsonl") -> list[dict[str, Any]]:
    """The whole records of a JSON-lines file that a running daemon may still be writing.

    A last line without its newline is not written yet (the kernel may copy a line across a
    page boundary while we read): it is left for the next read, as ``tail -f`` would.
    """
    path = folder / name
    if not path.exists():
        return []
    whole, _, _ = path.read_bytes().rpartition(b"\n")
    return [json.loads(line) for line in whole.decode().splitlines() if line.strip()]


def keys(envelopes: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """What identifies a result: its frame index and capture time."""
    return [(e["frame_index"], e["timestamp"]) for e in envelopes]


def received(payloads: list[bytes]) -> list[tuple[int, float]]:
    """Keys of the MQTT messages, first occurrence only (QoS 1 may repeat one in flight)."""
    seen = [(json.loads(p)["frame_index"], json.loads(p)["timestamp"]) for p in payloads]
    return list(dict.fromkeys(seen))
