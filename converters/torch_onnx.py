"""PyTorch -> ONNX: ``torch.onnx.export`` (dynamo exporter), then onnxslim.

Weights stay inside the file (``external_data=False``), inputs and outputs get stable
names (``input``, ``output`` / ``output_<i>``), and the batch dimension is dynamic when
asked for (falling back to a static batch when the model hard-codes it).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Any

from converters.base import ExportOptions, first_line
from converters.torch_source import TorchSource
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["output_names", "simplify_onnx", "torch_to_onnx"]

log = logging.getLogger("converters")


def output_names(count: int) -> list[str]:
    """``["output"]`` for one output, else ``["output_0", "output_1", ...]``."""
    return ["output"] if count == 1 else [f"output_{i}" for i in range(count)]


def simplify_onnx(path: Path) -> None:
    """Simplify an ONNX file in place with onnxslim (constant folding, dead nodes)."""
    try:
        import onnx
        import onnxslim
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "onnxslim", "convert-torch", "simplifying ONNX") from exc
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = onnxslim.slim(onnx.load(str(path)))
    onnx.save(model, str(path))


def _export(source: TorchSource, out_path: Path, options: ExportOptions, dynamic: bool) -> None:
    import torch

    n_out = len(source.predict(source.example().numpy()))
    example = source.example(batch=2 if dynamic else 1)
    dynamic_shapes: Any = ({0: torch.export.Dim("batch", min=1)},) if dynamic else None
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        torch.onnx.export(
            source.module, (example,), str(out_path), dynamo=True, external_data=False,
            input_names=["input"], output_names=output_names(n_out), opset_version=options.opset,
            dynamic_shapes=dynamic_shapes, verbose=False,
        )


def torch_to_onnx(source: TorchSource, out_path: Path, options: ExportOptions) -> None:
    """Export a PyTorch source to a float32 ONNX file (simplified).

    Args:
        source: The loaded PyTorch model.
        out_path: Where to write the ``.onnx`` file.
        options: ``dynamic_batch`` and ``opset`` are used; quantization is a later stage.

    Raises:
        ConversionError: the exporter cannot express the model.
    """
    try:
        try:
            _export(source, out_path, options, options.dynamic_batch)
        except Exception as exc:
            if not options.dynamic_batch:
                raise
            log.warning("dynamic batch export failed (%s); exporting with a static batch of 1",
                        first_line(exc))
            _export(source, out_path, options, dynamic=False)
    except Exception as exc:
        out_path.unlink(missing_ok=True)
        first = first_line(exc)
        raise ConversionError(
            f"torch.onnx.export could not convert the model: {first}. Ops the ONNX exporter cannot "
            "express must be rewritten (or registered with torch.onnx custom translations)"
        ) from exc
    simplify_onnx(out_path)
