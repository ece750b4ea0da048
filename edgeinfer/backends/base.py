"""The backend interface: run already-shaped tensors through one model on one accelerator.

A backend receives arrays of the model's own dtypes and valid shapes (``Model.run``
checks and quantizes before calling it) and returns outputs in their native dtypes.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from edgeinfer.types import TensorSpec

__all__ = ["Backend"]


class Backend(Protocol):
    """One loaded model on one accelerator.

    Implementations also provide a classmethod
    ``open(model_file, step, threads) -> Backend`` that raises ``AcceleratorError`` when
    the accelerator in ``step`` cannot be used (so the next plan step is tried) and
    ``ModelError`` when the model itself cannot be run.
    """

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """Run one inference.

        Args:
            feeds: One array per input, in ``inputs`` order, already of the input's dtype.

        Returns:
            One array per output, in ``outputs`` order, in the output's native dtype.
        """
        ...

    def close(self) -> None:
        """Release the interpreter or session."""
        ...
