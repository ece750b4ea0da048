"""Shared converter fixtures: trained digits CNN, a MobileNetV2-shaped CNN, calibration images.

Conversions are expensive, so artifacts are made once per session and shared
(``digits_artifacts`` caches ``(target, quantize, io_type) -> ConversionReport``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from tests.converters.nets import accuracy, digits_data, mobilenet_v2_like, train_digits_cnn

DIGITS_CARD = {
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "preprocess": {"color": "rgb", "resize": "stretch", "mean": [0, 0, 0], "std": [255, 255, 255]},
    "postprocess": {"activation": "softmax", "top_k": 3},
}


@dataclass
class Digits:
    """The trained digits model and its data; ``float_acc`` is the torch model's test accuracy (%)."""

    net: Any
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    float_acc: float
    calib_dir: Path


def _write_images(folder: Path, images: np.ndarray) -> Path:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        pixels = np.rint(image.transpose(1, 2, 0) * 255).astype(np.uint8)  # RGB
        cv2.imwrite(str(folder / f"digit_{i:04d}.png"), pixels[:, :, ::-1])
    return folder


@pytest.fixture(scope="session")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Digits:
    import torch

    torch.set_num_threads(2)
    x_train, y_train, x_test, y_test = digits_data()
    net = train_digits_cnn(x_train, y_train)
    with torch.no_grad():
        float_acc = accuracy(net(torch.from_numpy(x_test)).numpy(), y_test)
    calib_dir = _write_images(tmp_path_factory.mktemp("digits_calib"), x_train[:300])
    return Digits(net, x_train, y_train, x_test, y_test, float_acc, calib_dir)


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="session")
def digits_artifact(digits: Digits, artifacts_dir: Path) -> Callable[..., Any]:
    """``make(to, quantize="none", io_type="float32", method="minmax", target="auto") -> ConversionReport``, cached."""
    import converters

    cache: dict[tuple[str, str, str, str, str], Any] = {}

    def make(to: str, quantize: str = "none", io_type: str = "float32", method: str = "minmax",
             target: str = "auto") -> Any:
        key = (to, quantize, io_type, method, target)
        if key not in cache:
            out = artifacts_dir / f"digits_{quantize}_{io_type}_{method}_{target}.{to}"
            cache[key] = converters.convert(
                digits.net, to=to, quantize=quantize, io_type=io_type, calibration=digits.calib_dir,
                calib_size=100, card=DIGITS_CARD, input_shape=(1, 3, 32, 32), out=out,
                calibration_method=method, target=target, verbose=False,
            )
        return cache[key]

    return make


@pytest.fixture(scope="session")
def mobilenet() -> Any:
    return mobilenet_v2_like()


@pytest.fixture(scope="session")
def mobilenet_calib() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.random((1, 3, 64, 64), dtype=np.float32) for _ in range(24)]


def artifact_accuracy(path: str | Path, x_nchw: np.ndarray, y: np.ndarray) -> float:
    """Accuracy (%) of an artifact run with ``Model.run`` one sample at a time (NHWC when it wants)."""
    import edgeinfer

    with edgeinfer.load(path) as model:
        nhwc = model.inputs[0].shape[-1] == 3
        logits = []
        for x in x_nchw:
            feed = x.transpose(1, 2, 0)[None] if nhwc else x[None]
            logits.append(next(iter(model.run(np.ascontiguousarray(feed)).values())))
    return accuracy(np.concatenate(logits), y)
