"""Probe the machine: board identity, CPU count and accelerators, as plain data.

Every path is read under ``root`` so tests can hand in a fake ``/proc`` and ``/sys``
tree; nothing raises for "not present".
"""

from __future__ import annotations

import ctypes.util
import glob
import os
import platform
from functools import cache
from pathlib import Path

from devices.types import AcceleratorInfo, Inventory

__all__ = ["probe", "probe_board", "probe_onnx", "probe_tflite"]

CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}  # before and after firmware load
EDGETPU_LIBRARIES = ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll")
GPU_DELEGATE_LIBRARIES = ("libtensorflowlite_gpu_delegate.so", "libLiteRtGpuAccelerator.so")
NNAPI_LIBRARIES = ("/system/lib64/libneuralnetworks.so", "/system/lib/libneuralnetworks.so")
LIBRARY_DIRS = ("/usr/lib", "/usr/local/lib", "/usr/lib/aarch64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/arm-linux-gnueabihf")
ORT_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider", "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider", "cpu": "CPUExecutionProvider",
}


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\x00", b"").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def probe_board(root: Path) -> tuple[str, str]:
    """Return ``(board name, profile key)`` from the device tree or Jetson release file."""
    model = _read(root / "proc/device-tree/model")
    tegra = _read(root / "etc/nv_tegra_release")
    machine = platform.machine().lower() or "unknown"
    if model.startswith("Raspberry Pi 5"):
        return model, "raspberry_pi_5"
    if model.startswith("Raspberry Pi 4"):
        return model, "raspberry_pi_4"
    if "orin" in model.lower():
        return model, "jetson_orin"
    if tegra or "jetson" in model.lower() or "nvidia" in model.lower():
        return model or f"NVIDIA Jetson ({tegra.split(',')[0]})", "jetson_nano"
    if "coral" in model.lower() or "phanbell" in model.lower():
        return model, "coral_dev_board"
    arch = "arm64" if machine in ("aarch64", "arm64") else "x86_64" if machine in ("x86_64", "amd64") else machine
    return model or f"generic {arch}", f"generic_{arch}"


def _usb_ids(root: Path) -> set[tuple[str, str]]:
    found = set()
    for dev in glob.glob(str(root / "sys/bus/usb/devices/*")):
        vendor, product = _read(Path(dev) / "idVendor"), _read(Path(dev) / "idProduct")
        if vendor:
            found.add((vendor.lower(), product.lower()))
    return found


def find_library(names: tuple[str, ...], root: Path, env_var: str) -> str | None:
    """Locate a shared library: ``$env_var``, then the usual folders under ``root``, then ldconfig."""
    explicit = os.environ.get(env_var)
    if explicit:
        return explicit
    for folder in LIBRARY_DIRS:
        for name in names:
            if (root / folder.lstrip("/") / name).exists():
                return str(root / folder.lstrip("/") / name)
    if root == Path("/"):
        for name in names:
            stem = name.removeprefix("lib").split(".so")[0].split(".")[0]
            if ctypes.util.find_library(stem):
                return name
    return None


def probe_tflite(root: Path, runtime: str | None) -> list[AcceleratorInfo]:
    """Accelerators usable by the TFLite backend."""
    usb = _usb_ids(root) & CORAL_USB_IDS
    apex = sorted(glob.glob(str(root / "dev/apex_*")))
    edgetpu_lib = find_library(EDGETPU_LIBRARIES, root, "EDGEINFER_EDGETPU_LIBRARY")
    devices_seen = [f"USB {v}:{p}" for v, p in sorted(usb)] + [os.path.basename(a) for a in apex]
    if devices_seen and edgetpu_lib:
        edgetpu = AcceleratorInfo("edgetpu", "tflite", True, f"{', '.join(devices_seen)}; {edgetpu_lib}", edgetpu_lib)
    elif devices_seen:
        edgetpu = AcceleratorInfo("edgetpu", "tflite", False,
                                  f"{', '.join(devices_seen)} found but libedgetpu.so.1 is not installed "
                                  "(apt-get install libedgetpu1-std)")
    else:
        edgetpu = AcceleratorInfo("edgetpu", "tflite", False, "no Coral USB (1a6e:089a, 18d1:9302) or /dev/apex_* device")
    gpu_lib = find_library(GPU_DELEGATE_LIBRARIES, root, "EDGEINFER_GPU_DELEGATE")
    gpu = (AcceleratorInfo("gpu", "tflite", True, gpu_lib, gpu_lib) if gpu_lib else
           AcceleratorInfo("gpu", "tflite", False, "no TFLite GPU delegate library (libtensorflowlite_gpu_delegate.so)"))
    nnapi_lib = next((p for p in NNAPI_LIBRARIES if (root / p.lstrip("/")).exists()), None)
    nnapi = (AcceleratorInfo("nnapi", "tflite", True, f"Android NNAPI ({nnapi_lib})", nnapi_lib) if nnapi_lib else
             AcceleratorInfo("nnapi", "tflite", False, "not Android (no libneuralnetworks.so)"))
    if runtime:
        cpu = [AcceleratorInfo("xnnpack", "tflite", True, f"XNNPACK built into {runtime}"),
               AcceleratorInfo("cpu", "tflite", True, f"built-in kernels of {runtime}")]
    else:
        missing = "no TFLite interpreter installed (pip install 'edgeinfer[tflite]')"
        cpu = [AcceleratorInfo("xnnpack", "tflite", False, missing), AcceleratorInfo("cpu", "tflite", False, missing)]
    return [edgetpu, gpu, nnapi, *cpu]


def probe_onnx(available: list[str] | None) -> list[AcceleratorInfo]:
    """Accelerators usable by ONNX Runtime, from ``get_available_providers()`` (None: not installed)."""
    out = []
    for name, provider in ORT_PROVIDERS.items():
        if available is None:
            out.append(AcceleratorInfo(name, "onnx", False, "onnxruntime is not installed (pip install 'edgeinfer[onnx]')", provider=provider))
        elif provider in available:
            out.append(AcceleratorInfo(name, "onnx", True, f"{provider} in onnxruntime", provider=provider))
        else:
            out.append(AcceleratorInfo(name, "onnx", False, f"{provider} not in this onnxruntime build", provider=provider))
    return out


def _onnx_providers() -> tuple[list[str] | None, str | None]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None, None
    return list(ort.get_available_providers()), str(ort.__version__)


def probe(root: str | Path = "/") -> Inventory:
    """Look at the machine and return what is present, with evidence.

    Args:
        root: Filesystem root to read ``/proc``, ``/sys``, ``/dev`` and library folders
            under (tests pass a fake tree).

    Returns:
        The :class:`Inventory`. Never raises for missing hardware.
    """
    root = Path(root)
    from edgeinfer.backends.tflite_runtime import available_tflite_runtime

    runtime = available_tflite_runtime()
    providers, ort_version = _onnx_providers()
    board, profile = probe_board(root)
    return Inventory(
        board=board, profile=profile, machine=platform.machine(), cpu_count=os.cpu_count() or 1,
        accelerators=tuple(probe_tflite(root, runtime) + probe_onnx(providers)),
        tflite_runtime=runtime, onnxruntime_version=ort_version,
    )


@cache
def probe_cached() -> Inventory:
    """``probe()`` of the real machine, once per process."""
    return probe("/")
