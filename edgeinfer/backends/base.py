"""The backend interface: run checked tensors through one model on one accelerator.

A backend module holds one class that declares, as class attributes, the model file
format it runs (``FORMAT``, its registry key) and the accelerators it can use, fastest
first (``ACCELERATORS``: the default plan order); its ``probe(root)`` says which of them
this machine has. :mod:`devices` receives these declarations and plans with them.

A backend instance receives arrays checked against its input specs (``Model.run`` checks
names, shapes and dtypes); a float array for a quantized input is quantized here, and
quantized outputs are dequantized to float32 unless ``raw`` (:mod:`edgeinfer.backends.quant`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from edgeinfer.types import TensorSpec

if TYPE_CHECKING:
    from devices.types import BackendProbe, PlanStep
    from edgeinfer.formats import ModelFile

__all__ = ["Backend", "BackendClass"]


class Backend(Protocol):
    """One loaded model on one accelerator."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: list[np.ndarray], *, raw: bool = False) -> list[np.ndarray]:
        """Run one inference.

        Args:
            feeds: One array per input, in ``inputs`` order: of the input's dtype, or a
                float array for a quantized input (quantized with its scale and zero point).
            raw: Return quantized outputs in their native dtype instead of float32.

        Returns:
            One array per output, in ``outputs`` order.
        """
        ...

    def close(self) -> None:
        """Release the interpreter or session."""
        ...


class BackendClass(Protocol):
    """What a backend class declares and provides (the registry holds these)."""

    FORMAT: str
    ACCELERATORS: tuple[str, ...]

    def open(self, model_file: ModelFile, step: PlanStep, threads: int | None) -> Backend:
        """Load ``model_file`` on ``step``'s accelerator (a classmethod).

        Raises:
            AcceleratorError: the accelerator cannot be used (the next plan step is tried).
            ModelError: the model itself cannot be run.
        """
        ...

    def probe(self, root: Path) -> BackendProbe:
        """Which of ``ACCELERATORS`` the machine under ``root`` has, with evidence (a classmethod)."""
        ...
