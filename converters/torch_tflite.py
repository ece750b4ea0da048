"""PyTorch -> TFLite with litert-torch (no TensorFlow needed).

Image models with NCHW input are wrapped with ``litert_torch.to_channel_last_io`` so the
artifact takes NHWC, the TFLite convention and what camera frames need least work for.
The export is float32; :mod:`converters.tflite_quantize` quantizes it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

from converters.base import ExportOptions, first_line
from converters.torch_source import TorchSource
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["torch_to_tflite"]


def torch_to_tflite(source: TorchSource, out_path: Path, options: ExportOptions) -> None:
    """Export a PyTorch source to a float32 ``.tflite`` file (static batch).

    Args:
        source: The loaded PyTorch model.
        out_path: Where to write the ``.tflite`` file.
        options: ``channels_last`` makes NCHW image inputs NHWC.

    Raises:
        ConversionError: litert-torch cannot convert the model.
        MissingDependencyError: litert-torch is not installed.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import litert_torch
    except ImportError as exc:
        raise MissingDependencyError("litert-torch", "convert-torch", "PyTorch -> TFLite") from exc
    module = source.module
    example = source.example()
    if options.channels_last and source.layout == "nchw":
        module = litert_torch.to_channel_last_io(module, args=[0])
        example = example.permute(0, 2, 3, 1).contiguous()
    quiet = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            warnings.simplefilter("ignore")
            logging.getLogger("torch").setLevel(logging.ERROR)
            edge_model = litert_torch.convert(module, (example,))
            edge_model.export(str(out_path))
    except Exception as exc:
        out_path.unlink(missing_ok=True)
        first = first_line(exc)
        raise ConversionError(
            f"litert-torch could not convert the model to TFLite: {first}. Ops TFLite cannot express "
            "must be rewritten; a dynamic batch needs reshape(-1, C) instead of flatten(1)"
        ) from exc
