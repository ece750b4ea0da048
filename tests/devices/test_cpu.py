"""devices.cpu: int8 features and ONNX Runtime's kernel family, from real /proc/cpuinfo lines."""

from __future__ import annotations

import pytest

from devices.cpu import read_cpu_int8, saturates_u8s8

ZEN1 = "processor\t: 0\nmodel name\t: AMD EPYC 7551\nflags\t\t: fpu sse4_2 avx fma avx2 bmi2 sha_ni\n"
ICELAKE = "flags\t\t: fpu avx2 avx512f avx512bw avx512vl avx512_vnni\n"
ALDERLAKE = "flags\t\t: fpu avx2 avx_vnni\n"
PI5 = ("processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
       "asimdrdm lrcpc dcpop asimddp\n")


@pytest.mark.parametrize(("text", "machine", "target", "features"), [
    (ZEN1, "x86_64", "x86-avx2", ("avx2",)),
    (ICELAKE, "x86_64", "x86-vnni", ("avx2", "avx512f", "avx512bw", "avx512_vnni")),
    (ALDERLAKE, "x86_64", "x86-vnni", ("avx2", "avx_vnni")),
    (PI5, "aarch64", "arm64", ("asimddp",)),
    ("", "aarch64", "arm64", ()),
])
def test_targets_from_cpuinfo(text: str, machine: str, target: str, features: tuple[str, ...]) -> None:
    cpu = read_cpu_int8(text, machine)
    assert cpu.target == target
    assert cpu.features == features
    assert cpu.to_dict() == {"machine": machine, "features": list(features), "target": target}


def test_only_full_range_weights_on_avx2_saturate() -> None:
    assert saturates_u8s8(reduce_range=False, cpu_target="x86-avx2")
    assert not saturates_u8s8(reduce_range=True, cpu_target="x86-avx2")
    assert not saturates_u8s8(reduce_range=False, cpu_target="x86-vnni")
    assert not saturates_u8s8(reduce_range=False, cpu_target="arm64")


def test_this_machine_never_raises() -> None:
    cpu = read_cpu_int8()
    assert cpu.target in ("x86-avx2", "x86-vnni", "arm64")
