"""Accelerator planning: a pure function of the inventory and the user's request.

The accelerators of a backend and their default order are the ones the backend declared
(:class:`~devices.types.BackendDecl`), as :func:`devices.probe` recorded them in the
inventory. An Edge TPU runs only models compiled for it; everything else runs anywhere.
"""

from __future__ import annotations

from devices.errors import PlanError
from devices.types import AcceleratorInfo, Inventory, PlanStep

__all__ = ["backends", "declared", "ordered_names", "plan"]


def backends(inventory: Inventory) -> tuple[str, ...]:
    """The backends the inventory was probed for, in the order they were given."""
    return tuple(dict.fromkeys(a.backend for a in inventory.accelerators))


def declared(inventory: Inventory, backend: str) -> tuple[str, ...]:
    """The accelerators ``backend`` declares, fastest first (its default order)."""
    return tuple(a.name for a in inventory.accelerators if a.backend == backend)


def ordered_names(inventory: Inventory, backend: str) -> tuple[str, ...]:
    """The accelerators of ``backend`` in the order to try them on this board.

    The board profile's preferences (``inventory.preferences``) come first, in their
    order; the remaining accelerators follow in the backend's declared order.
    """
    order = declared(inventory, backend)
    preferred = tuple(n for n in inventory.preferences.get(backend, ()) if n in order)
    return preferred + tuple(n for n in order if n not in preferred)


def _missing(inventory: Inventory, backend: str, name: str) -> AcceleratorInfo:
    info = inventory.find(backend, name)
    return info or AcceleratorInfo(name, backend, False, "not probed")


def plan(inventory: Inventory, backend: str, request: str = "auto", *,
         edgetpu_model: bool = False) -> list[PlanStep]:
    """Return the ordered accelerators to try for ``backend``, each with its reason.

    Args:
        inventory: What :func:`devices.probe` found.
        backend: A backend the inventory was probed for (``"tflite"``, ``"onnx"``).
        request: ``"auto"`` or an accelerator name (``"gpu"``, ``"cuda"``, ``"cpu"`` ...).
        edgetpu_model: The model was compiled by ``edgetpu_compiler`` (backends with an
            ``edgetpu`` accelerator only).

    Returns:
        Every accelerator of the backend, in preference order (the board profile's
        ``inventory.preferences`` first, then the backend's declared order), with status
        ``try`` or ``skip`` and the reason. Steps with ``try`` are attempted in order.

    Raises:
        PlanError: ``backend`` is unknown, or ``request`` names an accelerator that is
            unknown or not present.
    """
    order = declared(inventory, backend)
    if not order:
        raise PlanError(f"Unknown backend {backend!r}; choose one of {', '.join(backends(inventory))}")
    if request != "auto" and request not in order:
        raise PlanError(
            f"Unknown accelerator {request!r} for {backend} models; choose auto or one of {', '.join(order)}"
        )
    preferred = inventory.preferences.get(backend, ())
    edgetpu_model = edgetpu_model and "edgetpu" in order
    steps = [
        _step(_missing(inventory, backend, name), request, edgetpu_model,
              f"; preferred on {inventory.profile}" if name in preferred else "")
        for name in ordered_names(inventory, backend)
    ]
    if request != "auto" and not any(s.status == "try" for s in steps):
        chosen = next(s for s in steps if s.accelerator == request)
        present = [s.accelerator for s in steps if _missing(inventory, backend, s.accelerator).present]
        raise PlanError(
            f"Accelerator {request!r} was requested for a {backend} model but cannot be used: "
            f"{chosen.reason}. Available here: {', '.join(present) or 'none'} "
            "(use accelerator='auto' to pick the best of them)."
        )
    return steps


def _step(info: AcceleratorInfo, request: str, edgetpu_model: bool, note: str) -> PlanStep:
    def step(status: str, reason: str) -> PlanStep:
        return PlanStep(info.name, info.backend, status, reason, info.library, info.provider)  # type: ignore[arg-type]

    if not info.present:
        return step("skip", f"not present: {info.evidence}")
    if edgetpu_model and info.name != "edgetpu":
        return step("skip", "the model is compiled for the Edge TPU and runs only there")
    if info.name == "edgetpu" and not edgetpu_model:
        return step("skip", "present, but the model is not compiled for the Edge TPU (edgetpu_compiler)")
    if request not in ("auto", info.name):
        return step("skip", f"present, but {request!r} was requested")
    why = "requested" if request == info.name else "present"
    return step("try", f"{why}{note}: {info.evidence}")
