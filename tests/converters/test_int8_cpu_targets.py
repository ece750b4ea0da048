"""ONNX int8 on CPUs with and without VNNI, proven on an emulated AVX2-only CPU.

ONNX Runtime picks its uint8 x int8 kernels from the CPU's ``cpuid``. On x86 without VNNI
(AVX2 only: Haswell to Skylake, Zen 1-3) they add pairs of products in int16, which
saturates with 8-bit weights. This machine may well have VNNI, so the artifacts are also
run under ``qemu-x86_64 -cpu Haswell`` (Debian ``qemu-user``): a real ONNX Runtime, whose
``cpuid`` then reports AVX2 and no VNNI, so it runs the kernels such a CPU would.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from devices.cpu import read_cpu_int8
from tests.converters.conftest import Digits
from tests.converters.nets import accuracy

QEMU = shutil.which("qemu-x86_64")
RUN_LOGITS = """
import sys, numpy as np, edgeinfer
x = np.load(sys.argv[2])
with edgeinfer.load(sys.argv[1]) as model:
    logits = [next(iter(model.run(np.ascontiguousarray(item[None])).values())) for item in x]
np.save(sys.argv[3], np.concatenate(logits))
"""


def native_logits(artifact: str, x: np.ndarray) -> np.ndarray:
    import edgeinfer

    with edgeinfer.load(artifact) as model:
        return np.concatenate([next(iter(model.run(np.ascontiguousarray(item[None])).values())) for item in x])


def haswell_logits(artifact: str, x: np.ndarray, tmp_path: Path) -> np.ndarray:
    """The artifact's outputs from ONNX Runtime on an emulated Haswell CPU (AVX2, no VNNI)."""
    if platform.machine() != "x86_64" or QEMU is None:
        if os.environ.get("CI") == "true" and platform.machine() == "x86_64":
            pytest.fail("qemu-x86_64 is missing (Debian package qemu-user; scripts/setup.sh installs it)")
        pytest.skip("needs qemu-x86_64 on an x86_64 machine")
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run(
        [QEMU, "-cpu", "Haswell", sys.executable, "-c", RUN_LOGITS, artifact, str(tmp_path / "x.npy"),
         str(tmp_path / "logits.npy")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "logits.npy")


def test_int8_onnx_for_avx2_keeps_accuracy_on_an_avx2_only_cpu(digits: Digits, digits_artifact: Callable[..., Any],
                                                               tmp_path: Path) -> None:
    import edgeinfer

    avx2 = digits_artifact("onnx", "int8", target="x86-avx2")
    vnni = digits_artifact("onnx", "int8", target="x86-vnni")
    with edgeinfer.load(avx2.artifact) as model:
        recorded = model.card.conversion.quantization  # type: ignore[union-attr]
    assert recorded["cpu_target"] == "x86-avx2" and recorded["reduce_range"] is True
    assert vnni.quantization["reduce_range"] is False
    x = digits.x_test
    on_haswell = {name: haswell_logits(r.artifact, x, tmp_path) for name, r in (("avx2", avx2), ("vnni", vnni))}
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
