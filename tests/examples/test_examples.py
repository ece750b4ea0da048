"""Every script in examples/ runs as a user would run it (a video file standing in for the camera).

Each test starts the script with ``sys.executable`` and checks its exit code, what it
printed and what it wrote or published: MQTT messages through the real ``mosquitto``
broker, an annotated MP4 read back with OpenCV, model artifacts loaded with edgeinfer.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import find_free_port
from tests.examples.conftest import DigitsModel, DigitsVideo
from tests.examples.helpers import DET_LABELS, EXAMPLES, expected_boxes, import_script, run_script

pytestmark = pytest.mark.slow


def _accuracy(text: str) -> float:
    match = re.search(r"int8 accuracy on \d+ unseen digits: ([\d.]+)%", text)
    assert match, text[-2000:]
    return float(match.group(1)) / 100


def _results(payloads: list[bytes]) -> dict[int, dict[str, Any]]:
    """Envelopes by frame index (QoS 1 may deliver one twice)."""
    return {env["frame_index"]: env for env in map(json.loads, payloads)}


# -- conversion -------------------------------------------------------------------------


def test_convert_pytorch_writes_a_checked_int8_artifact_with_its_card(digits_model: DigitsModel) -> None:
    from edgeinfer.card import read

    out = digits_model.run.stdout
    assert "gates passed" in out and "fidelity" in out and "sizes:" in out
    report = json.loads(Path(str(digits_model.path) + ".report.json").read_text())
    assert report["passed"] and report["quantization"]["mode"] == "int8"
    assert report["sizes_bytes"]["artifact"] == digits_model.path.stat().st_size
    card = read(digits_model.path)
    assert card.origin == "embedded" and card.task == "classification"
    assert card.labels == tuple(str(i) for i in range(10))
    assert card.conversion is not None and card.conversion.fidelity["passed"] is True
    summary = json.loads((digits_model.folder / "summary_tflite.json").read_text())
    assert summary["int8_accuracy"] == pytest.approx(_accuracy(out), abs=0.001)
    assert summary["int8_accuracy"] > 0.85


def test_convert_keras_writes_a_checked_int8_artifact_with_its_card(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    from edgeinfer.card import read

    run = run_script(EXAMPLES / "convert_keras.py", "--out", str(tmp_path), "--epochs", "12", timeout_s=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    artifact = tmp_path / "digits_keras_int8.tflite"
    card = read(artifact)
    assert card.task == "classification" and card.conversion is not None
    assert card.conversion.quantization["mode"] == "int8"
    assert "gates passed" in run.stdout
    assert _accuracy(run.stdout) > 0.8


# -- raspberry_pi_camera.py -------------------------------------------------------------


def test_raspberry_pi_camera_publishes_every_frame_to_mqtt(
    digits_model: DigitsModel, digits_video: DigitsVideo, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path,
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "edgeinfer/ci-pi/#")
    run = run_script(EXAMPLES / "raspberry_pi_camera.py", "--source", str(digits_video.path),
                     "--model", str(digits_model.path), "--broker", f"{mosquitto.host}:{mosquitto.port}",
                     "--device-id", "ci-pi", "--queue", str(tmp_path / "queue.db"))
    assert run.returncode == 0, run.stderr[-3000:]
    frames = len(digits_video.labels)
    assert subscriber.wait_count(frames)
    results = _results(subscriber.payloads("edgeinfer/ci-pi/camera/results"))
    assert sorted(results) == list(range(frames))
    predicted = [int(results[i]["result"]["top"][0]["label"]) for i in range(frames)]
    assert np.mean(np.array(predicted) == np.array(digits_video.labels)) >= 0.8
    # The plan: which accelerator ran the model and why the Edge TPU was skipped.
    assert re.search(r"^model digits_int8\.tflite: classification on (xnnpack|cpu)$", run.stderr, re.M)
    assert re.search(r"^\s+edgetpu\s+skip\s+\S", run.stderr, re.M)
    assert re.search(r"^\s+(xnnpack|cpu)\s+used\s", run.stderr, re.M)
    assert f"{frames} results" in run.stderr


def test_raspberry_pi_camera_writes_json_lines_when_no_broker_answers(
    digits_model: DigitsModel, digits_video: DigitsVideo,
) -> None:
    run = run_script(EXAMPLES / "raspberry_pi_camera.py", "--source", str(digits_video.path),
                     "--model", str(digits_model.path), "--broker", f"127.0.0.1:{find_free_port()}",
                     "--device-id", "ci-pi", "--max-frames", "10")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "no MQTT broker answered" in run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]  # stdout holds only the JSON lines
    assert [env["frame_index"] for env in lines] == list(range(10))
    assert all(env["device_id"] == "ci-pi" and env["result"]["task"] == "classification" for env in lines)


def test_raspberry_pi_camera_picks_the_edgetpu_model_only_for_the_edge_tpu(tmp_path: Path) -> None:
    example = import_script(EXAMPLES / "raspberry_pi_camera.py")
    plain = tmp_path / "digits_int8.tflite"
    plain.write_bytes(b"")
    assert example.choose_model(plain, "auto") == plain  # no compiled model next to it
    compiled = tmp_path / "digits_int8_edgetpu.tflite"
    compiled.write_bytes(b"")
    assert example.choose_model(plain, "edgetpu") == compiled
    assert example.choose_model(plain, "xnnpack") == plain
    assert example.choose_model(plain, "auto") == (compiled if example.edgetpu_present() else plain)


# -- jetson_detector.py -----------------------------------------------------------------


def _read_video(path: Path) -> list[np.ndarray]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    ok, frame = capture.read()
    while ok:
        frames.append(frame)
        ok, frame = capture.read()
    capture.release()
    return frames


def test_jetson_detector_publishes_boxes_and_writes_an_annotated_mp4(
    detector_onnx: Path, digits_video: DigitsVideo, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path,
) -> None:
    subscriber = mqtt_subscriber(mosquitto, "edgeinfer/ci-jetson/#")
    video = tmp_path / "annotated.mp4"
    run = run_script(EXAMPLES / "jetson_detector.py", "--source", str(digits_video.path),
                     "--model", str(detector_onnx), "--broker", f"{mosquitto.host}:{mosquitto.port}",
                     "--device-id", "ci-jetson", "--video", str(video), "--queue", str(tmp_path / "queue.db"))
    assert run.returncode == 0, run.stderr[-3000:]
    frames = len(digits_video.labels)
    assert subscriber.wait_count(frames)
    results = _results(subscriber.payloads("edgeinfer/ci-jetson/csi0/results"))
    assert sorted(results) == list(range(frames))
    want = expected_boxes(digits_video.size_wh)
    for envelope in results.values():
        found = {d["label"]: d["box_xyxy"] for d in envelope["result"]["detections"]}
        assert set(found) == set(DET_LABELS)
        for label, box in found.items():
            assert box == pytest.approx(want[label], abs=1.0)
    assert re.search(r"^\s+tensorrt\s+(skip|used|failed)\s+\S", run.stderr, re.M)  # the plan is shown
    assert re.search(r"^\s+\w+\s+used\s", run.stderr, re.M)
    written, source = _read_video(video), _read_video(digits_video.path)
    assert len(written) == frames
    # The boxes are drawn: the annotated frame differs from the camera frame along the box edge.
    x1, y1, x2, _ = (int(v) for v in want["person"])
    edge = (slice(y1 - 2, y1 + 3), slice(x1, x2))
    assert np.abs(written[0][edge].astype(int) - source[0][edge].astype(int)).mean() > 20


def test_jetson_detector_expands_csi_into_the_nvargus_pipeline() -> None:
    from edgeinfer.sources import resolve_uri

    example = import_script(EXAMPLES / "jetson_detector.py")
    args = argparse.Namespace(source="csi:1", width=1920, height=1080, fps=30)
    kind, pipeline = resolve_uri(example.source_uri(args))
    assert kind == "gstreamer"
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert pipeline.endswith("appsink drop=true max-buffers=1")
    assert "width=1920,height=1080,framerate=30/1" in pipeline
    assert example.source_uri(argparse.Namespace(source="/dev/video1")) == "/dev/video1"
    help_text = run_script(EXAMPLES / "jetson_detector.py", "--help").stdout
    assert "nvarguscamerasrc sensor-id=0" in help_text


# -- batch_and_async.py -----------------------------------------------------------------


def test_batch_and_async_predicts_a_folder_and_keeps_the_loop_ticking(
    digits_model: DigitsModel, tmp_path: Path,
) -> None:
    images = tmp_path / "images"
    run = run_script(EXAMPLES / "batch_and_async.py", "--model", str(digits_model.path), "--images", str(images),
                     "--count", "12", "--batch", "5", "--requests", "200")
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(list(images.glob("*_label*.png"))) == 12
    per_file = re.findall(r"^(\d{3}_label(\d)\.png): (\d)$", run.stdout, re.M)
    assert len(per_file) == 12
    assert sum(label == got for _, label, got in per_file) >= 9
    assert re.search(r"predict_batch: 12 images", run.stdout)
    match = re.search(r"predict_async: (\d+) concurrent predictions .* ticked (\d+) times", run.stdout)
    assert match, run.stdout[-2000:]
    assert int(match.group(1)) == 200 and int(match.group(2)) >= 2
