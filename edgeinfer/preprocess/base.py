"""The preprocessing interface and the checks every preprocessor shares.

Preprocessing sits between ``sources`` (which deliver BGR uint8 frames) and
``backends`` (which take model-input tensors). A preprocessor is built once per model
and called once per frame; it returns the tensor and the :class:`~edgeinfer.types.Geometry`
that maps model-input pixels back to frame pixels.

Accepted frames are ``(H, W, 3)`` uint8 BGR (what OpenCV cameras deliver), ``(H, W)`` or
``(H, W, 1)`` uint8 grayscale and ``(H, W, 4)`` uint8 BGRA (alpha is dropped).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.images import import_cv2
from edgeinfer.types import Geometry

__all__ = ["FRAME_CHANNELS", "Preprocess", "check_frame", "import_cv2"]

FRAME_CHANNELS = (1, 3, 4)  # gray, BGR, BGRA


@runtime_checkable
class Preprocess(Protocol):
    """Turns a frame into one model-input tensor.

    Attributes:
        input_size_wh: Width and height of the model input, pixels.
        layout: ``"nhwc"`` or ``"nchw"``.
    """

    @property
    def input_size_wh(self) -> tuple[int, int]:
        """Width and height of the model input, pixels."""
        ...

    @property
    def layout(self) -> str:
        """``"nhwc"`` or ``"nchw"``."""
        ...

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the tensor it returns, batch 1: ``(1, H, W, C)`` or ``(1, C, H, W)``."""
        ...

    def __call__(self, frame: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, Geometry]:
        """Return ``(tensor, geometry)`` for one ``(H, W, 3)`` uint8 BGR frame."""
        ...


def check_frame(frame: object) -> np.ndarray:
    """Validate a frame and return it as an array OpenCV can read.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR, ``(H, W)``/``(H, W, 1)`` uint8 gray or
            ``(H, W, 4)`` uint8 BGRA pixels.

    Returns:
        The frame; ``(H, W, 1)`` becomes ``(H, W)``, and a frame whose rows are not
        contiguous in memory (e.g. ``frame[..., ::-1]``) is copied once.

    Raises:
        InputError: not an array, not uint8, a wrong number of channels, or empty.
    """
    if not isinstance(frame, np.ndarray):
        raise InputError(f"A frame must be a numpy array (H, W, 3) uint8 BGR, got {type(frame).__name__}")
    shape = frame.shape
    if frame.dtype != np.uint8:
        raise InputError(
            f"A frame must be uint8 pixels 0..255 (H, W, 3) BGR, {_got(frame)}; "
            "convert it with np.clip(x, 0, 255).astype(np.uint8) (scale floats in 0..1 by 255 first)"
        )
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in FRAME_CHANNELS):
        raise InputError(
            f"A frame must be (H, W, 3) BGR, (H, W) gray or (H, W, 4) BGRA, {_got(frame)}; "
            "for a batch call the preprocessor once per image"
        )
    if frame.size == 0:
        raise InputError(f"The frame is empty, {_got(frame)}; the source delivered no pixels")
    if len(shape) == 3 and shape[2] == 1:
        frame = frame[:, :, 0]
    # OpenCV reads row views (crops) in place but needs each row contiguous.
    if not frame.flags.c_contiguous and (frame.strides[0] <= 0 or not frame[0].flags.c_contiguous):
        frame = np.ascontiguousarray(frame)
    return frame


def _got(frame: np.ndarray) -> str:
    return f"got shape {frame.shape} dtype {frame.dtype}"
