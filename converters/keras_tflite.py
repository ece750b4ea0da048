"""Keras / SavedModel -> TFLite, quantizing in the converter itself.

Export stage of the ``(keras, tflite)`` and ``(saved_model, tflite)`` paths. It uses
``tf.lite.TFLiteConverter.from_keras_model`` for every mode: it works on Keras 3 models
directly, and SavedModels arrive wrapped in a Keras model by
:mod:`converters.keras_source`. (``from_concrete_functions`` on a ``tf.function`` wrapper
silently produces NaN outputs with TF 2.21, so it is not used.)

The converter orders the outputs of the ``.tflite`` by internal tensor name, not as the
model returns them; the flatbuffer's output list is rewritten to follow the signature
(``output_0, output_1, ...``), so outputs can be matched to the source by index.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import ExportOptions
from converters.keras_source import KerasSource, call_model, import_tensorflow, natural_key
from edgeinfer.errors import ConversionError

__all__ = ["keras_to_tflite"]


def keras_to_tflite(source: KerasSource, out_path: Path, options: ExportOptions) -> None:
    """Convert a Keras model to a ``.tflite`` file, quantized as ``options.quantize`` asks.

    Args:
        source: The loaded Keras model or wrapped SavedModel.
        out_path: Where to write the ``.tflite`` file (the caller makes it atomic).
        options: ``quantize`` (none, fp16, dynamic, int8), ``calibration`` (float32 NHWC
            batches, needed for int8), ``io_type`` (float32, int8 or uint8 input/output for
            int8) and ``dynamic_batch`` (else the batch is fixed to 1).

    Raises:
        ConversionError: int8 without calibration data, or the converter failed.
        MissingDependencyError: TensorFlow is not installed.
    """
    tf, _ = import_tensorflow()
    model = source.model if options.dynamic_batch else _fixed_batch_model(source)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    _configure(tf, converter, source, options)
    try:
        # The converter prints the traced signature to stdout, and warns that int8 I/O
        # has no input statistics: both are expected, neither concerns the user.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            flatbuffer = bytes(converter.convert())
    except Exception as exc:
        raise ConversionError(
            f"TFLiteConverter could not convert the Keras model (quantize={options.quantize}): "
            f"{exc}. Ops that TFLite builtins cannot express need a different model design."
        ) from exc
    out_path.write_bytes(_outputs_in_signature_order(flatbuffer))


def _fixed_batch_model(source: KerasSource) -> Any:
    """Rebuild the model on an input with batch 1 (static shapes suit delegates and Edge TPU)."""
    _, keras = import_tensorflow()
    dims = tuple(d if d > 0 else None for d in source.input_shape[1:])
    inputs = keras.Input(batch_shape=(1, *dims), dtype="float32", name=source.input_name)
    outputs = call_model(source.model, inputs)
    if isinstance(outputs, dict):
        outputs = [outputs[key] for key in sorted(outputs, key=natural_key)]
    return keras.Model(inputs, outputs)


def _configure(tf: Any, converter: Any, source: KerasSource, options: ExportOptions) -> None:
    if options.quantize == "none":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.quantize == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif options.quantize == "int8":
        if not options.calibration:
            raise ConversionError("int8 quantization needs calibration data: pass images with "
                                  "--calib DIR (or calibration=... in Python).")
        converter.representative_dataset = lambda: _representative(options.calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io_dtype = {"float32": tf.float32, "int8": tf.int8, "uint8": tf.uint8}[options.io_type]
        converter.inference_input_type = io_dtype
        converter.inference_output_type = io_dtype
    elif options.quantize != "dynamic":
        raise ConversionError(f"Unknown quantization mode {options.quantize!r}; "
                              "choose none, fp16, dynamic or int8.")


def _representative(batches: list[np.ndarray]) -> Iterator[list[np.ndarray]]:
    for batch in batches:
        for sample in np.asarray(batch, dtype=np.float32).reshape(-1, *np.shape(batch)[1:]):
            yield [sample[np.newaxis]]


def _outputs_in_signature_order(flatbuffer: bytes) -> bytes:
    """Reorder the subgraph outputs to the signature's natural key order."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    if len(model.subgraphs) != 1 or len(model.signatureDefs or []) != 1:
        return flatbuffer
    signature = model.signatureDefs[0]
    ordered = sorted(signature.outputs, key=lambda t: natural_key(_text(t.name)))
    indices = [t.tensorIndex for t in ordered]
    subgraph = model.subgraphs[0]
    if sorted(indices) != sorted(int(i) for i in subgraph.outputs) or len(indices) < 2:
        return flatbuffer
    subgraph.outputs = np.asarray(indices, dtype=np.int32)
    signature.outputs = ordered
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name
