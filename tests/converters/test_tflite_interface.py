"""Changing an int8 TFLite model's I/O type to uint8 or float32 keeps its numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from converters.tflite_interface import ensure_signature, set_io_type
from converters.tflite_quantize import quantize_tflite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    import torch

    from converters.base import ExportOptions
    from converters.torch_source import load_torch_source
    from converters.torch_tflite import torch_to_tflite

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 4))
    folder = tmp_path_factory.mktemp("iface")
    source = load_torch_source(net, (1, 3, 16, 16))
    torch_to_tflite(source, folder / "float.tflite", ExportOptions())
    calib = [np.random.default_rng(i).random((1, 16, 16, 3), dtype=np.float32) for i in range(16)]
    quantize_tflite(folder / "float.tflite", folder / "int8.tflite", "int8", calib, io_type="int8")
    return folder / "int8.tflite", calib


def _run(path: Path, x: np.ndarray) -> tuple[Any, np.ndarray]:
    with edgeinfer.load(path) as model:
        return model.inputs[0], next(iter(model.run(x).values()))


@pytest.mark.parametrize("io_type", ["uint8", "float32"])
def test_io_type_changes_and_outputs_stay(int8_model: tuple[Path, list[np.ndarray]], io_type: str,
                                          tmp_path: Path) -> None:
    path, calib = int8_model
    edited = tmp_path / f"{io_type}.tflite"
    edited.write_bytes(set_io_type(path.read_bytes(), io_type))
    spec_int8, ref = _run(path, calib[0])
    spec, got = _run(edited, calib[0])
    assert str(spec.dtype) == io_type
    if io_type == "uint8":
        assert spec.quant is not None and spec_int8.quant is not None
        assert spec.quant[1] == spec_int8.quant[1] + 128 and spec.quant[0] == pytest.approx(spec_int8.quant[0])
    else:
        assert spec.quant is None
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_ensure_signature_keeps_existing_one(int8_model: tuple[Path, list[np.ndarray]]) -> None:
    data = int8_model[0].read_bytes()
    assert ensure_signature(data) == data
