"""Which board is this? Raspberry Pi, Jetson, Coral Dev Board or a generic machine.

Reads ``/proc/device-tree/model`` and ``/proc/device-tree/compatible`` (ARM boards) and
``/etc/nv_tegra_release`` (Jetson L4T) under a root folder, and maps the board to the key
of a profile in ``devices/profiles/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["probe_board"]

_X86 = ("x86_64", "amd64", "i386", "i686")
_PI = re.compile(r"Raspberry Pi (?:Compute Module )?(\d)")
_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError:
        return ""
    # Device-tree strings are NUL-terminated; "compatible" holds several of them.
    return raw.rstrip(b"\x00").replace(b"\x00", b" ").decode("utf-8", "replace").strip()


def _jetson(model: str, compatible: str, tegra: str) -> tuple[str, str, dict[str, Any]] | None:
    match = _L4T.search(tegra)
    release = f"R{match.group(1)}.{match.group(2)}" if match else None
    facts: dict[str, Any] = {"jetson_release": release} if release else {}
    if not (tegra or "jetson" in model.lower() or "nvidia,tegra" in compatible):
        return None
    board = model or f"NVIDIA Jetson (L4T {release or 'unknown release'})"
    # Orin is tegra234; L4T R34 and later (JetPack 5+) run only on Xavier and Orin, which
    # share the newer TensorRT/CUDA stack, so they get the Orin profile.
    if "orin" in model.lower() or "tegra234" in compatible or (match and int(match.group(1)) >= 34):
        return board, "jetson_orin", facts
    return board, "jetson_nano", facts


def probe_board(root: Path, machine: str) -> tuple[str, str, dict[str, Any]]:
    """Identify the board.

    Args:
        root: Filesystem root to read ``proc/device-tree`` and ``etc/nv_tegra_release`` under.
        machine: CPU architecture (``platform.machine()``), for generic machines.

    Returns:
        ``(board name, profile key, facts)``: e.g. ``("Raspberry Pi 5 Model B Rev 1.0",
        "raspberry_pi_5", {})`` or ``("generic x86_64", "generic_x86_64", {})``. ``facts``
        may hold ``jetson_release`` (``"R36.4.3"``).
    """
    tree = root / "proc/device-tree"
    model = _read(tree / "model") or _read(root / "sys/firmware/devicetree/base/model")
    compatible = _read(tree / "compatible").lower()
    pi = _PI.match(model)
    if pi and pi.group(1) in ("4", "5"):
        return model, f"raspberry_pi_{pi.group(1)}", {}
    jetson = _jetson(model, compatible, _read(root / "etc/nv_tegra_release"))
    if jetson:
        return jetson
    if "phanbell" in model.lower() or "coral" in model.lower() or "phanbell" in compatible:
        return model, "coral_dev_board", {}
    arch = "x86_64" if machine.lower() in _X86 else "arm64"
    return model or f"generic {machine or 'unknown'}", f"generic_{arch}", {}
