"""The CPU's int8 features, and the int8 kernel family ("target") they give ONNX Runtime.

ONNX Runtime runs QDQ int8 models (uint8 activations x int8 weights, "U8S8") with one of
three kernel families. Which one depends on the CPU, and one of them can be wrong:

=============  =================================================  ============================
target         CPUs                                               uint8 x int8 products
=============  =================================================  ============================
``x86-vnni``   x86 with AVX-VNNI or AVX512-VNNI (Ice Lake, Zen 4)  exact (``vpdpbusd``)
``x86-avx2``   x86 with AVX2 but no VNNI (Haswell..Skylake, Zen1-3) pairs summed in int16: they
                                                                  saturate unless weights use
                                                                  7 bits (``reduce_range``)
``arm64``      64-bit ARM (Raspberry Pi 4/5, Jetson)              exact (dot product or widening)
=============  =================================================  ============================

Pure functions of ``/proc/cpuinfo`` text and the machine name, so they are testable with
any CPU's text. Standard library only.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CPU_TARGETS", "INT8_FLAGS", "CpuInt8", "read_cpu_int8", "saturates_u8s8"]

CPU_TARGETS = ("x86-avx2", "x86-vnni", "arm64")
# cpuinfo flag names of the int8 features that matter (x86 "flags", ARM "Features").
INT8_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm", "sve")
_X86 = ("x86_64", "amd64", "i386", "i686")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuInt8:
    """What this CPU offers int8 inference.

    Attributes:
        machine: ``platform.machine()`` (``x86_64``, ``aarch64`` ...).
        features: The int8-relevant flags present, from :data:`INT8_FLAGS`.
        target: The ONNX Runtime int8 kernel family: ``x86-vnni``, ``x86-avx2`` or ``arm64``.
    """

    machine: str
    features: tuple[str, ...]
    target: str

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"machine": self.machine, "features": list(self.features), "target": self.target}


def read_cpu_int8(cpuinfo: str | None = None, machine: str | None = None) -> CpuInt8:
    """Read the int8 features of this CPU (or of the given ``/proc/cpuinfo`` text).

    Args:
        cpuinfo: ``/proc/cpuinfo`` contents; read from the file when ``None`` (empty when
            it cannot be read).
        machine: The architecture name; ``platform.machine()`` when ``None``.

    Returns:
        The features and the kernel family; never raises.
    """
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    machine = (machine or platform.machine()).lower()
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    features = tuple(f for f in INT8_FLAGS if f in flags)
    if machine not in _X86:
        return CpuInt8(machine, features, "arm64")
    return CpuInt8(machine, features, "x86-vnni" if {"avx512_vnni", "avx_vnni"} & flags else "x86-avx2")


def saturates_u8s8(reduce_range: bool, cpu_target: str) -> bool:
    """True when a uint8 x int8 (U8S8) artifact loses accuracy on CPUs of ``cpu_target``.

    Args:
        reduce_range: Whether the artifact's weights use 7 bits (``--target x86-avx2``).
        cpu_target: The kernel family of the CPU that runs it (:attr:`CpuInt8.target`).
    """
    return cpu_target == "x86-avx2" and not reduce_range
