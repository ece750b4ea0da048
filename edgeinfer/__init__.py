"""edgeinfer: run quantized TFLite and ONNX models on edge devices.

``import edgeinfer`` imports the standard library and numpy only; runtimes, OpenCV and
MQTT are imported by the parts that need them, when they are first used::

    import edgeinfer
    model = edgeinfer.load("model.tflite")   # accelerator picked from what is present
    result = model.predict(frame_bgr)        # preprocess + infer + decode
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeinfer.errors import (
    AcceleratorError,
    ConfigError,
    ConversionError,
    EdgeInferError,
    InputError,
    MissingDependencyError,
    ModelError,
    SinkError,
    SourceError,
)
from edgeinfer.types import Frame, Geometry, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.model import Model, load
    from edgeinfer.ocr import load_ocr

__version__ = "0.1.0"
__all__ = [
    "AcceleratorError", "ConfigError", "ConversionError", "EdgeInferError", "Frame", "Geometry",
    "InputError", "MissingDependencyError", "Model", "ModelError", "SinkError", "SourceError",
    "TensorSpec", "draw", "load", "load_ocr",
]

_LAZY = {
    "load": "edgeinfer.model",
    "Model": "edgeinfer.model",
    "draw": "edgeinfer.annotate",
    "load_ocr": "edgeinfer.ocr",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'edgeinfer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
