"""The registry of conversion paths (source kind x target) and of source loaders.

A path maps ``(source_kind, target)`` to an export function given as
``"module:function"``; the module is imported on first use, so ``import converters``
pulls in no framework. Asking for a path that does not exist lists the ones that do.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from converters.base import ExportFn
from edgeinfer.errors import ConfigError, ConversionError, MissingDependencyError

__all__ = [
    "ConversionPath",
    "available_paths",
    "get_path",
    "load_source_loader",
    "register_path",
    "register_source_loader",
]


@dataclass(frozen=True)
class ConversionPath:
    """One way to turn a source kind into a target format.

    Attributes:
        source_kind: ``torch``, ``keras``, ``saved_model`` or ``onnx``.
        target: ``tflite`` or ``onnx``.
        export: ``"module:function"`` of an :data:`~converters.base.ExportFn`.
        converter: Human-readable name of the tool doing the work, for the report.
        extra: The pip extra that installs its dependencies.
        handles_quantization: The export function quantizes itself; the shared
            quantization stage of the target is skipped.
    """

    source_kind: str
    target: str
    export: str
    converter: str
    extra: str = "convert"
    handles_quantization: bool = False

    @property
    def name(self) -> str:
        """``"<source_kind>->{target}"``."""
        return f"{self.source_kind}->{self.target}"

    def load(self) -> ExportFn:
        """Import and return the export function.

        Raises:
            MissingDependencyError: a framework the path needs is not installed.
        """
        fn: ExportFn = _import_target(self.export, self.extra, f"the {self.name} conversion")
        return fn


def _import_target(target: str, extra: str, purpose: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and (exc.name == module_name or module_name.startswith(exc.name + ".")):
            raise ConversionError(f"{purpose} is not available in this version: {exc}") from exc
        raise MissingDependencyError(exc.name or module_name, extra, purpose) from exc
    return getattr(module, attr)


_PATHS: dict[tuple[str, str], ConversionPath] = {}
_LOADERS: dict[str, tuple[str, str]] = {}


def register_path(path: ConversionPath) -> None:
    """Add a conversion path; an existing ``(source_kind, target)`` raises ``ConfigError``."""
    key = (path.source_kind, path.target)
    if key in _PATHS:
        raise ConfigError(f"A conversion path {path.name} is already registered ({_PATHS[key].export})")
    _PATHS[key] = path


def available_paths() -> list[ConversionPath]:
    """All registered paths, sorted by source kind and target."""
    return [_PATHS[k] for k in sorted(_PATHS)]


def get_path(source_kind: str, target: str) -> ConversionPath:
    """Return the path for ``(source_kind, target)``.

    Raises:
        ConversionError: no such path; the message lists the available ones.
    """
    try:
        return _PATHS[(source_kind, target)]
    except KeyError:
        known = ", ".join(p.name for p in available_paths())
        raise ConversionError(
            f"No conversion path from {source_kind!r} to {target!r}. Available: {known}"
        ) from None


def register_source_loader(kind: str, target: str, extra: str) -> None:
    """Register ``"module:function"`` that loads sources of ``kind`` (``fn(source) -> SourceModel``)."""
    if kind in _LOADERS:
        raise ConfigError(f"A source loader for {kind!r} is already registered")
    _LOADERS[kind] = (target, extra)


def load_source_loader(kind: str) -> Any:
    """Import and return the loader function for a source kind.

    Raises:
        ConversionError: no loader for ``kind``.
        MissingDependencyError: the framework is not installed.
    """
    if kind not in _LOADERS:
        raise ConversionError(f"No loader for source kind {kind!r}. Known: {', '.join(sorted(_LOADERS))}")
    target, extra = _LOADERS[kind]
    return _import_target(target, extra, f"loading {kind} models")


register_source_loader("torch", "converters.torch_source:load_torch_source", "convert-torch")
register_source_loader("onnx", "converters.onnx_source:load_onnx_source", "convert-torch")
register_source_loader("keras", "converters.keras_source:load_keras_source", "convert-tf")
register_source_loader("saved_model", "converters.keras_source:load_keras_source", "convert-tf")

for _path in (
    ConversionPath("torch", "onnx", "converters.torch_onnx:torch_to_onnx",
                   "torch.onnx.export (dynamo) + onnxslim", "convert-torch"),
    ConversionPath("torch", "tflite", "converters.torch_tflite:torch_to_tflite", "litert-torch",
                   "convert-torch"),
    ConversionPath("onnx", "onnx", "converters.onnx_source:onnx_to_onnx", "onnxslim", "convert-torch"),
    ConversionPath("onnx", "tflite", "converters.onnx_tflite:onnx_to_tflite", "onnx2tf", "convert-tf"),
    ConversionPath("keras", "tflite", "converters.keras_tflite:keras_to_tflite",
                   "tf.lite.TFLiteConverter.from_keras_model", "convert-tf", handles_quantization=True),
    ConversionPath("keras", "onnx", "converters.keras_onnx:keras_to_onnx", "tf2onnx", "convert-tf"),
    ConversionPath("saved_model", "tflite", "converters.keras_tflite:keras_to_tflite",
                   "tf.lite.TFLiteConverter", "convert-tf", handles_quantization=True),
    ConversionPath("saved_model", "onnx", "converters.keras_onnx:keras_to_onnx", "tf2onnx", "convert-tf"),
):
    register_path(_path)
