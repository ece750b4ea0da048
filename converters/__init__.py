"""converters: PyTorch, Keras/TensorFlow and ONNX models to checked, quantized TFLite/ONNX artifacts.

Runs on developer machines (``pip install 'edgeinfer[convert]'``); ``import edgeinfer``
never imports it, and importing it loads no framework: each path imports its tools when
it runs. One call does everything::

    import converters
    report = converters.convert(model, to="tflite", quantize="int8", calibration="images/",
                                card="card.yaml", input_shape=(1, 3, 224, 224), out="model.tflite")

The stages are public too, for users who want control: one function per path
(``convert_torch_to_tflite`` ...), :func:`quantize_onnx`, :func:`quantize_tflite`,
:func:`set_io_type`, :func:`prune_source`, :func:`compile_edgetpu`, and the path registry
(:func:`available_paths`, :func:`register_path`). :func:`converters.distill.distill` trains a small
student on a teacher's outputs before conversion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converters.api import convert
from converters.paths import ConversionPath, available_paths, get_path, register_path
from converters.report import ConversionReport, FidelityError, OutputFidelity, Thresholds

__all__ = [
    "ConversionPath",
    "ConversionReport",
    "FidelityError",
    "OutputFidelity",
    "Thresholds",
    "available_paths",
    "compile_edgetpu",
    "convert",
    "convert_keras_to_onnx",
    "convert_keras_to_tflite",
    "convert_onnx_to_onnx",
    "convert_onnx_to_tflite",
    "convert_torch_to_onnx",
    "convert_torch_to_tflite",
    "get_path",
    "prune_source",
    "quantize_onnx",
    "quantize_tflite",
    "register_path",
    "set_io_type",
]

_LAZY = {
    "quantize_onnx": "converters.onnx_quantize",
    "quantize_tflite": "converters.tflite_quantize",
    "set_io_type": "converters.tflite_interface",
    "prune_source": "converters.prune",
    "compile_edgetpu": "converters.edgetpu",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'converters' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def _path_function(kind: str, target: str) -> Any:
    def run(source: Any, out: str | Path | None = None, **options: Any) -> ConversionReport:
        return convert(source, to=target, out=out, source_kind=kind, **options)

    run.__name__ = f"convert_{kind}_to_{target}"
    run.__qualname__ = run.__name__
    run.__doc__ = (
        f"Convert a {kind} model to {target} through the {kind}->{target} path only.\n\n"
        "Takes the keyword arguments of :func:`converters.convert` (except ``to``).\n"
    )
    return run


convert_torch_to_onnx = _path_function("torch", "onnx")
convert_torch_to_tflite = _path_function("torch", "tflite")
convert_onnx_to_onnx = _path_function("onnx", "onnx")
convert_onnx_to_tflite = _path_function("onnx", "tflite")
convert_keras_to_tflite = _path_function("keras", "tflite")
convert_keras_to_onnx = _path_function("keras", "onnx")
