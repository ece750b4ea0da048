"""Which kind of model a source is, and loading it through the registered loader."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from converters.layout import shapes_match
from converters.paths import load_source_loader
from edgeinfer.errors import ConversionError

__all__ = ["SUFFIX_KINDS", "detect_source_kind", "load_source"]

SUFFIX_KINDS = {
    ".onnx": "onnx", ".pt": "torch", ".pth": "torch", ".pt2": "torch",
    ".keras": "keras", ".h5": "keras", ".hdf5": "keras",
}


def detect_source_kind(source: Any) -> str:
    """Return ``torch``, ``keras``, ``saved_model`` or ``onnx`` for a model object or path.

    Raises:
        ConversionError: a missing path, an unknown suffix, or an object of no known framework.
    """
    if isinstance(source, str | Path):
        path = Path(source)
        if path.is_dir():
            if (path / "saved_model.pb").is_file():
                return "saved_model"
            raise ConversionError(f"{path} is a folder without saved_model.pb; give a model file or a SavedModel")
        if not path.exists():
            raise ConversionError(f"{path}: no such file")
        kind = SUFFIX_KINDS.get(path.suffix.lower())
        if kind is None:
            raise ConversionError(
                f"{path}: unknown model file type {path.suffix!r}; the converters read "
                f"{', '.join(sorted(SUFFIX_KINDS))} files and SavedModel folders"
            )
        return kind
    roots = {cls.__module__.split(".")[0] for cls in type(source).__mro__}
    if "torch" in roots:
        return "torch"
    if roots & {"keras", "tf_keras", "tensorflow"}:
        return "keras"
    raise ConversionError(
        f"Cannot convert a {type(source).__name__}: give a torch.nn.Module, a Keras model, or a path to a "
        f"model file ({', '.join(sorted(SUFFIX_KINDS))}) or SavedModel folder"
    )


def load_source(source: Any, kind: str, input_shape: Sequence[int] | None) -> Any:
    """Load ``source`` with the loader registered for ``kind``; check ``input_shape`` fits.

    Raises:
        ConversionError: the model cannot be loaded or the shape does not fit.
        MissingDependencyError: the framework is not installed.
    """
    loader = load_source_loader(kind)
    if "input_shape" in inspect.signature(loader).parameters:
        return loader(source, input_shape=input_shape)
    loaded = loader(source)
    if input_shape is not None and not shapes_match(loaded.input_shape, tuple(input_shape)):
        raise ConversionError(
            f"input shape {list(input_shape)} does not fit the model's input {list(loaded.input_shape)}"
        )
    return loaded
