"""Bad input never leaves a partial artifact: every case is a ConversionError/ConfigError that says what to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import converters
from converters.report import FidelityError
from edgeinfer.errors import ConfigError, ConversionError


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture(scope="module")
def tiny_net() -> Any:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()


@pytest.mark.parametrize("name,data", [("model.onnx", b"\x08garbage" * 10), ("model.pt", b"PK\x03\x04junk"),
                                       ("model.pt2", b"")])
def test_a_file_that_is_not_a_model(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(ConversionError) as info:
        converters.convert(tmp_path / name, to="onnx", input_shape=(1, 3, 8, 8), out=tmp_path / "out.onnx",
                           verbose=False)
    assert name in str(info.value) and ("not" in str(info.value))
    assert _leftovers(tmp_path, {name}) == []


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"1234")
    with pytest.raises(ConversionError, match=r"unknown model file type '\.bin'"):
        converters.convert(tmp_path / "weights.bin", to="onnx", out=tmp_path / "o.onnx", verbose=False)
    with pytest.raises(ConversionError, match="no such file"):
        converters.convert(tmp_path / "absent.onnx", to="onnx", out=tmp_path / "o.onnx", verbose=False)


def test_wrong_input_shape(tiny_net: Any, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"does not run on input shape \[1, 5, 16, 16\]"):
        converters.convert(tiny_net, to="onnx", input_shape=(1, 5, 16, 16), out=tmp_path / "o.onnx",
                           verbose=False)
    with pytest.raises(ConversionError, match="input shape of a PyTorch model is unknown"):
        converters.convert(tiny_net, to="onnx", out=tmp_path / "o.onnx", verbose=False)
    assert _leftovers(tmp_path, set()) == []


def test_bad_option_values_name_the_choices(tiny_net: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quantize='int4' is not one of none, fp16, dynamic, int8"):
        converters.convert(tiny_net, to="onnx", quantize="int4", out=tmp_path / "o.onnx")
    with pytest.raises(ConfigError, match="to='coreml'"):
        converters.convert(tiny_net, to="coreml", out=tmp_path / "o.onnx")
    with pytest.raises(ConversionError, match="needs calibration data"):
        converters.convert(tiny_net, to="onnx", quantize="int8", input_shape=(1, 3, 8, 8),
                           out=tmp_path / "o.onnx", verbose=False)


def test_edgetpu_without_compiler_says_how_to_install(tiny_net: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no edgetpu_compiler here
    with pytest.raises(ConversionError, match="apt-get install edgetpu-compiler"):
        converters.convert(tiny_net, to="tflite", quantize="int8", edgetpu=True, out=tmp_path / "o.tflite")
    with pytest.raises(ConversionError, match="full-integer"):
        converters.convert(tiny_net, to="onnx", quantize="int8", edgetpu=True, out=tmp_path / "o.onnx")


@pytest.mark.slow
def test_gate_failure_raises_with_report_and_writes_nothing(tiny_net: Any, tmp_path: Path) -> None:
    calib = [np.random.default_rng(i).random((1, 3, 8, 8), dtype=np.float32) for i in range(8)]
    out = tmp_path / "tiny.onnx"
    with pytest.raises(FidelityError) as info:
        converters.convert(tiny_net, to="onnx", quantize="int8", calibration=calib, input_shape=(1, 3, 8, 8),
                           out=out, thresholds={"cosine": 1.01}, verbose=False)
    report = info.value.report
    assert not report.passed and report.failures and "cosine" in report.failures[0]
    assert 0.9 < report.outputs[0].cosine <= 1.0
    assert "Nothing was written" in str(info.value)
    assert _leftovers(tmp_path, set()) == []
    accepted = converters.convert(tiny_net, to="onnx", quantize="int8", calibration=calib,
                                  input_shape=(1, 3, 8, 8), out=out, thresholds={"cosine": 1.01}, check=False,
                                  verbose=False)
    assert accepted.passed and accepted.thresholds is None and out.is_file()
    assert _leftovers(tmp_path, set()) == ["tiny.onnx", "tiny.onnx.report.json"]


@pytest.mark.slow
def test_an_op_the_target_cannot_express(tmp_path: Path) -> None:
    import torch

    class Svd(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            return torch.linalg.svdvals(x)

    with pytest.raises(ConversionError, match="litert-torch could not convert") as info:
        converters.convert(Svd(), to="tflite", input_shape=(1, 4, 4), out=tmp_path / "svd.tflite", verbose=False)
    assert "rewritten" in str(info.value)
    assert _leftovers(tmp_path, set()) == []
