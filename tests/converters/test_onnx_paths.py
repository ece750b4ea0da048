"""ONNX sources: ONNX -> ONNX (re-quantize, fp16, simplify) and ONNX -> TFLite (onnx2tf + our quantization)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import converters
import edgeinfer
from tests.converters.conftest import Digits, artifact_accuracy

pytestmark = pytest.mark.slow


def test_onnx_to_int8_onnx_keeps_the_card_and_accuracy(digits: Digits, digits_artifact: Callable[..., Any],
                                                       tmp_path: Path) -> None:
    source = digits_artifact("onnx", "none").artifact
    out = tmp_path / "requantized.onnx"
    report = converters.convert(source, to="onnx", quantize="int8", calibration=digits.calib_dir,
                                calib_size=100, out=out, verbose=False)
    assert report.source_kind == "onnx" and report.converter.startswith("onnx->onnx")
    with edgeinfer.load(out) as model:
        assert model.card.task == "classification" and model.card.labels is not None  # carried over
        assert model.card.conversion is not None and model.card.conversion.source_kind == "onnx"
        assert model.inputs[0].shape[0] == -1  # the dynamic batch survives
    acc = artifact_accuracy(out, digits.x_test, digits.y_test)
    assert abs(acc - digits.float_acc) <= 1.5
    assert report.sizes_bytes["artifact"] <= 0.30 * report.sizes_bytes["source"]


def test_onnx_to_fp16_onnx_default_out_name(digits_artifact: Callable[..., Any], tmp_path: Path) -> None:
    import shutil

    source = tmp_path / "digits.onnx"
    shutil.copyfile(digits_artifact("onnx", "none").artifact, source)
    report = converters.convert(source, to="onnx", quantize="fp16", verbose=False)
    assert Path(report.artifact) == tmp_path / "digits.fp16.onnx" and report.passed
    assert report.sizes_bytes["artifact"] < 0.6 * report.sizes_bytes["source"]


@pytest.mark.skipif(importlib.util.find_spec("onnx2tf") is None, reason="onnx2tf is not installed")
def test_onnx_to_int8_tflite(digits: Digits, digits_artifact: Callable[..., Any], tmp_path: Path) -> None:
    pytest.importorskip("converters.onnx_tflite")
    source = digits_artifact("onnx", "none").artifact
    out = tmp_path / "from_onnx.tflite"
    report = converters.convert(source, to="tflite", quantize="int8", io_type="int8",
                                calibration=digits.calib_dir, calib_size=100, out=out, verbose=False)
    assert report.converter.startswith("onnx->tflite")
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (1, 32, 32, 3) and str(model.inputs[0].dtype) == "int8"
        assert model.card.preprocess.layout == "nhwc" and model.card.labels is not None
    acc = artifact_accuracy(out, digits.x_test, digits.y_test)
    assert abs(acc - digits.float_acc) <= 1.5
