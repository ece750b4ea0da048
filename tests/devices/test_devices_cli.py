"""``edgeinfer devices``: the inventory and plan tables, and the same data as JSON."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from edgeinfer.backends import plan, probe
from edgeinfer.cli import cli


@pytest.fixture
def runner():
    # A wide terminal so rich does not wrap the reasons in the tables.
    return CliRunner(env={"COLUMNS": "250"})


def _pi5_with_gpu_delegate(machine):
    machine.device_tree("Raspberry Pi 5 Model B Rev 1.0")
    machine.library("libtensorflowlite_gpu_delegate.so")
    return machine.root


def test_table_shows_board_runtimes_and_both_plans(runner, machine):
    root = _pi5_with_gpu_delegate(machine)

    result = runner.invoke(cli, ["devices", "--root", str(root)])

    assert result.exit_code == 0, result.output
    out = result.output
    assert "Raspberry Pi 5 Model B Rev 1.0" in out
    assert "raspberry_pi_5" in out
    assert f"ai_edge_litert {version('ai-edge-litert')}" in out
    assert f"onnxruntime {version('onnxruntime')}" in out
    assert "tflite plan" in out and "onnx plan" in out
    assert "accelerator" in out and "status" in out and "reason" in out
    gpu_row = next(line for line in out.splitlines() if " gpu " in line)
    assert "try" in gpu_row and "libtensorflowlite_gpu_delegate.so" in gpu_row
    edgetpu_row = next(line for line in out.splitlines() if " edgetpu " in line)
    assert "skip" in edgetpu_row and "no Coral USB" in edgetpu_row
    assert "tflite: would use xnnpack" in out  # the Pi profile puts XNNPACK before the GPU
    assert "onnx: would use cpu" in out
    assert "Setup notes for this board" in out


def test_json_has_inventory_and_plans_for_both_backends(runner, machine):
    root = _pi5_with_gpu_delegate(machine)

    result = runner.invoke(cli, ["devices", "--json", "--root", str(root)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert set(report) == {"inventory", "plans"}
    inventory = probe(root)
    assert report["inventory"]["board"] == inventory.board
    assert report["inventory"]["profile"] == "raspberry_pi_5"
    assert report["inventory"]["default_threads"] == inventory.default_threads
    for backend in ("tflite", "onnx"):
        expected = [s.to_dict() for s in plan(inventory, backend)]
        assert report["plans"][backend] == expected
    statuses = {s["accelerator"]: s["status"] for s in report["plans"]["tflite"]}
    assert statuses == {"xnnpack": "try", "cpu": "try", "gpu": "try", "edgetpu": "skip", "nnapi": "skip"}


def test_model_compiled_for_the_edgetpu_plans_edgetpu_only(runner, machine, tflite_model):
    machine.usb_device("2-1", "1a6e", "089a")
    machine.library("libedgetpu.so.1")
    model = tflite_model("model_edgetpu.tflite", custom_op="edgetpu-custom-op")

    result = runner.invoke(cli, ["devices", "--json", "--root", str(machine.root), "--model", str(model)])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model"] == {"path": str(model), "kind": "tflite", "edgetpu_compiled": True}
    assert list(report["plans"]) == ["tflite"]
    tried = [s["accelerator"] for s in report["plans"]["tflite"] if s["status"] == "try"]
    assert tried == ["edgetpu"]


def test_plain_tflite_model_skips_the_edgetpu(runner, machine, tflite_model):
    machine.usb_device("2-1", "1a6e", "089a")
    machine.library("libedgetpu.so.1")

    result = runner.invoke(cli, ["devices", "--root", str(machine.root), "--model", str(tflite_model())])

    assert result.exit_code == 0, result.output
    edgetpu_row = next(line for line in result.output.splitlines() if " edgetpu " in line)
    assert "skip" in edgetpu_row and "not compiled for the Edge TPU" in edgetpu_row
    assert "onnx plan" not in result.output


def test_a_file_that_is_not_a_model_exits_with_the_model_error_code(runner, machine, tmp_path):
    machine.root.mkdir(parents=True)
    bogus = tmp_path / "notes.tflite"
    bogus.write_bytes(b"not a model at all, just text")

    result = runner.invoke(cli, ["devices", "--root", str(machine.root), "--model", str(bogus)])

    assert result.exit_code == 65
    assert "notes.tflite" in result.output


def test_root_option_is_hidden(runner):
    result = runner.invoke(cli, ["devices", "--help"])

    assert result.exit_code == 0
    assert "--json" in result.output and "--model" in result.output
    assert "--root" not in result.output


@pytest.mark.parametrize(("flags", "target", "advice"), [
    ("fpu sse4_2 avx fma avx2", "x86-avx2", "--target x86-avx2"),
    ("fpu avx2 avx512f avx512_vnni", "x86-vnni", "exact (VNNI)"),
])
def test_cpu_int8_features_are_reported(runner, machine, flags, target, advice):
    machine.write("/proc/cpuinfo", f"processor\t: 0\nflags\t\t: {flags}\n")
    table = runner.invoke(cli, ["devices", "--root", str(machine.root)])
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if line.startswith("CPU int8"))
    assert f"ONNX int8 kernels {target}" in row and advice in row
    report = json.loads(runner.invoke(cli, ["devices", "--json", "--root", str(machine.root)]).output)
    assert report["inventory"]["cpu_int8"]["target"] == target
    assert "avx2" in report["inventory"]["cpu_int8"]["features"]
