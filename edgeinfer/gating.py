"""Frame gating for static scenes: skip inference when the picture barely changed.

Sits between the source and the model in :mod:`edgeinfer.pipeline`. Each frame is
shrunk to a tiny grayscale thumbnail (32 x 32 by default, area interpolation, well under
a millisecond even for 1080p) and compared with the thumbnail of the last frame that
was *inferred*; when the mean absolute difference is below the threshold the previous
result is reused. Comparing against the last inferred frame (not the previous frame)
means a slow drift still triggers inference once it adds up.
"""

from __future__ import annotations

import time

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FrameGate", "GateConfig", "as_gate", "thumbnail"]


class GateConfig(BaseModel):
    """Skip inference while the scene is static (the ``gate:`` key of a stream; see :class:`FrameGate`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(2.0, ge=0.0, description="mean absolute change (0..255) of grey thumbnails")
    size: int = Field(32, ge=4, le=256, description="thumbnail side, pixels")
    max_skip_s: float | None = Field(10.0, gt=0, description="infer at least this often, seconds")


def thumbnail(image: np.ndarray, size: int = 32) -> np.ndarray:
    """Return a ``(size, size)`` float32 grayscale thumbnail of a BGR or gray uint8 image.

    Args:
        image: ``(H, W, 3)`` BGR or ``(H, W)`` gray uint8 pixels.
        size: Output side, pixels.

    Returns:
        ``(size, size)`` float32 grey levels in 0..255.
    """
    import cv2

    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)


class FrameGate:
    """Decides, frame by frame, whether the model must run.

    Not thread-safe: one gate per stream, used by the inference stage only.

    Example:
        >>> gate = FrameGate(GateConfig(threshold=2.0))
        >>> still = np.zeros((48, 64, 3), np.uint8)
        >>> gate.should_infer(still), gate.should_infer(still), gate.should_infer(still + 50)
        (True, False, True)
    """

    def __init__(self, config: GateConfig | None = None) -> None:
        self.config = config or GateConfig()
        self._reference: np.ndarray | None = None
        self._reference_time = 0.0
        self.last_difference = float("nan")

    def should_infer(self, image: np.ndarray) -> bool:
        """True when ``image`` differs enough from the last inferred frame (which it then becomes).

        Args:
            image: ``(H, W, 3)`` uint8 BGR frame.
        """
        small = thumbnail(image, self.config.size)
        now = time.monotonic()
        if self._reference is not None and self._reference.shape == small.shape:
            self.last_difference = float(np.mean(np.abs(small - self._reference)))
            max_skip = self.config.max_skip_s
            expired = max_skip is not None and now - self._reference_time >= max_skip
            if self.last_difference < self.config.threshold and not expired:
                return False
        self._reference = small
        self._reference_time = now
        return True

    def reset(self) -> None:
        """Forget the reference so the next frame is inferred (after a model switch)."""
        self._reference = None


def as_gate(gate: FrameGate | GateConfig | bool | None) -> FrameGate | None:
    """What ``Pipeline(gate=...)`` takes, as a gate: ``True`` for the defaults, ``None``/``False`` for none."""
    if gate is None or gate is False:
        return None
    if gate is True:
        return FrameGate()
    return FrameGate(gate) if isinstance(gate, GateConfig) else gate
