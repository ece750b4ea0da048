"""Plain data returned by :func:`devices.probe` and :func:`devices.plan`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

__all__ = ["AcceleratorInfo", "BackendDecl", "BackendProbe", "Inventory", "PlanStep", "StepStatus"]

# Plan statuses. From plan(): "try" (will be tried, in order) or "skip" (with the reason).
# After a model is loaded, Model.plan marks the steps "used", "failed" or "not needed".
StepStatus = Literal["try", "skip", "used", "failed", "not needed"]


@dataclass(frozen=True)
class AcceleratorInfo:
    """One accelerator and the evidence for (or against) its presence.

    Attributes:
        name: One of the accelerators its backend declares (``xnnpack``, ``cuda`` ...).
        backend: The backend's name (its model file format: ``"tflite"``, ``"onnx"``).
        present: Whether it can be used on this machine.
        evidence: What was found (a device node, a USB id, a library path) or what was missing.
        library: The delegate library to load (TFLite), if any.
        provider: The ONNX Runtime execution provider name (ONNX), if any.
    """

    name: str
    backend: str
    present: bool
    evidence: str
    library: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class BackendProbe:
    """What one backend's probe found.

    Attributes:
        accelerators: One entry per accelerator the backend declares (any order).
        fields: Values for :class:`Inventory` fields (``tflite_runtime``,
            ``onnxruntime_version`` ...).
        extra: Facts added to ``Inventory.extra`` (``onnx_providers`` ...).
    """

    accelerators: tuple[AcceleratorInfo, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendDecl:
    """A backend as the hardware layer sees it; the caller (``edgeinfer``) hands these in.

    Attributes:
        name: The backend's name, its model file format (``"tflite"``).
        accelerators: Every accelerator it can use, fastest first: the default plan order.
        probe: ``probe(root) -> BackendProbe``: which of them are usable on the machine
            under ``root`` (it may call the hardware probes of :mod:`devices.probe`).
    """

    name: str
    accelerators: tuple[str, ...]
    probe: Callable[[Path], BackendProbe]


@dataclass(frozen=True)
class Inventory:
    """What :func:`devices.probe` found.

    Attributes:
        board: Human-readable board name (``Raspberry Pi 5 Model B Rev 1.0``, ``generic x86_64``).
        profile: Board profile key (``raspberry_pi_5``, ``jetson_orin``, ``generic_x86_64`` ...).
        machine: CPU architecture (``platform.machine()``).
        cpu_count: Logical CPUs.
        accelerators: Every accelerator considered, present or not; per backend in the order
            its :class:`BackendDecl` declares (the default plan order).
        tflite_runtime: (Filled, like the other runtime fields, from the backends' probes.)
            The TFLite interpreter package found (``ai_edge_litert`` ...), or ``None``.
        onnxruntime_version: ONNX Runtime's version, or ``None`` when not installed.
        default_threads: Threads suggested by the board profile (never more than ``cpu_count``).
        extra: Free-form facts (``onnx_providers``: every provider ONNX Runtime lists,
            ``jetson_release``: the L4T release line ...).
        tflite_runtime_version: Version of the TFLite interpreter package, or ``None``.
        preferences: Board-profile accelerator order per backend (``{"tflite": ("xnnpack",)}``);
            :func:`devices.plan` tries these first.
        profile_description: The board profile's human description.
        install_notes: The board profile's setup hints (drivers, runtimes to install).
        cpu_int8: The CPU's int8 features and ONNX Runtime's int8 kernel family for it
            (:meth:`devices.cpu.CpuInt8.to_dict`: ``machine``, ``features``, ``target``).
    """

    board: str
    profile: str
    machine: str
    cpu_count: int
    accelerators: tuple[AcceleratorInfo, ...] = ()
    tflite_runtime: str | None = None
    onnxruntime_version: str | None = None
    default_threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    tflite_runtime_version: str | None = None
    preferences: dict[str, tuple[str, ...]] = field(default_factory=dict)
    profile_description: str = ""
    install_notes: tuple[str, ...] = ()
    cpu_int8: dict[str, Any] = field(default_factory=dict)

    def find(self, backend: str, name: str) -> AcceleratorInfo | None:
        """Return the accelerator ``name`` of ``backend`` or ``None``."""
        return next((a for a in self.accelerators if a.backend == backend and a.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class PlanStep:
    """One entry of an accelerator plan.

    Attributes:
        accelerator: Accelerator name (see :class:`AcceleratorInfo`).
        backend: The backend's name (``"tflite"``, ``"onnx"``).
        status: ``try``/``skip`` from :func:`devices.plan`; ``used``/``failed``/``not needed``
            once a model was loaded with it.
        reason: Why it is tried, skipped, or why it failed.
        library: Delegate library for TFLite delegates.
        provider: ONNX Runtime execution provider name.
    """

    accelerator: str
    backend: str
    status: StepStatus
    reason: str
    library: str | None = None
    provider: str | None = None

    def with_status(self, status: StepStatus, reason: str | None = None) -> PlanStep:
        """Return a copy with a new status (and reason)."""
        return replace(self, status=status, reason=self.reason if reason is None else reason)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
