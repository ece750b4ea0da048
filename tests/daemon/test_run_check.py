"""``edgeinfer run --check``: the files, devices and models a config names, without running it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edgeinfer.cli import cli
from tests.daemon.helpers import make_model, make_video, write_config

NO_BROKER = SimpleNamespace(host="127.0.0.1", port=1)  # --check never connects


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    make_model(tmp_path)
    make_video(tmp_path / "clip.mp4", 3)
    (tmp_path / "frames").mkdir()
    monkeypatch.chdir(tmp_path)  # sources are opened from the working directory, as by run
    return tmp_path


def check(folder: Path, **stream: Any) -> tuple[int, str, str]:
    control = stream.pop("control", None)
    extra = {"control": control} if control is not None else {}
    config = write_config(folder, NO_BROKER, source=stream.pop("source", "clip.mp4"), stream_extra=stream, **extra)
    result = CliRunner().invoke(cli, ["run", "--check", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_a_good_config_prints_what_was_checked(folder: Path) -> None:
    code, out, err = check(folder)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"  streams.0 (front).model: {folder / 'cls.tflite'} loads (xnnpack, task classification)"
    assert lines[1] == "  streams.0 (front).source: clip.mp4 is a video file"
    assert lines[2].endswith("valid (1 stream(s), sinks: mqtt, jsonl)")


@pytest.mark.parametrize(("stream", "code", "message"), [
    ({"model": "missing.tflite"}, 65, "streams.0 (front).model: the model file {folder}/missing.tflite does not exist"),
    ({"model": "corrupt.tflite"}, 65, "streams.0 (front).model: {folder}/corrupt.tflite: not a TFLite model"),
    ({"card_overrides": {"task": "juggling"}}, 78, "streams.0 (front).model: "),
    ({"accelerator": "edgetpu"}, 69, "streams.0 (front).model: "),
    ({"source": "missing.mp4"}, 74, "streams.0 (front).source: Source 'missing.mp4' is not a camera"),
    ({"source": "/dev/video9"}, 74, "streams.0 (front).source: the camera /dev/video9 does not exist"),
    ({"source": 9}, 74, "streams.0 (front).source: the camera /dev/video9 does not exist"),
    ({"source": "frames/*.jpg"}, 74, "streams.0 (front).source: no images found at 'frames/*.jpg'"),
    ({"source": "frames"}, 74, "streams.0 (front).source: no images found at 'frames'"),
    ({"source": "rtsp:///live"}, 74, "streams.0 (front).source: the stream URL 'rtsp:///live' has no host"),
    ({"control": {"model_dir": "models"}}, 78, "control.model_dir: {folder}/models is not a folder"),
], ids=["missing-model", "corrupt-model", "bad-card-override", "absent-accelerator", "missing-file",
        "missing-camera", "missing-camera-index", "empty-glob", "empty-folder", "bad-url", "missing-model-dir"])
def test_each_failure_exits_with_its_code_naming_the_stream_and_key(
    folder: Path, stream: dict[str, Any], code: int, message: str
) -> None:
    (folder / "corrupt.tflite").write_bytes(b"\0\0\0\0TFL4 not a model")
    got, out, err = check(folder, **stream)
    assert got == code, (out, err)
    assert f"error: {message.format(folder=folder)}" in err
    assert "valid" not in out


@pytest.mark.parametrize(("source", "line"), [
    ("rtsp://cam.local:8554/live", "rtsp://cam.local:8554/live parses (not opened)"),
    ("picam:0", "picam:0 is a picamera2 source (not opened)"),
    ("frames", "frames: 1 image(s)"),
])
def test_urls_and_pi_cameras_are_not_opened_and_folders_are_counted(folder: Path, source: str, line: str) -> None:
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(folder / "frames" / "a.png"), np.zeros((4, 4, 3), np.uint8))
    code, out, err = check(folder, source=source)
    assert code == 0, err
    assert f"streams.0 (front).source: {line}" in out


def test_keys_only_checks_no_files_and_needs_check(folder: Path) -> None:
    config = write_config(folder, NO_BROKER, source="/dev/video9", stream_extra={"model": "elsewhere.tflite"})
    keys_only = CliRunner().invoke(cli, ["run", "--check", "--keys-only", str(config)])
    assert keys_only.exit_code == 0, keys_only.stderr
    assert keys_only.stdout.splitlines() == [f"{config}: valid (1 stream(s), sinks: mqtt, jsonl)"]
    alone = CliRunner().invoke(cli, ["run", "--keys-only", str(config)])
    assert alone.exit_code == 2 and "--keys-only goes with --check" in alone.stderr
