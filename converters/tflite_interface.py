"""Change the input/output type of a full-integer TFLite model (int8 -> float32 or uint8).

ai-edge-quantizer's static recipe gives int8 inputs and outputs. Devices and users may
want float32 I/O (the model quantizes on entry and dequantizes on exit) or uint8 I/O
(camera pixels, older Edge TPU pipelines). TF's ``modify_model_interface`` only goes the
other way (float I/O with QUANTIZE/DEQUANTIZE ops -> int8/uint8), so the graph is edited
here: a QUANTIZE (or DEQUANTIZE) op is put in front of every int8 input and behind every
int8 output, and the signature is pointed at the new tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["ensure_signature", "inline_buffers", "set_io_type"]

_BUILTIN_QUANTIZE = 114
_BUILTIN_DEQUANTIZE = 6


def _schema() -> tuple[Any, Any]:
    try:
        from ai_edge_litert import schema_py_generated as schema
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError as exc:
        raise MissingDependencyError("ai-edge-litert", "convert-torch", "editing TFLite models") from exc
    return schema, flatbuffer_utils


def _opcode(model: Any, schema: Any, builtin: int) -> int:
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 2
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _new_tensor(subgraph: Any, schema: Any, like: Any, io_type: str) -> int:
    tensor = schema.TensorT()
    tensor.shape = np.array(like.shape, dtype=np.int32)
    if like.shapeSignature is not None:
        tensor.shapeSignature = np.array(like.shapeSignature, dtype=np.int32)
    tensor.buffer = 0
    name = like.name.decode() if isinstance(like.name, bytes) else str(like.name)
    tensor.name = f"{name}_{io_type}".encode()
    if io_type == "uint8":
        tensor.type = schema.TensorType.UINT8
        quant = schema.QuantizationParametersT()
        quant.scale = np.array(like.quantization.scale, dtype=np.float32)
        quant.zeroPoint = np.array(like.quantization.zeroPoint, dtype=np.int64) + 128
        tensor.quantization = quant
    else:
        tensor.type = schema.TensorType.FLOAT32
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _operator(opcode: int, inputs: int, outputs: int, schema: Any) -> Any:
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = np.array([inputs], dtype=np.int32)
    op.outputs = np.array([outputs], dtype=np.int32)
    return op


def _rewire(model: Any, schema: Any, io_type: str) -> dict[int, int]:
    subgraph = model.subgraphs[0]
    quantize = _opcode(model, schema, _BUILTIN_QUANTIZE)
    dequantize = _opcode(model, schema, _BUILTIN_DEQUANTIZE)
    remap: dict[int, int] = {}
    front, back = [], []
    for pos, idx in enumerate(subgraph.inputs):
        old = subgraph.tensors[idx]
        if old.type != schema.TensorType.INT8:
            continue
        new = _new_tensor(subgraph, schema, old, io_type)
        front.append(_operator(quantize, new, int(idx), schema))
        subgraph.inputs[pos] = new
        remap[int(idx)] = new
    for pos, idx in enumerate(subgraph.outputs):
        old = subgraph.tensors[idx]
        if old.type != schema.TensorType.INT8:
            continue
        new = _new_tensor(subgraph, schema, old, io_type)
        back.append(_operator(dequantize if io_type == "float32" else quantize, int(idx), new, schema))
        subgraph.outputs[pos] = new
        remap[int(idx)] = new
    subgraph.operators = front + list(subgraph.operators) + back
    return remap


def inline_buffers(model_bytes: bytes) -> bytes:
    """Re-serialize a model with every buffer inside the flatbuffer.

    Quantizers may append weights after the flatbuffer and address them by offset;
    re-packing puts them back inline, so tools that edit the flatbuffer (metadata,
    the model card) keep them.
    """
    _, flatbuffer_utils = _schema()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _tensor_map(schema: Any, name: Any, index: int) -> Any:
    entry = schema.TensorMapT()
    entry.name = name if isinstance(name, bytes) else str(name).encode()
    entry.tensorIndex = int(index)
    return entry


def ensure_signature(model_bytes: bytes) -> bytes:
    """Return the model with a ``serving_default`` signature over subgraph 0 if it has none.

    Some converters (onnx2tf) write no signature; ai-edge-quantizer calibrates through
    signature runners, so one is added naming each input and output by its tensor name.
    """
    schema, flatbuffer_utils = _schema()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    if model.signatureDefs:
        return model_bytes
    subgraph = model.subgraphs[0]
    signature = schema.SignatureDefT()
    signature.signatureKey = b"serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(schema, subgraph.tensors[i].name, i) for i in subgraph.inputs]
    signature.outputs = [_tensor_map(schema, subgraph.tensors[i].name, i) for i in subgraph.outputs]
    model.signatureDefs = [signature]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def set_io_type(model_bytes: bytes, io_type: str) -> bytes:
    """Return a full-integer model whose int8 inputs/outputs become ``io_type`` (buffers inline).

    Args:
        model_bytes: A ``.tflite`` flatbuffer with int8 inputs/outputs (one subgraph).
        io_type: ``int8`` (unchanged), ``uint8`` (same scale, zero point + 128) or ``float32``.

    Returns:
        The edited flatbuffer.

    Raises:
        ConversionError: the model has several subgraphs or cannot be parsed.
    """
    schema, flatbuffer_utils = _schema()
    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(model_bytes))
    except Exception as exc:
        raise ConversionError(f"Cannot parse the quantized TFLite model to set its I/O type: {exc}") from exc
    if len(model.subgraphs) != 1:
        raise ConversionError(
            f"Setting io_type={io_type} needs a single-subgraph model; this one has {len(model.subgraphs)}"
        )
    remap = _rewire(model, schema, io_type) if io_type != "int8" else {}
    for signature in model.signatureDefs or []:
        for tensor_map in list(signature.inputs or []) + list(signature.outputs or []):
            tensor_map.tensorIndex = remap.get(int(tensor_map.tensorIndex), tensor_map.tensorIndex)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
