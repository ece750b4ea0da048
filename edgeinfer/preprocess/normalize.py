"""Normalisation and quantisation folded into one 256-entry lookup table per channel.

Frames are uint8, so every possible output value of ``(pixel - mean) / std`` (and of its
quantisation ``round(x / scale + zero_point)``) can be computed once, at build time. A
frame is then normalised by a single ``cv2.LUT`` pass, straight from the uint8 pixels
into the output tensor: no float frame is ever built. For quantized inputs the table is
the folded affine step ``q = round(pixel * a + b)`` with ``a = 1 / (std * scale)`` and
``b = zero_point - mean / (std * scale)``, clipped to the dtype's range, which is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeinfer.errors import ConfigError

__all__ = ["SUPPORTED_DTYPES", "ValueTables", "build_value_tables"]

SUPPORTED_DTYPES = ("float32", "float16", "int8", "uint8")


class ValueTables:
    """Per-channel tables mapping a uint8 pixel to its value in the model input.

    Attributes:
        values: ``(256, C)`` table in the input dtype: ``values[p, c]`` is what pixel
            value ``p`` of channel ``c`` becomes.
        lut: ``(1, 256, C)`` table for ``cv2.LUT``. Same as ``values`` except for
            float16, which OpenCV's LUT does not support: there it holds the float16 bit
            patterns as uint16, and the output is written through a uint16 view.
        planes: ``C`` contiguous ``(256,)`` slices of ``lut``, one per channel.
        identity: True when the table maps every pixel to itself (uint8 input with no
            normalisation), so the pixels can be copied as they are.
    """

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        lut = values.view(np.uint16) if values.dtype == np.float16 else values
        self.lut = np.ascontiguousarray(lut.reshape(1, 256, -1))
        self.planes = [np.ascontiguousarray(self.lut[0, :, c]) for c in range(values.shape[1])]
        ramp = np.arange(256)
        self.identity = values.dtype == np.uint8 and all(np.array_equal(values[:, c], ramp)
                                                         for c in range(values.shape[1]))

    @property
    def channels(self) -> int:
        """Number of channels C."""
        return int(self.values.shape[1])

    @property
    def lut_dtype(self) -> np.dtype:
        """dtype the output is written as (uint16 stands in for float16)."""
        return self.lut.dtype


def build_value_tables(mean: Sequence[float], std: Sequence[float], *, channels: int, dtype: np.dtype,
                       quant: tuple[float, int] | None = None) -> ValueTables:
    """Build the per-channel pixel -> input value tables.

    Args:
        mean: Per-channel (or one shared) mean, pixel units 0..255, in the model's
            channel order.
        std: Per-channel (or one shared) standard deviation, pixel units, non-zero.
        channels: Number of model-input channels C (1 or 3).
        dtype: Model-input dtype: float32, float16, int8 or uint8.
        quant: ``(scale, zero_point)`` of an int8/uint8 input; ``None`` means scale 1 and
            zero point 0 (the normalised value is rounded and clipped).

    Returns:
        The tables.

    Raises:
        ConfigError: an unsupported dtype, a bad scale, or mean/std of the wrong length.
    """
    dtype = np.dtype(dtype)
    if dtype.name not in SUPPORTED_DTYPES:
        raise ConfigError(
            f"Model input dtype {dtype.name} is not supported by preprocessing; "
            f"supported: {', '.join(SUPPORTED_DTYPES)}"
        )
    mean_c, std_c = _per_channel(mean, "mean", channels), _per_channel(std, "std", channels)
    if dtype.kind == "f":
        # float32 arithmetic in this order is what a reference ``(x - mean) / std`` does.
        pixels = np.arange(256, dtype=np.float32)[:, None]
        values = ((pixels - mean_c.astype(np.float32)) / std_c.astype(np.float32)).astype(dtype)
        return ValueTables(values)
    scale, zero_point = (1.0, 0) if quant is None else (float(quant[0]), int(quant[1]))
    if not np.isfinite(scale) or scale <= 0:
        raise ConfigError(f"Input quantization scale must be positive, got {scale}")
    a = 1.0 / (std_c * scale)
    b = zero_point - mean_c * a
    info = np.iinfo(dtype)
    q = np.rint(np.arange(256, dtype=np.float64)[:, None] * a + b)
    return ValueTables(np.clip(q, info.min, info.max).astype(dtype))


def _per_channel(values: Sequence[float], key: str, channels: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if channels == 1 and arr.size == 3 and np.all(arr == arr[0]):
        arr = arr[:1]  # the card's default (0, 0, 0) / (1, 1, 1), or a triple validated equal for gray
    if arr.size not in (1, channels):
        raise ConfigError(
            f"preprocess.{key} has {arr.size} values but the model input has {channels} channels"
        )
    if key == "std" and np.any(arr == 0):
        raise ConfigError("preprocess.std values must be non-zero (x = (pixel - mean) / std)")
    return np.broadcast_to(arr, (channels,)).copy()
