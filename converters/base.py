"""The converter contract shared by every conversion path.

A conversion runs in three stages:

1. *load* the source into a :class:`SourceModel` (torch module, Keras model, SavedModel,
   ONNX file) that can also run the source for the fidelity check;
2. *export* it to a float32 artifact of the target format (a :class:`ExportFn`);
3. *quantize* the float artifact (one stage per target format, shared by every source),
   then check fidelity against the source and embed the model card.

A path registers its export function in :mod:`converters.paths` under
``(source_kind, target)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "ExportFn", "ExportOptions", "Quantize", "SourceKind", "SourceModel", "Target", "file_sha256", "first_line",
]

Target = Literal["tflite", "onnx"]
Quantize = Literal["none", "fp16", "dynamic", "int8"]
SourceKind = Literal["torch", "keras", "saved_model", "onnx"]


class SourceModel(Protocol):
    """A loaded source model.

    Attributes:
        kind: One of ``torch``, ``keras``, ``saved_model``, ``onnx``.
        input_shape: Shape of the (single) input, batch first; ``-1`` for dynamic dims.
        layout: ``"nchw"`` or ``"nhwc"`` for image inputs, ``None`` otherwise.
        sha256: Hash of the source file (or of the serialized weights for in-memory models).
        framework_versions: Package name -> version, recorded in the card.
    """

    kind: SourceKind
    input_shape: tuple[int, ...]
    layout: str | None
    sha256: str
    framework_versions: dict[str, str]

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the source on a float32 batch laid out as ``input_shape``; float32 outputs."""
        ...


@dataclass(frozen=True)
class ExportOptions:
    """What an export function needs besides the source.

    Attributes:
        quantize: The requested mode. Export functions write float32 unless they set
            ``handles_quantization`` in the registry, in which case they quantize themselves.
        calibration: Ready float32 input batches (each ``(1, *input_shape[1:])``, laid out
            as the *source* expects), already preprocessed with the model card.
        io_type: TFLite input/output type for ``int8``: float32, int8 or uint8.
        channels_last: Export image models with NHWC input (TFLite convention).
        dynamic_batch: Keep the batch dimension dynamic.
        opset: ONNX opset.
        workdir: A temporary folder the export may use.
    """

    quantize: Quantize = "none"
    calibration: list[np.ndarray] = field(default_factory=list)
    io_type: Literal["float32", "int8", "uint8"] = "float32"
    channels_last: bool = True
    dynamic_batch: bool = False
    opset: int = 18
    workdir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


ExportFn = Callable[[SourceModel, Path, ExportOptions], None]
CalibrationSource = str | Path | Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]] | None


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in 1 MiB chunks (the source hash recorded in the card)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
