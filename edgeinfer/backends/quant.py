"""Quantization of inputs and outputs, shared by every backend.

A quantized tensor stores ``q = round(x / scale + zero_point)``; its spec carries
``quant = (scale, zero_point)``. Backends quantize float arrays fed to quantized inputs
and dequantize quantized outputs to float32 (unless asked for raw outputs), so a model's
quantization never leaks to callers.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.types import TensorSpec

__all__ = ["Quantization", "dequantize", "quantize"]


def quantize(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Quantize a float array with the spec's ``(scale, zero_point)``: ``round(x / s + zp)``, clipped."""
    if spec.quant is None:
        raise InputError(f"input {spec.name!r} is not quantized; pass {spec.dtype} values")
    scale, zero_point = spec.quant
    info = np.iinfo(spec.dtype)
    q = np.rint(array / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Dequantize a quantized output to float32: ``(q - zp) * scale``; others pass through."""
    if spec.quant is None:
        return array
    scale, zero_point = spec.quant
    return (array.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


class Quantization:
    """The quantized inputs and outputs of one model, for its backend's ``run``.

    Attributes:
        inputs: True when some input is quantized (feeds may need quantizing).
        outputs: True when some output is quantized (results are dequantized unless raw).
    """

    def __init__(self, inputs: list[TensorSpec], outputs: list[TensorSpec]) -> None:
        self._in = [(i, s) for i, s in enumerate(inputs) if s.quant is not None]
        self._out = outputs
        self.inputs = bool(self._in)
        self.outputs = any(s.quant is not None for s in outputs)

    def feeds(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        """Quantize float arrays given for quantized inputs; others pass as they are (no copy)."""
        out = feeds
        for i, spec in self._in:
            if feeds[i].dtype.kind == "f":
                if out is feeds:
                    out = list(feeds)
                out[i] = quantize(feeds[i], spec)
        return out

    def results(self, results: list[np.ndarray]) -> list[np.ndarray]:
        """Dequantize the quantized outputs to float32."""
        return [dequantize(r, s) for r, s in zip(results, self._out, strict=True)]
