"""Probe the machine: board identity, CPU count and accelerators, as plain data.

Every path is read under ``root`` so tests can hand in a fake ``/proc``, ``/sys``,
``/dev`` and library tree; nothing raises for "not present". Delegate libraries are
found, not loaded: loading happens when a model starts, and a library that fails to
load there falls back to the next plan step, loudly (see :mod:`edgeinfer.model`).

Environment variables (read here, at the edge, and shown as evidence):

- ``EDGEINFER_EDGETPU_LIBRARY``: path or name of ``libedgetpu.so.1``.
- ``EDGEINFER_GPU_DELEGATE``: path or name of the TFLite GPU delegate library.
"""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path

from devices.board_identity import probe_board
from devices.types import AcceleratorInfo, Inventory

__all__ = ["find_library", "probe", "probe_board", "probe_cached", "probe_edgetpu", "probe_gpu_delegate",
           "probe_nnapi", "probe_onnx", "probe_tflite"]

CORAL_USB_IDS = {("1a6e", "089a"): "firmware not loaded yet; it loads on first use",
                 ("18d1", "9302"): "firmware loaded"}
CORAL_PCI_IDS = {("0x1ac1", "0x089a")}
EDGETPU_LIBRARIES = ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll")
EDGETPU_INSTALL = ("install libedgetpu1-std from the Coral apt repository "
                   "(https://coral.ai/software/#debian-packages), or set EDGEINFER_EDGETPU_LIBRARY")
GPU_DELEGATE_LIBRARIES = ("libtensorflowlite_gpu_delegate.so",)
NNAPI_LIBRARIES = ("/system/lib64/libneuralnetworks.so", "/system/lib/libneuralnetworks.so")
LIBRARY_DIRS = ("/usr/lib", "/usr/local/lib", "/usr/lib/aarch64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/arm-linux-gnueabihf", "/lib", "/lib/aarch64-linux-gnu", "/lib/x86_64-linux-gnu")
ORT_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider", "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider", "cpu": "CPUExecutionProvider",
}
_DISTRIBUTIONS = {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime",
                  "tensorflow": "tensorflow"}


def _read(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\x00", b"").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _under(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def find_library(names: tuple[str, ...], root: Path, env_var: str) -> tuple[str | None, str]:
    """Locate a shared library without loading it.

    Looks at ``$env_var`` first, then the usual library folders under ``root``, then (on
    the real root only) ``LD_LIBRARY_PATH`` and the linker cache.

    Args:
        names: File names to look for, most likely first.
        root: Filesystem root.
        env_var: Environment variable that names the library explicitly.

    Returns:
        ``(path or name, "")`` when found, else ``(None, why not)``.
    """
    explicit = os.environ.get(env_var)
    if explicit:
        if os.sep in explicit and not Path(explicit).exists():
            return None, f"{env_var}={explicit} does not exist"
        return explicit, ""
    folders = list(LIBRARY_DIRS)
    if root == Path("/"):
        folders = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d] + folders
    for folder in folders:
        for name in names:
            candidate = _under(root, folder) / name
            if candidate.exists():
                return str(candidate), ""
    if root == Path("/"):
        cached = linker_cache()
        for name in names:
            if name in cached:
                return cached[name], ""
    return None, f"{names[0]} not found"


@cache
def linker_cache() -> dict[str, str]:
    """Library file name -> path from ``ldconfig -p``, read once per process.

    One ``ldconfig -p`` instead of ``ctypes.util.find_library`` per library, which forks
    ldconfig, gcc and ld for every library that is absent (over 100 ms on a Pi).
    """
    import shutil
    import subprocess

    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
    if ldconfig is None:
        return {}
    try:
        listing = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=5, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        name, _, path = line.strip().partition(" => ")
        if path:
            found.setdefault(name.split(" (", 1)[0], path)
    return found


def _entries(folder: Path, pattern: str) -> list[Path]:
    # Path.glob, not glob.glob: a root path with "[" or "*" in it must not act as a pattern.
    try:
        return sorted(folder.glob(pattern))
    except OSError:
        return []


def _usb_ids(root: Path) -> set[tuple[str, str]]:
    found = set()
    for dev in _entries(root / "sys/bus/usb/devices", "*"):
        vendor, product = _read(dev / "idVendor"), _read(dev / "idProduct")
        if vendor:
            found.add((vendor.lower(), product.lower()))
    return found


def _pci_ids(root: Path) -> set[tuple[str, str]]:
    found = set()
    for dev in _entries(root / "sys/bus/pci/devices", "*"):
        found.add((_read(dev / "vendor").lower(), _read(dev / "device").lower()))
    return found


def _edgetpu_devices(root: Path) -> tuple[list[str], list[str]]:
    """Return (usable Edge TPU devices, problems with devices that are there but unusable)."""
    coral_usb = sorted(_usb_ids(root) & CORAL_USB_IDS.keys())
    usable = [f"Coral USB {v}:{p} ({CORAL_USB_IDS[(v, p)]})" for v, p in coral_usb]
    problems = []
    apex = _entries(root / "dev", "apex_*")
    for node in apex:
        name = f"/dev/{node.name}"
        if os.access(node, os.R_OK | os.W_OK):
            usable.append(f"PCIe Edge TPU {name}")
        else:
            problems.append(f"{name} is not accessible to this user (add it to the 'apex' group: "
                            "sudo usermod -aG apex $USER, then log in again)")
    if not apex and _pci_ids(root) & CORAL_PCI_IDS:
        problems.append("a PCIe Edge TPU (1ac1:089a) is on the bus but /dev/apex_0 is missing "
                        "(install the gasket-dkms driver and reboot)")
    return usable, problems


def probe_edgetpu(root: Path) -> AcceleratorInfo:
    """The Coral Edge TPU: a USB or PCIe device, plus ``libedgetpu`` to drive it."""
    usable, problems = _edgetpu_devices(root)
    library, missing = find_library(EDGETPU_LIBRARIES, root, "EDGEINFER_EDGETPU_LIBRARY")
    if usable and library:
        return AcceleratorInfo("edgetpu", "tflite", True, f"{', '.join(usable)}; {library}", library)
    if usable:
        evidence = f"{', '.join(usable)} found, but libedgetpu is missing ({missing}): {EDGETPU_INSTALL}"
        return AcceleratorInfo("edgetpu", "tflite", False, evidence)
    if problems:
        return AcceleratorInfo("edgetpu", "tflite", False, "; ".join(problems), library)
    found = f" ({library} is installed)" if library else ""
    return AcceleratorInfo("edgetpu", "tflite", False,
                           f"no Coral USB (1a6e:089a, 18d1:9302) or /dev/apex_* device{found}", library)


def probe_gpu_delegate(root: Path) -> AcceleratorInfo:
    """The TFLite GPU delegate: a library found (it is loaded only when a model starts)."""
    library, missing = find_library(GPU_DELEGATE_LIBRARIES, root, "EDGEINFER_GPU_DELEGATE")
    if library:
        return AcceleratorInfo("gpu", "tflite", True, f"GPU delegate {library} (loaded when a model starts)",
                               library)
    evidence = f"no TFLite GPU delegate library ({missing}; build it or set EDGEINFER_GPU_DELEGATE)"
    return AcceleratorInfo("gpu", "tflite", False, evidence)


def probe_nnapi(root: Path) -> AcceleratorInfo:
    """Android's Neural Networks API (``libneuralnetworks.so`` in ``/system``)."""
    library = next((p for p in NNAPI_LIBRARIES if _under(root, p).exists()), None)
    if library:
        return AcceleratorInfo("nnapi", "tflite", True, f"Android NNAPI ({library})", library)
    return AcceleratorInfo("nnapi", "tflite", False, "not Android (no /system/lib*/libneuralnetworks.so)")


def probe_tflite(root: Path, runtime: str | None) -> list[AcceleratorInfo]:
    """Accelerators usable by the TFLite backend (``runtime``: the interpreter package, or None)."""
    if runtime:
        cpu = [AcceleratorInfo("xnnpack", "tflite", True, f"XNNPACK built into {runtime}"),
               AcceleratorInfo("cpu", "tflite", True, f"built-in kernels of {runtime}")]
    else:
        missing = "no TFLite interpreter installed (pip install 'edgeinfer[tflite]')"
        cpu = [AcceleratorInfo(name, "tflite", False, missing) for name in ("xnnpack", "cpu")]
    return [probe_edgetpu(root), probe_gpu_delegate(root), probe_nnapi(root), *cpu]


def probe_onnx(available: list[str] | None) -> list[AcceleratorInfo]:
    """Accelerators usable by ONNX Runtime, from ``get_available_providers()`` (None: not installed)."""
    out = []
    for name, provider in ORT_PROVIDERS.items():
        if available is None:
            evidence, present = "onnxruntime is not installed (pip install 'edgeinfer[onnx]')", False
        elif provider in available:
            evidence, present = f"{provider} listed by onnxruntime", True
        else:
            evidence, present = f"{provider} is not in this onnxruntime build", False
        out.append(AcceleratorInfo(name, "onnx", present, evidence, provider=provider))
    return out


def _onnx_providers() -> tuple[list[str] | None, str | None]:
    try:
        import onnxruntime as ort
    except ImportError:
        return None, None
    return list(ort.get_available_providers()), str(ort.__version__)


def _dist_version(package: str | None) -> str | None:
    if package is None:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_DISTRIBUTIONS.get(package, package))
    except PackageNotFoundError:
        return None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


def probe(root: str | Path = "/", *, machine: str | None = None,
          backends: tuple[str, ...] = ("tflite", "onnx")) -> Inventory:
    """Look at the machine and return what is present, with evidence.

    Args:
        root: Filesystem root to read ``/proc``, ``/sys``, ``/dev``, ``/etc`` and library
            folders under (tests pass a fake tree).
        machine: CPU architecture to assume (default ``platform.machine()``).
        backends: Which backends' accelerators to probe. Loading a TFLite model asks for
            ``("tflite",)`` only, so ONNX Runtime is not imported on a device that runs TFLite.

    Returns:
        The :class:`Inventory`, with the board profile's default threads and preferences.
        Never raises for missing hardware.
    """
    from devices.board_profiles import load_profile
    from edgeinfer.backends.tflite_runtime import available_tflite_runtime

    root = Path(root)
    machine = machine or platform.machine()
    runtime = available_tflite_runtime()
    providers, ort_version = _onnx_providers() if "onnx" in backends else (None, None)
    accelerators = (probe_tflite(root, runtime) if "tflite" in backends else []) + (
        probe_onnx(providers) if "onnx" in backends else [])
    board, profile_key, facts = probe_board(root, machine)
    profile = load_profile(profile_key)
    cpus = _cpu_count()
    return Inventory(
        board=board, profile=profile_key, machine=machine, cpu_count=cpus,
        accelerators=tuple(accelerators),
        tflite_runtime=runtime, onnxruntime_version=ort_version,
        default_threads=min(profile.default_threads or cpus, cpus),
        extra={**facts, "onnx_providers": providers or []},
        tflite_runtime_version=_dist_version(runtime), preferences=dict(profile.prefer),
        profile_description=profile.description, install_notes=profile.install_notes,
    )


@cache
def probe_cached(backends: tuple[str, ...] = ("tflite", "onnx")) -> Inventory:
    """``probe()`` of the real machine, once per process and backend set (``cache_clear()`` resets it)."""
    return probe("/", backends=backends)
