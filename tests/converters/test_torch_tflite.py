"""PyTorch -> TFLite (litert-torch + ai-edge-quantizer) on a CNN trained on real digits."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from tests.converters.conftest import Digits, artifact_accuracy

pytestmark = pytest.mark.slow


def test_float_tflite_is_nhwc_with_embedded_card_and_matches_source(digits_artifact: Callable[..., Any]) -> None:
    report = digits_artifact("tflite", "none")
    assert report.passed and report.outputs[0].cosine > 0.99999
    with edgeinfer.load(report.artifact) as model:
        assert model.inputs[0].shape == (1, 32, 32, 3)  # NCHW source, NHWC artifact
        assert model.card.origin == "embedded"
        assert model.card.task == "classification" and model.card.labels == tuple(str(i) for i in range(10))
        assert model.card.preprocess.layout == "nhwc"
        conversion = model.card.conversion
        assert conversion is not None and conversion.source_kind == "torch"
        assert len(conversion.source_sha256 or "") == 64 and "torch" in conversion.versions
        assert conversion.fidelity["passed"] is True
    saved = json.loads(Path(report.artifact + ".report.json").read_text())
    assert saved["outputs"][0]["cosine"] == pytest.approx(report.outputs[0].cosine)


@pytest.mark.parametrize("io_type", ["float32", "int8", "uint8"])
def test_int8_tflite_keeps_accuracy_and_io_type(digits: Digits, digits_artifact: Callable[..., Any],
                                                io_type: str) -> None:
    report = digits_artifact("tflite", "int8", io_type)
    float_report = digits_artifact("tflite", "none")
    with edgeinfer.load(report.artifact) as model:
        assert str(model.inputs[0].dtype) == io_type and str(model.outputs[0].dtype) == io_type
        assert (model.inputs[0].quant is None) == (io_type == "float32")
    acc = artifact_accuracy(report.artifact, digits.x_test, digits.y_test)
    assert abs(acc - digits.float_acc) <= 1.5, (acc, digits.float_acc)
    assert report.sizes_bytes["artifact"] <= 0.30 * float_report.sizes_bytes["artifact"]
    assert report.quantization == {"mode": "int8", "io_type": io_type, "calibration_method": "minmax",
                                   "calibration_samples": 100}
    # min/max calibration over all samples (not ai-edge-quantizer's moving average, which gave 0.990)
    assert report.outputs[0].cosine >= 0.999 and report.outputs[0].top1_agreement >= 0.97


@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_fp16_and_dynamic_tflite(digits: Digits, digits_artifact: Callable[..., Any], mode: str) -> None:
    report = digits_artifact("tflite", mode)
    float_size = digits_artifact("tflite", "none").sizes_bytes["artifact"]
    assert report.passed
    ratio = report.sizes_bytes["artifact"] / float_size
    assert ratio < (0.6 if mode == "fp16" else 0.4), ratio  # weights dominate this model
    acc = artifact_accuracy(report.artifact, digits.x_test, digits.y_test)
    assert abs(acc - digits.float_acc) <= 1.0


@pytest.mark.parametrize("to,mode,io_type", [("tflite", "none", "float32"), ("tflite", "int8", "uint8"),
                                              ("onnx", "none", "float32"), ("onnx", "int8", "float32")])
def test_predict_on_artifact_agrees_with_source(digits: Digits, digits_artifact: Callable[..., Any], to: str,
                                                mode: str, io_type: str) -> None:
    """Model.predict (BGR frame -> preprocess from the embedded card -> decode) agrees with torch."""
    import torch

    report = digits_artifact(to, mode, io_type)
    frames = [np.rint(x.transpose(1, 2, 0)[:, :, ::-1] * 255).astype(np.uint8) for x in digits.x_test[:40]]
    rgb = np.stack([f[:, :, ::-1].transpose(2, 0, 1) / 255.0 for f in frames]).astype(np.float32)
    with torch.no_grad():
        expected = digits.net(torch.from_numpy(rgb)).numpy().argmax(axis=1)
    with edgeinfer.load(report.artifact) as model:
        assert model.card.origin == "embedded"
        got = [model.predict(f).to_dict()["top"][0]["class_id"] for f in frames]
    assert np.mean(np.asarray(got) == expected) >= 0.95
