"""Accelerator evidence from a fake /sys, /dev and library tree, and from this machine."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from edgeinfer.backends import probe
from edgeinfer.backends.onnx import probe_onnx


def _info(inventory, name, backend="tflite"):
    info = inventory.find(backend, name)
    assert info is not None
    return info


@pytest.mark.parametrize(("vendor", "product", "note"), [("1a6e", "089a", "firmware not loaded"),
                                                         ("18d1", "9302", "firmware loaded")])
def test_coral_usb_before_and_after_firmware_load(machine, vendor, product, note):
    machine.usb_device("2-1", vendor, product)
    machine.usb_device("1-1", "1d6b", "0002")  # a root hub: not a Coral
    lib = machine.library("libedgetpu.so.1", "/usr/lib/aarch64-linux-gnu")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert edgetpu.present
    assert f"Coral USB {vendor}:{product}" in edgetpu.evidence
    assert note in edgetpu.evidence
    assert edgetpu.library == str(lib)


def test_pcie_edge_tpu_on_dev_apex(machine):
    machine.write("/dev/apex_0")
    machine.library("libedgetpu.so.1")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert edgetpu.present
    assert "/dev/apex_0" in edgetpu.evidence


def test_coral_without_libedgetpu_is_absent_with_the_install_hint(machine):
    machine.usb_device("2-1", "18d1", "9302")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert not edgetpu.present
    assert "18d1:9302" in edgetpu.evidence
    assert "libedgetpu1-std" in edgetpu.evidence
    assert edgetpu.library is None


def test_libedgetpu_without_a_coral_device_is_absent(machine):
    machine.library("libedgetpu.so.1")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert not edgetpu.present
    assert "no Coral USB" in edgetpu.evidence


def test_pcie_edge_tpu_without_driver_names_gasket(machine):
    machine.write("/sys/bus/pci/devices/0000:01:00.0/vendor", "0x1ac1\n")
    machine.write("/sys/bus/pci/devices/0000:01:00.0/device", "0x089a\n")
    machine.library("libedgetpu.so.1")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert not edgetpu.present
    assert "gasket-dkms" in edgetpu.evidence


def test_edgetpu_library_from_environment(machine, monkeypatch, tmp_path):
    machine.usb_device("2-1", "1a6e", "089a")
    stand_in = tmp_path / "custom" / "libedgetpu.so.1"
    stand_in.parent.mkdir()
    stand_in.write_bytes(b"")
    monkeypatch.setenv("EDGEINFER_EDGETPU_LIBRARY", str(stand_in))

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert edgetpu.present
    assert edgetpu.library == str(stand_in)


def test_environment_library_that_does_not_exist_is_reported(machine, monkeypatch, tmp_path):
    machine.usb_device("2-1", "1a6e", "089a")
    monkeypatch.setenv("EDGEINFER_EDGETPU_LIBRARY", str(tmp_path / "nowhere" / "libedgetpu.so.1"))

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert not edgetpu.present
    assert "EDGEINFER_EDGETPU_LIBRARY=" in edgetpu.evidence
    assert "does not exist" in edgetpu.evidence


def test_gpu_delegate_library_in_a_library_folder(machine):
    lib = machine.library("libtensorflowlite_gpu_delegate.so", "/usr/local/lib")

    gpu = _info(probe(machine.root), "gpu")

    assert gpu.present
    assert gpu.library == str(lib)


def test_gpu_delegate_from_environment(machine, monkeypatch, tmp_path):
    machine.root.mkdir(parents=True)
    stand_in = tmp_path / "libtensorflowlite_gpu_delegate.so"
    stand_in.write_bytes(b"")
    monkeypatch.setenv("EDGEINFER_GPU_DELEGATE", str(stand_in))

    gpu = _info(probe(machine.root), "gpu")

    assert gpu.present
    assert gpu.library == str(stand_in)
    assert str(stand_in) in gpu.evidence


def test_no_gpu_delegate_says_how_to_get_one(machine):
    machine.root.mkdir(parents=True)

    gpu = _info(probe(machine.root), "gpu")

    assert not gpu.present
    assert "EDGEINFER_GPU_DELEGATE" in gpu.evidence


def test_nnapi_on_android(machine):
    machine.write("/system/lib64/libneuralnetworks.so")

    nnapi = _info(probe(machine.root), "nnapi")

    assert nnapi.present
    assert "libneuralnetworks.so" in nnapi.evidence


def test_nothing_present_is_reported_not_raised(machine):
    machine.root.mkdir(parents=True)

    inventory = probe(machine.root)

    absent = {a.name for a in inventory.accelerators if a.backend == "tflite" and not a.present}
    assert absent == {"edgetpu", "gpu", "nnapi"}
    assert all(a.evidence for a in inventory.accelerators)


def test_onnx_providers_map_to_accelerators():
    infos = {i.name: i for i in probe_onnx(["TensorrtExecutionProvider", "CUDAExecutionProvider",
                                            "CPUExecutionProvider"])}

    assert [n for n, i in infos.items() if i.present] == ["tensorrt", "cuda", "cpu"]
    assert infos["openvino"].provider == "OpenVINOExecutionProvider"
    assert "not in this onnxruntime build" in infos["coreml"].evidence


def test_onnx_runtime_missing_is_reported():
    infos = probe_onnx(None)

    assert not any(i.present for i in infos)
    assert all("edgeinfer[onnx]" in i.evidence for i in infos)


def test_real_probe_finds_xnnpack_and_cpu_for_tflite_and_cpu_for_onnx():
    import onnxruntime

    inventory = probe()

    assert _info(inventory, "xnnpack").present
    assert _info(inventory, "cpu").present
    assert _info(inventory, "cpu", "onnx").present
    assert inventory.onnxruntime_version == onnxruntime.__version__
    assert inventory.tflite_runtime is not None
    assert inventory.tflite_runtime_version
    assert inventory.cpu_count == len(os.sched_getaffinity(0))
    assert inventory.extra["onnx_providers"] == onnxruntime.get_available_providers()


def test_importing_devices_is_light():
    code = ("import sys, devices; heavy = {'numpy', 'yaml', 'onnxruntime', 'ai_edge_litert', 'tensorflow', "
            "'torch', 'edgeinfer'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can open any device node")
def test_apex_node_the_user_cannot_open_says_which_group(machine):
    node = machine.write("/dev/apex_0")
    node.chmod(0)
    machine.library("libedgetpu.so.1")

    edgetpu = _info(probe(machine.root), "edgetpu")

    assert not edgetpu.present
    assert "apex" in edgetpu.evidence and "usermod" in edgetpu.evidence
