"""The fidelity check on the kernels of the CPUs an int8 ONNX artifact is for.

ONNX Runtime picks its int8 kernels from the CPU it runs on (:mod:`devices.cpu`), so an
artifact checked on a VNNI laptop but meant for AVX2-only gateways (``--target x86-avx2``)
would be checked on the wrong kernels. When this machine's kernel family is not the
target's and the target's can be emulated here (``qemu-x86_64 -cpu Haswell`` from Debian's
``qemu-user``, whose ``cpuid`` reports AVX2 and no VNNI), the artifact's outputs for the
check are computed under that emulation instead; otherwise the report says which kernels
the figures come from.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from converters.fidelity import FidelityResult, compare_outputs
from converters.layout import match_output

__all__ = ["EMULATED_CPUS", "check_on_target", "emulator_command", "run_artifact"]

# Kernel families this machine may lack, and the qemu CPU model whose cpuid gives them.
EMULATED_CPUS = {"x86-avx2": "Haswell"}
_RUN = """
import sys, numpy as np, edgeinfer
feeds = np.load(sys.argv[2])
with edgeinfer.load(sys.argv[1]) as model:
    outs = [list(model.run(feeds[f"arr_{k}"]).values()) for k in range(len(feeds.files))]
np.savez(sys.argv[3], **{f"{i}_{j}": v for i, out in enumerate(outs) for j, v in enumerate(out)})
"""


def emulator_command(cpu_target: str) -> list[str] | None:
    """The command prefix that runs a program on an emulated CPU of ``cpu_target``, or ``None``
    when it cannot be emulated here (no ``qemu-x86_64``, not an x86-64 machine, or a family
    not in :data:`EMULATED_CPUS`)."""
    model = EMULATED_CPUS.get(cpu_target)
    qemu = shutil.which("qemu-x86_64")
    if model is None or qemu is None or platform.machine() != "x86_64":
        return None
    return [qemu, "-cpu", model]


def run_artifact(artifact: str | Path, feeds: Sequence[np.ndarray],
                 prefix: Sequence[str] = ()) -> list[list[np.ndarray]]:
    """Run an artifact with ``Model.run`` on each feed in a child process, under ``prefix``
    (:func:`emulator_command`; empty: this CPU).

    Returns:
        Per feed, the outputs in the model's order.

    Raises:
        RuntimeError: the child failed (its stderr's end in the message).
    """
    with tempfile.TemporaryDirectory(prefix="edgeinfer-emulated-") as tmp:
        np.savez(Path(tmp) / "feeds.npz", *feeds)
        done = subprocess.run([*prefix, sys.executable, "-c", _RUN, str(artifact), str(Path(tmp) / "feeds.npz"),
                               str(Path(tmp) / "outs.npz")], capture_output=True, text=True, timeout=1800,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        with np.load(Path(tmp) / "outs.npz") as saved:
            count = max(int(k.split("_")[1]) for k in saved.files) + 1
            return [[saved[f"{i}_{j}"] for j in range(count)] for i in range(len(feeds))]


def check_on_target(fid: FidelityResult, artifact: Path, inputs: Sequence[np.ndarray],
                    permutation: tuple[int, ...] | None, cpu_target: str) -> tuple[FidelityResult, str]:
    """Recompute the artifact side of ``fid`` on ``cpu_target``'s kernels when this CPU has others.

    Args:
        fid: The check as measured on this machine.
        artifact: The int8 ONNX artifact.
        inputs: The check's samples, in the source's layout.
        permutation: Source to artifact layout transpose, or ``None``.
        cpu_target: The CPUs the artifact is for (``x86-avx2``, ``x86-vnni``, ``arm64``).

    Returns:
        The (possibly recomputed) fidelity, and where its artifact outputs were computed.
    """
    from devices.cpu import read_cpu_int8

    here = read_cpu_int8().target
    prefix = None if cpu_target == here else emulator_command(cpu_target)
    if prefix is None:
        if cpu_target == here:
            return fid, f"this CPU ({here} kernels)"
        return fid, (f"this CPU ({here} kernels; {cpu_target} ones could not be run here: for 7-bit weights both "
                     "compute the same integers, for 8-bit ones x86-avx2 is the worst case)")
    feeds = [np.ascontiguousarray(x.transpose(permutation)) if permutation else x for x in inputs]
    try:
        per_sample = run_artifact(artifact, feeds, prefix)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return fid, f"this CPU ({here} kernels; the emulated {cpu_target} run failed: {exc})"
    candidate = [np.concatenate([match_output(np.asarray(sample[i], np.float32), (1, *ref.shape[1:]))
                                 for sample in per_sample]) for i, ref in enumerate(fid.source_outputs)]
    outputs = compare_outputs(fid.names, fid.source_outputs, candidate)
    return replace(fid, outputs=outputs, artifact_outputs=candidate), \
        f"emulated {cpu_target} CPU (qemu-x86_64 -cpu {EMULATED_CPUS[cpu_target]})"
