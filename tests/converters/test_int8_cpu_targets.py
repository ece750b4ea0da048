"""ONNX int8 on CPUs with and without VNNI, proven on an emulated AVX2-only CPU.

ONNX Runtime picks its uint8 x int8 kernels from the CPU's ``cpuid``. On x86 without VNNI
(AVX2 only: Haswell to Skylake, Zen 1-3) they add pairs of products in int16, which
saturates with 8-bit weights. This machine may well have VNNI, so the artifacts are also
run under ``qemu-x86_64 -cpu Haswell`` (Debian ``qemu-user``): a real ONNX Runtime, whose
``cpuid`` then reports AVX2 and no VNNI, so it runs the kernels such a CPU would.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devices.cpu import read_cpu_int8
from tests.converters.conftest import Digits
from tests.converters.nets import accuracy

QEMU = shutil.which("qemu-x86_64")


def native_logits(artifact: str, x: np.ndarray) -> np.ndarray:
    import edgeinfer

    with edgeinfer.load(artifact) as model:
        return np.concatenate([next(iter(model.run(np.ascontiguousarray(item[None])).values())) for item in x])


def haswell_logits(artifact: str, x: np.ndarray) -> np.ndarray:
    """The artifact's outputs from ONNX Runtime on an emulated Haswell CPU (AVX2, no VNNI)."""
    from converters.target_kernels import emulator_command, run_artifact

    prefix = emulator_command("x86-avx2")
    if prefix is None:
        if os.environ.get("CI") == "true" and platform.machine() == "x86_64":
            pytest.fail("qemu-x86_64 is missing (Debian package qemu-user; scripts/setup.sh installs it)")
        pytest.skip("needs qemu-x86_64 on an x86_64 machine")
    assert prefix[1:] == ["-cpu", "Haswell"]
    return np.concatenate([outs[0] for outs in run_artifact(artifact, [item[None] for item in x], prefix)])


def test_int8_onnx_for_avx2_keeps_accuracy_on_an_avx2_only_cpu(digits: Digits,
                                                               digits_artifact: Callable[..., Any]) -> None:
    import edgeinfer

    avx2 = digits_artifact("onnx", "int8", target="x86-avx2")
    vnni = digits_artifact("onnx", "int8", target="x86-vnni")
    with edgeinfer.load(avx2.artifact) as model:
        recorded = model.card.conversion.quantization  # type: ignore[union-attr]
    assert recorded["cpu_target"] == "x86-avx2" and recorded["reduce_range"] is True
    assert vnni.quantization["reduce_range"] is False
    here = read_cpu_int8().target
    if here != "x86-avx2" and QEMU is not None:  # the fidelity check ran on the target's kernels
        assert recorded["fidelity_measured_on"] == "emulated x86-avx2 CPU (qemu-x86_64 -cpu Haswell)"
    else:
        assert recorded["fidelity_measured_on"].startswith("this CPU")
    assert vnni.quantization["fidelity_measured_on"].startswith("this CPU")
    x = digits.x_test
    on_haswell = {name: haswell_logits(r.artifact, x) for name, r in (("avx2", avx2), ("vnni", vnni))}
    here = {name: native_logits(r.artifact, x) for name, r in (("avx2", avx2), ("vnni", vnni))}
    acc = {name: accuracy(logits, digits.y_test) for name, logits in on_haswell.items()}
    assert abs(acc["avx2"] - digits.float_acc) <= 1.5, (acc, digits.float_acc)
    assert abs(accuracy(here["avx2"], digits.y_test) - digits.float_acc) <= 1.5
    # 7-bit weights never saturate, so both kernel families compute the same integers ...
    np.testing.assert_allclose(on_haswell["avx2"], here["avx2"], atol=1e-4)
    # ... while 8-bit ones saturate on AVX2: on a VNNI host this shows the emulated CPU really
    # ran other kernels than this one (on an AVX2-only host both runs saturate alike).
    if read_cpu_int8().target == "x86-vnni":
        assert np.abs(on_haswell["vnni"] - here["vnni"]).max() > 0.05, "the Haswell run did not use AVX2 kernels"


def test_report_says_whether_int8_is_faster_than_float_here(digits_artifact: Callable[..., Any]) -> None:
    report = digits_artifact("onnx", "int8")
    ratio = report.latency_ms["artifact"] / report.latency_ms["float_artifact"]
    assert len(report.notes) == 1
    assert f"{ratio:.2f}x the float artifact's latency on this CPU ({read_cpu_int8().target})" in report.notes[0]
    assert ("ship the float one" in report.notes[0]) == (ratio > 1.0)
    assert digits_artifact("onnx", "none").notes == []


def test_bench_compare_times_both_and_names_the_one_to_ship(digits_artifact: Callable[..., Any]) -> None:
    from click.testing import CliRunner

    from edgeinfer.cli import cli

    float_path, int8_path = (Path(digits_artifact("onnx", mode).artifact) for mode in ("none", "int8"))
    done = CliRunner().invoke(cli, ["bench", str(float_path), "--compare", str(int8_path), "--runs", "60", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)["comparison"]
    assert result["models"] == [str(float_path), str(int8_path)]
    assert result["kinds"] == ["float32", "int8"]
    assert result["sizes_bytes"] == [float_path.stat().st_size, int8_path.stat().st_size]
    assert all(p > 0 for p in result["p50_ms"])
    ratio, verdict = result["ratio"], result["verdict"]
    assert f"runs at {ratio:.2f}x the latency of {float_path.name}" in verdict
    ship = int8_path.name if ratio < 0.95 or 0.95 <= ratio <= 1.05 else float_path.name  # as fast: the smaller
    assert f"ship {'the smaller, ' if 0.95 <= ratio <= 1.05 else ''}{ship}" in verdict
    table = CliRunner().invoke(cli, ["bench", str(float_path), "--compare", str(int8_path), "--runs", "10"])
    assert table.exit_code == 0, table.output
    assert f"{float_path.name} vs {int8_path.name} on this CPU ({read_cpu_int8().target})" in table.stdout


def test_load_warns_when_the_artifact_saturates_on_this_cpu(digits_artifact: Callable[..., Any], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    import devices.cpu
    import edgeinfer

    vnni, avx2 = (digits_artifact("onnx", "int8", target=t).artifact for t in ("x86-vnni", "x86-avx2"))
    zen1 = tmp_path / "cpuinfo"  # the CPU of the machine the saturation was seen on: AVX2, no VNNI
    zen1.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7551\nflags\t\t: fpu sse4_2 avx fma avx2\n")
    monkeypatch.setattr(devices.cpu, "CPUINFO", zen1)
    monkeypatch.setattr(devices.cpu.platform, "machine", lambda: "x86_64")
    with caplog.at_level("WARNING", logger="edgeinfer"):
        edgeinfer.load(vnni).close()
        edgeinfer.load(avx2).close()
    warned = [r.getMessage() for r in caplog.records if "saturate" in r.getMessage()]
    assert len(warned) == 1 and Path(vnni).name in warned[0] and "--target x86-avx2" in warned[0]
