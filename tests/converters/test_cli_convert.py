"""``edgeinfer convert`` from the command line: TorchScript and torch.export sources, card flags."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgeinfer
from edgeinfer.cli import cli
from tests.converters.conftest import Digits

pytestmark = pytest.mark.slow


def test_cli_converts_pt2_to_int8_tflite_with_labels_and_preprocess(digits: Digits, tmp_path: Path) -> None:
    import torch

    program = torch.export.export(digits.net, (torch.rand(1, 3, 32, 32),))
    torch.export.save(program, str(tmp_path / "digits.pt2"))
    (tmp_path / "labels.txt").write_text("\n".join(f"digit-{i}" for i in range(10)) + "\n")
    out = tmp_path / "digits.tflite"
    result = CliRunner().invoke(cli, [
        "convert", str(tmp_path / "digits.pt2"), "--to", "tflite", "--quantize", "int8",
        "--calib", str(digits.calib_dir), "--calib-size", "64", "--labels", str(tmp_path / "labels.txt"),
        "--task", "classification", "--preprocess", "std=255", "--io-type", "uint8", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    report = json.loads(Path(str(out) + ".report.json").read_text())
    assert report["passed"] and report["quantization"]["calibration_samples"] == 64
    with edgeinfer.load(out) as model:
        assert model.card.labels is not None and model.card.labels[3] == "digit-3"
        assert model.card.preprocess.std == (255.0, 255.0, 255.0)
        assert str(model.inputs[0].dtype) == "uint8"
        frame = np.rint(digits.x_test[0].transpose(1, 2, 0)[:, :, ::-1] * 255).astype(np.uint8)
        assert model.predict(frame).to_dict()["top"][0]["label"] == f"digit-{digits.y_test[0]}"


def test_cli_converts_torchscript_to_onnx(digits: Digits, tmp_path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still common
        scripted = torch.jit.trace(digits.net, torch.rand(1, 3, 32, 32))
        scripted.save(str(tmp_path / "digits.pt"))
    out = tmp_path / "digits.onnx"
    args = ["convert", str(tmp_path / "digits.pt"), "--to", "onnx", "--out", str(out)]
    missing = CliRunner().invoke(cli, args)
    assert missing.exit_code == 70 and "input shape" in missing.output.lower()
    assert not out.exists()
    result = CliRunner().invoke(cli, [*args, "--input-shape", "1,3,32,32"])
    assert result.exit_code == 0, result.output
    x = digits.x_test[:1]  # TorchScript graphs come back with the batch fixed to the traced one
    with edgeinfer.load(out) as model, torch.no_grad():
        np.testing.assert_allclose(model.run(x)["output"], digits.net(torch.from_numpy(x)).numpy(), atol=1e-4)


def test_cli_bad_option_values_exit_with_usage_or_config_codes(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not a model at all")
    runner = CliRunner()
    bad_shape = runner.invoke(cli, ["convert", str(model), "--to", "onnx", "--input-shape", "a,b",
                                    "--out", str(tmp_path / "o.onnx")])
    assert bad_shape.exit_code == 78 and "--input-shape" in bad_shape.output
    not_model = runner.invoke(cli, ["convert", str(model), "--to", "onnx", "--out", str(tmp_path / "o.onnx")])
    assert not_model.exit_code == 70 and "not a valid ONNX model" in not_model.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


