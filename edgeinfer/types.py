"""Plain data that flows between the stages: tensors specs, frames and geometry.

Stages never hold each other's objects; they exchange numpy arrays and these small
frozen dataclasses. Results (``Classification``, ``Detections``, ...) live in
:mod:`edgeinfer.results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Frame", "Geometry", "TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output.

    Attributes:
        name: Tensor name as the model file spells it.
        shape: Dimensions; ``-1`` marks a dynamic dimension (batch, image size).
        dtype: numpy dtype of the tensor as stored in the model.
        quant: ``(scale, zero_point)`` for quantized tensors, else ``None``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quant: tuple[float, int] | None = None

    @property
    def is_dynamic(self) -> bool:
        """True when any dimension is dynamic."""
        return any(d < 0 for d in self.shape)

    def to_dict(self) -> dict[str, object]:
        """JSON-friendly form: ``{"name", "shape", "dtype", "quant"}``."""
        quant = None if self.quant is None else [float(self.quant[0]), int(self.quant[1])]
        return {"name": self.name, "shape": list(self.shape), "dtype": str(self.dtype), "quant": quant}


@dataclass(frozen=True)
class Geometry:
    """How frame pixels map to model-input pixels: ``input = frame * scale + offset``.

    Letterbox gives a positive offset (the padding); centre crop a negative one (the
    part cut away, in input pixels). Stretch has ``offset == (0, 0)``.

    Attributes:
        frame_size_wh: Width and height of the original frame, pixels.
        input_size_wh: Width and height of the model input, pixels.
        scale_xy: Input pixels per frame pixel along x and y.
        offset_xy: Input-space position of frame pixel (0, 0).
    """

    frame_size_wh: tuple[int, int]
    input_size_wh: tuple[int, int]
    scale_xy: tuple[float, float] = (1.0, 1.0)
    offset_xy: tuple[float, float] = (0.0, 0.0)

    def to_frame(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` input-pixel coordinates to frame pixels (float64)."""
        pts = np.asarray(points_xy, dtype=np.float64)
        return (pts - np.asarray(self.offset_xy)) / np.asarray(self.scale_xy)

    def to_input(self, points_xy: np.ndarray) -> np.ndarray:
        """Map ``(..., 2)`` frame-pixel coordinates to input pixels (float64)."""
        pts = np.asarray(points_xy, dtype=np.float64)
        return pts * np.asarray(self.scale_xy) + np.asarray(self.offset_xy)

    def boxes_to_frame(self, boxes_xyxy: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """Map ``(N, 4)`` input-space ``x1, y1, x2, y2`` boxes to frame pixels.

        Args:
            boxes_xyxy: ``(N, 4)`` boxes in model-input pixels.
            clip: Clip the result to the frame.

        Returns:
            ``(N, 4)`` float32 boxes in frame pixels.
        """
        b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 2, 2)
        out = self.to_frame(b).reshape(-1, 4)
        if clip:
            w, h = self.frame_size_wh
            out[:, 0::2] = out[:, 0::2].clip(0, w)
            out[:, 1::2] = out[:, 1::2].clip(0, h)
        return out.astype(np.float32)

    def points_to_frame(self, points_xy: np.ndarray, *, clip: bool = True) -> np.ndarray:
        """Map ``(..., 2)`` input-pixel points (keypoints) to frame pixels.

        Args:
            points_xy: Points in model-input pixels, ``x, y`` on the last axis.
            clip: Clip the result to the frame, as :meth:`boxes_to_frame` does.

        Returns:
            float32 points of the same shape in frame pixels.
        """
        out = self.to_frame(points_xy)
        if clip:
            w, h = self.frame_size_wh
            out[..., 0] = out[..., 0].clip(0, w)
            out[..., 1] = out[..., 1].clip(0, h)
        return out.astype(np.float32)


@dataclass(frozen=True)
class Frame:
    """A frame from a source.

    Attributes:
        image: ``(H, W, 3)`` uint8 BGR pixels (OpenCV order).
        index: 0-based position in the source.
        timestamp: Capture time, seconds since the epoch (``time.time()``).
        stream: Name of the stream it came from.
    """

    image: np.ndarray = field(repr=False)
    index: int = 0
    timestamp: float = 0.0
    stream: str = "default"
