"""Load a Keras model or a TensorFlow SavedModel as a conversion source.

First stage of the Keras paths (see :mod:`converters.base`): a ``keras.Model``, a
``.keras`` / ``.h5`` file or a SavedModel folder becomes a :class:`KerasSource` that
the export functions (:mod:`converters.keras_tflite`, :mod:`converters.keras_onnx`)
read and that runs the source for the fidelity check.

A SavedModel is wrapped in a Keras model around ``keras.layers.TFSMLayer`` so that both
kinds share one export path (``TFLiteConverter.from_keras_model``, ``tf2onnx``).
Outputs are always in one order: the model's output order for Keras models, the
signature's output keys in natural order (``output_0, output_1, ..., output_10``) for
SavedModels; the exporters write their artifacts in the same order.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import SourceKind, file_sha256
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["KerasSource", "import_tensorflow", "load_keras_source", "natural_key"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_SIGNATURE_KEY = "serving_default"


def import_tensorflow() -> tuple[Any, Any]:
    """Import TensorFlow and Keras, or say which extra installs them.

    Returns:
        The ``tensorflow`` and ``keras`` modules.

    Raises:
        MissingDependencyError: TensorFlow or Keras is not installed.
    """
    try:
        import keras
        import tensorflow as tf
    except ImportError as exc:
        raise MissingDependencyError("tensorflow", "convert-tf", "converting Keras models") from exc
    return tf, keras


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key that puts ``output_2`` before ``output_10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


@dataclass(frozen=True, eq=False)
class KerasSource:
    """A Keras model (or a wrapped SavedModel) ready for export.

    Attributes:
        kind: ``keras`` or ``saved_model``.
        input_shape: Input shape with batch ``-1`` (and ``-1`` for other dynamic dims).
        layout: ``"nhwc"`` for 4-D inputs, else ``None``.
        sha256: Hash of the file, the SavedModel folder, or the weights of an in-memory model.
        framework_versions: ``{"tensorflow": ..., "keras": ...}``.
        model: The Keras model; for SavedModels a wrapper around ``TFSMLayer`` whose outputs
            are a list in natural key order.
        input_name: Name given to the input of exported artifacts.
        saved_model_dir: The SavedModel folder, or ``None`` for Keras models.
        output_names: Output names in ``predict`` order (Keras output names, or the
            SavedModel signature's output keys).
    """

    kind: SourceKind
    input_shape: tuple[int, ...]
    layout: str | None
    sha256: str
    framework_versions: dict[str, str]
    model: Any
    input_name: str = "input"
    saved_model_dir: Path | None = None
    output_names: list[str] = field(default_factory=list)

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the model on a batch.

        Args:
            x: float32 array shaped like ``input_shape`` (NHWC for images), any batch size.

        Returns:
            The outputs as float32 arrays, in the order the exported artifacts use.
        """
        outputs = call_model(self.model, np.asarray(x, dtype=np.float32))
        return [np.asarray(out, dtype=np.float32) for out in _as_list(outputs)]


def call_model(model: Any, inputs: Any) -> Any:
    """Call a Keras model on one input (an array or a symbolic ``keras.Input``).

    Models loaded from Keras 2 ``.h5`` files declare their input as a one-element list
    and warn on every call with a bare tensor, although the result is the same.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        return model(inputs, training=False)


def _as_list(outputs: Any) -> list[Any]:
    if isinstance(outputs, dict):
        return [outputs[key] for key in sorted(outputs, key=natural_key)]
    if isinstance(outputs, list | tuple):
        return list(outputs)
    return [outputs]


def load_keras_source(source: Any, input_shape: Sequence[int] | None = None) -> KerasSource:
    """Load a Keras model, a ``.keras`` / ``.h5`` file or a SavedModel folder.

    Args:
        source: A ``keras.Model``, a path to a ``.keras`` or ``.h5`` file, or a SavedModel
            folder (one holding ``saved_model.pb``).
        input_shape: Overrides the input shape (batch first) for models whose input has
            dynamic dimensions other than the batch; NHWC for images.

    Returns:
        The loaded :class:`KerasSource`.

    Raises:
        ConversionError: the path is not a Keras model or SavedModel, cannot be loaded, or
            the model does not have exactly one input.
        MissingDependencyError: TensorFlow is not installed.
    """
    tf, keras = import_tensorflow()
    versions = {"tensorflow": str(tf.__version__), "keras": str(keras.__version__)}
    if type(source).__module__.startswith("tf_keras."):
        source = _from_tf_keras(keras, source)
    if isinstance(source, keras.Model):
        shape = _model_input_shape(source, input_shape)
        return _make_source("keras", source, shape, _weights_sha256(source), versions)
    if not isinstance(source, str | os.PathLike):
        raise ConversionError(f"Cannot load a {type(source).__name__} as a Keras source; expected a "
                              "keras.Model, a .keras / .h5 path or a SavedModel folder.")
    path = Path(source)
    if path.is_dir():
        return _load_saved_model(path, input_shape, versions)
    model = _load_keras_file(keras, path)
    shape = _model_input_shape(model, input_shape)
    return _make_source("keras", model, shape, file_sha256(path), versions)


def _make_source(kind: SourceKind, model: Any, shape: tuple[int, ...], sha256: str,
                 versions: dict[str, str], *, saved_model_dir: Path | None = None,
                 output_names: list[str] | None = None) -> KerasSource:
    name = str(getattr(model.inputs[0], "name", "") or "input")
    if name.startswith(("keras_tensor", "input_layer")):
        name = "input"  # Keras' generated names change with every model built in a process.
    return KerasSource(kind=kind, input_shape=shape, layout="nhwc" if len(shape) == 4 else None,
                       sha256=sha256, framework_versions=versions, model=model, input_name=name,
                       saved_model_dir=saved_model_dir,
                       output_names=output_names or [str(n) for n in getattr(model, "output_names", [])])


def _from_tf_keras(keras: Any, model: Any) -> Any:
    """Bring a Keras 2 (``tf_keras``) model into Keras 3 through an HDF5 file."""
    with tempfile.TemporaryDirectory(prefix="edgeinfer-tf-keras-") as folder:
        path = Path(folder) / "model.h5"
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy", category=UserWarning)
                model.save(path)
        except Exception as exc:
            raise ConversionError(f"Could not save the tf_keras model as HDF5 to bring it into "
                                  f"Keras 3: {exc}. Save it yourself and pass the file.") from exc
        return _load_keras_file(keras, path)


def _load_keras_file(keras: Any, path: Path) -> Any:
    expected = "a Keras model: a .keras file, a .h5 file or a SavedModel folder"
    if not path.is_file():
        raise ConversionError(f"{path} does not exist; expected {expected}.")
    suffix = path.suffix.lower()
    if suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ConversionError(f"{path} is not a Keras v3 archive (.keras files are zip archives); "
                              f"expected {expected}. Save the model with model.save('model.keras').")
    if suffix in {".h5", ".hdf5"} and _read_head(path, len(_HDF5_MAGIC)) != _HDF5_MAGIC:
        raise ConversionError(f"{path} is not an HDF5 file; expected {expected}.")
    if suffix not in {".keras", ".h5", ".hdf5"}:
        raise ConversionError(f"{path} has the suffix {suffix!r}; expected {expected}.")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        raise ConversionError(
            f"Keras could not load {path}: {exc}. If it uses custom layers, load it yourself "
            "(with custom_objects) and pass the keras.Model object instead of the path."
        ) from exc


def _load_saved_model(path: Path, input_shape: Sequence[int] | None,
                      versions: dict[str, str]) -> KerasSource:
    tf, keras = import_tensorflow()
    if not (path / "saved_model.pb").is_file():
        raise ConversionError(f"{path} is a folder without saved_model.pb; expected a TensorFlow "
                              "SavedModel folder (model.export(dir) or tf.saved_model.save).")
    try:
        signature = tf.saved_model.load(str(path)).signatures[_SIGNATURE_KEY]
    except Exception as exc:
        raise ConversionError(f"TensorFlow could not load the {_SIGNATURE_KEY!r} signature of "
                              f"the SavedModel {path}: {exc}") from exc
    specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1 or signature.structured_input_signature[0]:
        raise ConversionError(f"The SavedModel {path} has {len(specs)} named inputs; "
                              "edgeinfer converts models with exactly one input.")
    shape = _shape_or_override(tuple(specs[0].shape.as_list()), input_shape, str(path))
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=_SIGNATURE_KEY)
    inputs = keras.Input(batch_shape=(None, *(d if d > 0 else None for d in shape[1:])),
                         dtype=specs[0].dtype.name, name="input")
    outputs = _as_list(layer(inputs))
    model = keras.Model(inputs, outputs)
    keys = sorted(signature.structured_outputs, key=natural_key)
    return _make_source("saved_model", model, shape, _folder_sha256(path), versions,
                        saved_model_dir=path, output_names=keys)


def _model_input_shape(model: Any, override: Sequence[int] | None) -> tuple[int, ...]:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError) as exc:
        raise ConversionError("The Keras model has no defined inputs (a subclassed model that was "
                              "never built?); wrap it in a functional model with keras.Input.") from exc
    if len(inputs) != 1:
        raise ConversionError(f"The Keras model has {len(inputs)} inputs; edgeinfer converts "
                              "models with exactly one input.")
    return _shape_or_override(tuple(inputs[0].shape), override, "the Keras model")


def _shape_or_override(shape: tuple[int | None, ...], override: Sequence[int] | None,
                       what: str) -> tuple[int, ...]:
    if override is None:
        return (-1, *(-1 if d is None else int(d) for d in shape[1:]))
    if len(override) != len(shape) or any(
        d is not None and d != o for d, o in zip(shape[1:], override[1:], strict=True)
    ):
        raise ConversionError(f"The input shape {tuple(override)} does not fit {what}, whose input "
                              f"is {tuple(shape)} (None: any size).")
    return (-1, *(int(o) for o in override[1:]))


def _read_head(path: Path, size: int) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)



def _folder_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(bytes.fromhex(file_sha256(file)))
    return digest.hexdigest()


def _weights_sha256(model: Any) -> str:
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(np.asarray(weight)).tobytes())
    return digest.hexdigest()
