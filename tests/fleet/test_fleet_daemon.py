"""A real daemon process follows its group's desired state: switch, health watch, rollback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from edgeinfer.card import write
from edgeinfer.fleet.signing import keygen
from tests.daemon.helpers import finish, make_video, produced, start_daemon
from tests.model_factory import onnx_cnn_bytes

DEVICE = "cam-f1"
CARD = {"task": "classification", "preprocess": {"std": 255}}


def fails_on_real_frames() -> bytes:
    """The ONNX CNN, but its output columns are gathered at [0..4] + 10 when the input's mean is
    over 0.01 (out of bounds): it loads, passes a run on zeros and a blank frame, and fails on
    every real frame."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(onnx_cnn_bytes(seed=2))
    graph = model.graph
    graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    graph.node[-1].output[0] = "y0"
    consts = {"thr": np.float32(0.01), "ten": np.int64(10), "cols": np.arange(5, dtype=np.int64)}
    graph.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items())
    graph.node.extend([
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
        helper.make_node("Greater", ["m", "thr"], ["big"]),
        helper.make_node("Cast", ["big"], ["gi"], to=TensorProto.INT64),
        helper.make_node("Mul", ["gi", "ten"], ["shift"]),
        helper.make_node("Add", ["cols", "shift"], ["idx"]),
        helper.make_node("Gather", ["y0", "idx"], ["y"], axis=1),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5]))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def model_file(path: Path, data: bytes, labels: list[str]) -> Path:
    path.write_bytes(data)
    write(path, {**CARD, "labels": labels})
    return path


def fleet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeinfer", "fleet", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False, env={**os.environ, "COLUMNS": "250"})


def labels_since(folder: Path, start: int) -> set[str]:
    return {t["label"] for e in produced(folder)[start:] for t in e["result"]["top"]}


@pytest.fixture
def device(tmp_path: Path, mosquitto: Any) -> Path:
    model_file(tmp_path / "base.onnx", onnx_cnn_bytes(seed=0), list("abcde"))
    make_video(tmp_path / "clip.mp4", 20)
    keygen(tmp_path / "keys")
    config = {
        "device_id": DEVICE,
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "qos": 1, "queue_path": "queue.db",
                 "keepalive_s": 5, "max_rate_hz": 5},
        "streams": [{"name": "front", "source": "clip.mp4", "model": "base.onnx", "policy": "every", "loop": True,
                     "threads": 1}],
        "sinks": ["mqtt", {"type": "jsonl", "path": "produced.jsonl"}],
        "health_interval_s": 1,
        "fleet": {"groups": ["lab"], "artifact_dir": "artifacts", "public_key": "keys/fleet.pub"},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def test_push_switches_and_a_failing_model_is_rolled_back(device: Path, mosquitto: Any, wait_for: Any) -> None:
    good = model_file(device / "good.onnx", onnx_cnn_bytes(seed=1), list("vwxyz"))
    bad = model_file(device / "bad.onnx", fails_on_real_frames(), list("VWXYZ"))
    broker = f"{mosquitto.host}:{mosquitto.port}"
    daemon = start_daemon(device / "config.yaml")
    try:
        assert wait_for(lambda: len(produced(device)) >= 10, timeout_s=30)
        assert labels_since(device, 0) <= set("abcde")
        pushed = fleet("push", str(good), "--group", "lab", "--key", "keys/fleet.key", "--version", "v2",
                       "--watch-s", "1.5", "--chunk-kb", "1", "--broker", broker, "--json", cwd=device)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        out = json.loads(pushed.stdout)
        [report] = out["devices"]
        assert report["device_id"] == DEVICE and report["state"] == "running" and report["version"] == "v2"
        assert report["streams"]["front"]["sha256"] == out["sha256"] and out["chunks"] > 1
        start = len(produced(device))
        assert wait_for(lambda: len(produced(device)) > start + 10, timeout_s=15)  # results keep flowing
        assert labels_since(device, start) <= set("vwxyz")
        assert (device / "artifacts" / f"{out['sha256']}.onnx").is_file()

        refused = fleet("push", str(bad), "--group", "lab", "--key", "keys/fleet.key", "--version", "v3",
                        "--watch-s", "5", "--wait-s", "20", "--broker", broker, "--json", cwd=device)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        [report] = json.loads(refused.stdout)["devices"]
        assert report["state"] == "rolled_back" and report["version"] == "v2", report
        assert "failed at inference" in report["reason"] or "pipeline failed" in report["reason"]
        assert report["streams"]["front"]["sha256"] == out["sha256"]  # the good model runs again
        start = len(produced(device))
        assert wait_for(lambda: len(produced(device)) > start + 10, timeout_s=15)
        assert labels_since(device, start) <= set("vwxyz")

        listed = fleet("ls", "--broker", broker, "--json", cwd=device)
        assert listed.returncode == 0, listed.stderr
        [entry] = [d for d in json.loads(listed.stdout) if d["device_id"] == DEVICE]
        assert entry["reported"]["state"] == "rolled_back" and entry["health"]["streams"]["front"]
        table = fleet("ls", "--broker", broker, cwd=device)
        assert DEVICE in table.stdout and "rolled_back" in table.stdout, table.stdout + table.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
    assert code == 0, err[-3000:]
    assert "rolled back" in err
