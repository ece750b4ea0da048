"""Artifacts the example tests share, built once per session.

``digits_model`` runs examples/convert_pytorch.py itself (its test checks that run's
output), so the camera, batch and daemon examples run a real int8 model trained and
converted by an example, on a rendered video of digits it never saw.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.examples.helpers import EXAMPLES, build_detector, run_script

VIDEO_FRAMES = 36
VIDEO_WH = (320, 240)
CONVERT_EPOCHS = "10"


@dataclass(frozen=True)
class DigitsModel:
    """The int8 TFLite digits model made by convert_pytorch.py, and that run's output."""

    path: Path
    folder: Path
    run: subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class DigitsVideo:
    """An MP4 of held-out digits and the true digit of each frame."""

    path: Path
    labels: list[int]
    size_wh: tuple[int, int]


@pytest.fixture(scope="session")
def digits_model(tmp_path_factory: pytest.TempPathFactory) -> DigitsModel:
    pytest.importorskip("torch")
    pytest.importorskip("litert_torch")
    folder = tmp_path_factory.mktemp("digits-model")
    run = run_script(EXAMPLES / "convert_pytorch.py", "--out", str(folder), "--epochs", CONVERT_EPOCHS,
                     timeout_s=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return DigitsModel(folder / "digits_int8.tflite", folder, run)


@pytest.fixture(scope="session")
def digits_video(tmp_path_factory: pytest.TempPathFactory) -> DigitsVideo:
    """Held-out digits (the test split of ``load_digits_data``), 3 frames each, at 320x240."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from edgeinfer.demo.video import render_video

    digits = load_digits()
    # The same permutation and 80/20 split as edgeinfer.demo.digits.load_digits_data(seed=0).
    order = np.random.default_rng(0).permutation(len(digits.images))[int(0.8 * len(digits.images)):]
    path = tmp_path_factory.mktemp("video") / "camera.mp4"
    labels = render_video(path, digits.images[order], digits.target[order], frames=VIDEO_FRAMES, hold=3,
                          size_wh=VIDEO_WH)
    assert json.loads(Path(str(path) + ".json").read_text())["labels"] == labels
    return DigitsVideo(path, labels, VIDEO_WH)


@pytest.fixture(scope="session")
def detector_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnx")
    return build_detector(tmp_path_factory.mktemp("detector") / "tiny_yolov8.onnx")
