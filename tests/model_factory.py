"""Small real models built inside the tests (no downloads), cached per session.

Keras models are converted with TFLiteConverter.from_keras_model (the path measured to
work with Keras 3); ONNX models are written with onnx.helper or onnxruntime's quantizer.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np


def keras_cnn(input_hw: tuple[int, int] = (32, 32), channels: int = 3, classes: int = 4, seed: int = 0):
    """A small Keras CNN with a dynamic batch dimension and softmax output."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(*input_hw, channels))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def representative(shape: tuple[int, ...], n: int = 16, seed: int = 0) -> Iterator[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield [rng.uniform(0, 1, (1, *shape)).astype(np.float32)]


@cache
def tflite_bytes(quantize: str = "none", io_type: str = "int8") -> bytes:
    """TFLite model bytes: ``none`` (float32) or ``int8`` (full integer, int8/uint8 I/O)."""
    import tensorflow as tf

    model = keras_cnn()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: representative((32, 32, 3))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io_type)
        converter.inference_output_type = getattr(tf, io_type)
    with warnings.catch_warnings():
        # TF warns that quantized inputs carry no statistics; the test feeds quantized data.
        warnings.simplefilter("ignore", UserWarning)
        return bytes(converter.convert())


def onnx_cnn_bytes(seed: int = 0) -> bytes:
    """A float32 ONNX CNN with input ``x`` [N, 3, 16, 16] and output ``y`` [N, 5] (dynamic batch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 5)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "w2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
        initializer=[w1, b1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_int8_path(folder: Path) -> Path:
    """The ONNX CNN quantized to int8 QDQ with onnxruntime's static quantizer."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(1)
            self.items = iter([{"x": rng.uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.items, None)

    src = folder / "cnn_f32.onnx"
    src.write_bytes(onnx_cnn_bytes())
    out = folder / "cnn_int8.onnx"
    quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ)
    return out


def tflite_with_custom_op(model: bytes, name: str) -> bytes:
    """Rewrite the model's first operator code into a custom op called ``name``."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model, 0)
    m.operatorCodes[0].builtinCode = schema.BuiltinOperator.CUSTOM
    m.operatorCodes[0].deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    m.operatorCodes[0].customCode = name
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def onnx_unknown_op_bytes() -> bytes:
    """A well-formed ONNX file whose one node is an operator no runtime has."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["x"], ["y"])], "unknown",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()
