"""ONNX sources: an ``.onnx`` file run with ONNX Runtime for the check; ONNX -> ONNX export.

ONNX -> ONNX copies the model (fixing a dynamic input shape when one is given) and
simplifies it; re-quantization and fp16 are the shared ONNX quantization stage.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import ExportOptions, first_line
from converters.layout import infer_layout, shapes_match
from converters.torch_onnx import simplify_onnx
from converters.torch_source import package_versions
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["OnnxSource", "load_onnx_source", "onnx_to_onnx"]


@dataclass
class OnnxSource:
    """An ONNX model file ready to convert and to run for the fidelity check.

    Attributes:
        path: The ``.onnx`` file.
        input_shape: Input shape with dynamic dims resolved (batch 1 unless given).
        layout: ``"nchw"``/``"nhwc"`` for 4-D inputs, else ``None``.
        sha256: Hash of the file.
        size_bytes: File size.
    """

    path: Path
    input_shape: tuple[int, ...]
    layout: str | None
    sha256: str
    size_bytes: int
    kind: str = "onnx"
    framework_versions: dict[str, str] = field(default_factory=dict)
    _session: Any = field(default=None, repr=False)

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the model with ONNX Runtime on a float32 batch; float32 outputs."""
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        name = self._session.get_inputs()[0].name
        outs = self._session.run(None, {name: np.ascontiguousarray(x, dtype=np.float32)})
        return [np.asarray(o, dtype=np.float32) for o in outs]


def _graph_input_shape(model: Any) -> tuple[int, ...]:
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if len(inputs) != 1:
        raise ConversionError(
            f"The ONNX model has {len(inputs)} inputs; the converters handle single-input models"
        )
    dims = inputs[0].type.tensor_type.shape.dim
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dims)


def load_onnx_source(source: str | Path, input_shape: Sequence[int] | None = None) -> OnnxSource:
    """Load an ONNX file for conversion.

    Args:
        source: Path to the ``.onnx`` file.
        input_shape: Shape to use for dynamic dimensions; must fit the fixed ones.

    Raises:
        ConversionError: not an ONNX model, a shape that does not fit, or an unknown dynamic dim.
        MissingDependencyError: onnx/onnxruntime are not installed.
    """
    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "onnx", "convert-torch", "converting ONNX models") from exc
    path = Path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = onnx.load(str(path))
            onnx.checker.check_model(model)
    except Exception as exc:
        raise ConversionError(f"{path}: not a valid ONNX model ({first_line(exc)})") from exc
    graph_shape = _graph_input_shape(model)
    shape = _resolve_shape(graph_shape, input_shape, path)
    data = path.read_bytes()
    return OnnxSource(path=path, input_shape=shape, layout=infer_layout(shape),
                      sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                      framework_versions=package_versions("onnx", "onnxruntime", "onnxslim"))


def _resolve_shape(graph_shape: tuple[int, ...], given: Sequence[int] | None, path: Path) -> tuple[int, ...]:
    if given is not None:
        given = tuple(int(d) for d in given)
        if not shapes_match(graph_shape, given):
            raise ConversionError(
                f"{path}: input shape {list(given)} does not fit the model's input {list(graph_shape)} "
                "(-1 = any)"
            )
        return given
    if any(d < 0 for d in graph_shape[1:]):
        raise ConversionError(
            f"{path}: the input {list(graph_shape)} has dynamic dimensions besides the batch; "
            "pass input_shape= (--input-shape) to fix them"
        )
    return (1, *graph_shape[1:]) if graph_shape else graph_shape


def onnx_to_onnx(source: OnnxSource, out_path: Path, options: ExportOptions) -> None:
    """Copy the source model to ``out_path`` and simplify it with onnxslim.

    Raises:
        ConversionError: the model cannot be simplified.
    """
    shutil.copyfile(source.path, out_path)
    try:
        simplify_onnx(out_path)
    except Exception as exc:
        out_path.unlink(missing_ok=True)
        raise ConversionError(f"onnxslim could not simplify {source.path}: {exc}") from exc
