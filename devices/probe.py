"""Probe the machine: board identity, CPU count and accelerators, as plain data.

Which accelerators a backend can use is the backend's own declaration
(:class:`~devices.types.BackendDecl`, handed in by the caller); this module keeps the
hardware probes those declarations call (the Edge TPU on USB or PCIe, delegate library
files, Android NNAPI) and the board identity. Every path is read under ``root`` so tests
can hand in a fake ``/proc``, ``/sys``, ``/dev`` and library tree; nothing raises for
"not present". Delegate libraries are found, not loaded: loading happens when a model
starts, and a library that fails to load there falls back to the next plan step, loudly.

Environment variables (read here, at the edge, and shown as evidence):

- ``EDGEINFER_EDGETPU_LIBRARY``: path or name of ``libedgetpu.so.1``.
- ``EDGEINFER_GPU_DELEGATE``: path or name of the TFLite GPU delegate library.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any

from devices.board_identity import probe_board
from devices.types import AcceleratorInfo, BackendDecl, BackendProbe, Inventory

__all__ = ["dist_version", "find_library", "probe", "probe_board", "probe_cached", "probe_edgetpu",
           "probe_gpu_delegate", "probe_nnapi"]

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


def probe_edgetpu(root: Path, backend: str) -> AcceleratorInfo:
    """The Coral Edge TPU: a USB or PCIe device, plus ``libedgetpu`` to drive it (for ``backend``)."""
    usable, problems = _edgetpu_devices(root)
    library, missing = find_library(EDGETPU_LIBRARIES, root, "EDGEINFER_EDGETPU_LIBRARY")
    if usable and library:
        return AcceleratorInfo("edgetpu", backend, True, f"{', '.join(usable)}; {library}", library)
    if usable:
        evidence = f"{', '.join(usable)} found, but libedgetpu is missing ({missing}): {EDGETPU_INSTALL}"
        return AcceleratorInfo("edgetpu", backend, False, evidence)
    if problems:
        return AcceleratorInfo("edgetpu", backend, False, "; ".join(problems), library)
    found = f" ({library} is installed)" if library else ""
    return AcceleratorInfo("edgetpu", backend, False,
                           f"no Coral USB (1a6e:089a, 18d1:9302) or /dev/apex_* device{found}", library)


def probe_gpu_delegate(root: Path, backend: str) -> AcceleratorInfo:
    """The TFLite GPU delegate: a library found (it is loaded only when a model starts)."""
    library, missing = find_library(GPU_DELEGATE_LIBRARIES, root, "EDGEINFER_GPU_DELEGATE")
    if library:
        return AcceleratorInfo("gpu", backend, True, f"GPU delegate {library} (loaded when a model starts)",
                               library)
    evidence = f"no TFLite GPU delegate library ({missing}; build it or set EDGEINFER_GPU_DELEGATE)"
    return AcceleratorInfo("gpu", backend, False, evidence)


def probe_nnapi(root: Path, backend: str) -> AcceleratorInfo:
    """Android's Neural Networks API (``libneuralnetworks.so`` in ``/system``)."""
    library = next((p for p in NNAPI_LIBRARIES if _under(root, p).exists()), None)
    if library:
        return AcceleratorInfo("nnapi", backend, True, f"Android NNAPI ({library})", library)
    return AcceleratorInfo("nnapi", backend, False, "not Android (no /system/lib*/libneuralnetworks.so)")


def dist_version(distribution: str) -> str | None:
    """The installed version of a distribution (``"ai-edge-litert"``), or ``None``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers, taskset)
    except AttributeError:
        return os.cpu_count() or 1


# Inventory fields the probe fills itself; a backend's probe sets the others (its runtime).
_PROBED_FIELDS = {"board", "profile", "machine", "cpu_count", "accelerators", "default_threads", "extra",
                  "preferences", "profile_description", "install_notes", "cpu_int8"}


def _backend_part(decl: BackendDecl, root: Path) -> BackendProbe:
    """Run one backend's probe; every declared accelerator gets an entry, in declared order."""
    found = decl.probe(root)
    by_name = {a.name: a for a in found.accelerators if a.backend == decl.name}
    infos = tuple(by_name.get(n) or AcceleratorInfo(n, decl.name, False, "not probed") for n in decl.accelerators)
    return BackendProbe(infos, found.fields, found.extra)


def probe(root: str | Path = "/", *, machine: str | None = None,
          backends: Sequence[BackendDecl] = ()) -> Inventory:
    """Look at the machine and return what is present, with evidence.

    Args:
        root: Filesystem root to read ``/proc``, ``/sys``, ``/dev``, ``/etc`` and library
            folders under (tests pass a fake tree).
        machine: CPU architecture to assume (default ``platform.machine()``).
        backends: The backends whose accelerators to probe, as they declare themselves
            (``edgeinfer`` hands in its backends'; loading a TFLite model passes only the
            TFLite one, so ONNX Runtime is not imported on a device that runs TFLite).

    Returns:
        The :class:`Inventory`, with the board profile's default threads and preferences.
        Never raises for missing hardware.

    Raises:
        ProfileError: the board's profile prefers an accelerator its backend does not declare.
    """
    from devices.board_profiles import PROFILE_DIR, check_preferences, load_profile
    from devices.cpu import read_cpu_int8

    root = Path(root)
    machine = machine or platform.machine()
    parts = [_backend_part(decl, root) for decl in backends]
    board, profile_key, facts = probe_board(root, machine)
    profile = load_profile(profile_key)
    check_preferences(profile.prefer, {d.name: d.accelerators for d in backends},
                      str(PROFILE_DIR / f"{profile_key}.yaml"), partial=True)
    cpus = _cpu_count()
    settable = {f.name for f in fields(Inventory)} - _PROBED_FIELDS
    values: dict[str, Any] = {}
    extra: dict[str, Any] = dict(facts)
    for part in parts:
        values.update({k: v for k, v in part.fields.items() if k in settable})
        extra.update({k: v for k, v in part.fields.items() if k not in settable})
        extra.update(part.extra)
    return Inventory(
        board=board, profile=profile_key, machine=machine, cpu_count=cpus,
        accelerators=tuple(a for part in parts for a in part.accelerators),
        default_threads=min(profile.default_threads or cpus, cpus), extra=extra,
        preferences=dict(profile.prefer), profile_description=profile.description,
        install_notes=profile.install_notes, **values,
        cpu_int8=read_cpu_int8(_read(root / "proc" / "cpuinfo"), machine).to_dict(),
    )


@cache
def probe_cached(backends: tuple[BackendDecl, ...] = ()) -> Inventory:
    """``probe()`` of the real machine, once per process and backend set (``cache_clear()`` resets it)."""
    return probe("/", backends=backends)
