"""Backends run tensors through a model: TFLite (LiteRT) and ONNX Runtime.

The registry key is the model file kind (the backend's ``FORMAT``); the implementation
module is imported on first use, so ``import edgeinfer`` never imports a runtime. Each
backend class declares its accelerators (fastest first) and its probe; the functions
here hand those declarations to :mod:`devices`, which knows no backend by itself, and
map its errors into edgeinfer's tree.

Adding a backend: one module with the class (see :class:`~edgeinfer.backends.base.Backend`),
one line in ``_BUILTIN`` below (or an ``edgeinfer.backends`` entry point), and one
subclass of the conformance suite in ``tests/backends/``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.backends.base import Backend, BackendClass
from edgeinfer.registry import Registry

if TYPE_CHECKING:
    from devices.types import BackendDecl, Inventory, PlanStep

__all__ = ["Backend", "BackendClass", "accelerators", "backend_class", "declaration", "kinds", "plan", "probe",
           "probe_cached", "registry"]

# name, "module:Class", pip extra, package: in the order plans and `edgeinfer devices` list them.
_BUILTIN = (
    ("tflite", "edgeinfer.backends.tflite:TFLiteBackend", "tflite", "ai-edge-litert"),
    ("onnx", "edgeinfer.backends.onnx:OnnxBackend", "onnx", "onnxruntime"),
)

registry: Registry[Backend] = Registry("backend", entry_point_group="edgeinfer.backends")
for _name, _target, _extra, _package in _BUILTIN:
    registry.register(_name, _target, extra=_extra, package=_package)


def kinds() -> list[str]:
    """Every registered backend: the built-in ones in their order, then the others sorted."""
    builtin = [b[0] for b in _BUILTIN]
    return builtin + [n for n in registry.names() if n not in builtin]


def backend_class(kind: str) -> BackendClass:
    """The backend class for model files of ``kind``.

    Raises:
        ConfigError: no backend is registered for ``kind``.
        MissingDependencyError: the backend's module cannot be imported.
    """
    cls: BackendClass = registry.get(kind)  # type: ignore[assignment]
    return cls


@cache
def declaration(kind: str) -> BackendDecl:
    """The backend of ``kind`` as :mod:`devices` sees it: name, accelerators, probe."""
    from devices.types import BackendDecl

    cls = backend_class(kind)
    return BackendDecl(cls.FORMAT, tuple(cls.ACCELERATORS), cls.probe)


def accelerators() -> dict[str, tuple[str, ...]]:
    """Backend -> its declared accelerators, fastest first."""
    return {kind: declaration(kind).accelerators for kind in kinds()}


def _declarations(names: Iterable[str] | None) -> tuple[BackendDecl, ...]:
    return tuple(declaration(kind) for kind in (kinds() if names is None else names))


def probe(root: str | Path = "/", *, machine: str | None = None,
          backends: Iterable[str] | None = None) -> Inventory:
    """:func:`devices.probe` with the declarations of ``backends`` (default: every backend).

    Raises:
        ConfigError: the board profile is invalid.
    """
    import devices
    from devices.errors import DevicesError
    from edgeinfer.errors import from_devices

    try:
        return devices.probe(root, machine=machine, backends=_declarations(backends))
    except DevicesError as exc:
        raise from_devices(exc) from exc


def probe_cached(backends: Iterable[str] | None = None) -> Inventory:
    """:func:`probe` of the real machine, once per process and backend set (``devices.probe.probe_cached``)."""
    from devices.errors import DevicesError
    from devices.probe import probe_cached as cached
    from edgeinfer.errors import from_devices

    try:
        return cached(_declarations(backends))
    except DevicesError as exc:
        raise from_devices(exc) from exc


def plan(inventory: Inventory, backend: str, request: str = "auto", *,
         edgetpu_model: bool = False) -> list[PlanStep]:
    """:func:`devices.plan`, its errors as edgeinfer's.

    Raises:
        AcceleratorError: ``backend`` is unknown, or ``request`` names an accelerator
            that is unknown or not present.
    """
    import devices
    from devices.errors import DevicesError
    from edgeinfer.errors import from_devices

    try:
        return devices.plan(inventory, backend, request, edgetpu_model=edgetpu_model)
    except DevicesError as exc:
        raise from_devices(exc) from exc
