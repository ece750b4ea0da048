"""Backends run tensors through a model: TFLite (LiteRT) and ONNX Runtime.

The registry key is the model file kind; the implementation module is imported on first
use, so ``import edgeinfer`` never imports a runtime.
"""

from __future__ import annotations

from edgeinfer.backends.base import Backend
from edgeinfer.registry import Registry

__all__ = ["Backend", "registry"]

registry: Registry[Backend] = Registry("backend", entry_point_group="edgeinfer.backends")
registry.register("tflite", "edgeinfer.backends.tflite:TFLiteBackend", extra="tflite", package="ai-edge-litert")
registry.register("onnx", "edgeinfer.backends.onnx:OnnxBackend", extra="onnx", package="onnxruntime")
