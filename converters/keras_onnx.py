"""Keras / SavedModel -> float32 ONNX with ``tf2onnx``.

Export stage of the ``(keras, onnx)`` and ``(saved_model, onnx)`` paths;
the ONNX quantization stage runs afterwards on the float32 file. ``tf2onnx 1.17``'s
``convert.from_keras`` traces Keras 3 models (and SavedModels wrapped by
:mod:`converters.keras_source`) with TF 2.21. The input keeps the Keras layout (NHWC for
images); outputs follow the source's output order.
"""

from __future__ import annotations

from pathlib import Path

from converters.base import ExportOptions
from converters.keras_source import KerasSource, import_tensorflow
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["keras_to_onnx"]


def keras_to_onnx(source: KerasSource, out_path: Path, options: ExportOptions) -> None:
    """Convert a Keras model to a float32 ``.onnx`` file.

    Args:
        source: The loaded Keras model or wrapped SavedModel.
        out_path: Where to write the ``.onnx`` file (the caller makes it atomic).
        options: ``opset`` and ``dynamic_batch`` (else the batch is fixed to 1);
            quantization is left to the ONNX quantization stage.

    Raises:
        ConversionError: tf2onnx failed.
        MissingDependencyError: TensorFlow, tf2onnx or onnx is not installed.
    """
    tf, _ = import_tensorflow()
    try:
        import onnx
        import tf2onnx
    except ImportError as exc:
        raise MissingDependencyError("tf2onnx", "convert-tf", "converting Keras models to ONNX") from exc
    batch = None if options.dynamic_batch else 1
    dims = tuple(d if d > 0 else None for d in source.input_shape[1:])
    signature = (tf.TensorSpec((batch, *dims), tf.float32, name=source.input_name),)
    try:
        model_proto, _ = tf2onnx.convert.from_keras(source.model, input_signature=signature,
                                                    opset=options.opset)
    except Exception as exc:
        raise ConversionError(f"tf2onnx could not convert the Keras model to ONNX (opset "
                              f"{options.opset}): {exc}") from exc
    onnx.save(model_proto, str(out_path))
