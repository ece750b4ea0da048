"""ONNX files read as protobuf at the top level only (no ``onnx`` package needed).

The ModelProto fields used here: 7 ``graph`` (must be present), 8 ``opset_import``,
14 ``metadata_props`` (``StringStringEntryProto``: 1 key, 2 value). Tensor shapes:
GraphProto.input 11, output 12; ValueInfoProto.type 2; TypeProto.tensor_type 1;
Tensor.shape 2; TensorShapeProto.dim 1; Dimension.dim_value 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edgeinfer.formats import ModelFile, Shape, ultralytics

__all__ = ["OnnxFile", "iter_fields"]

_GRAPH, _METADATA = 7, 14
_GRAPH_INPUT, _GRAPH_OUTPUT = 11, 12


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int, int, bytes | int]]:
    """Yield ``(field, wire_type, start, end, value)`` for each top-level protobuf field.

    Raises:
        ValueError: the bytes are not a well-formed protobuf message.
    """
    pos = 0
    while pos < len(data):
        start = pos
        tag, pos = _varint(data, pos)
        field, wire = tag >> 3, tag & 7
        if field == 0:
            raise ValueError("field number 0")
        value: bytes | int
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            value, pos = int.from_bytes(data[pos:pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = int.from_bytes(data[pos:pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated field")
        yield field, wire, start, pos, value


def _entry(data: bytes) -> tuple[str, str]:
    key = value = ""
    for field, _, _, _, raw in iter_fields(data):
        if field == 1 and isinstance(raw, bytes):
            key = raw.decode("utf-8")
        elif field == 2 and isinstance(raw, bytes):
            value = raw.decode("utf-8")
    return key, value


def _sub(data: bytes, number: int) -> bytes:
    """The first length-delimited field ``number`` of a message, or empty bytes."""
    return next((v for f, _, _, _, v in iter_fields(data) if f == number and isinstance(v, bytes)), b"")


def _value_shape(value_info: bytes) -> Shape:
    shape = _sub(_sub(_sub(value_info, 2), 1), 2)
    dims = []
    for field, _, _, _, dim in iter_fields(shape):
        if field == 1 and isinstance(dim, bytes):
            dim_value = next((v for f, _, _, _, v in iter_fields(dim) if f == 1 and isinstance(v, int)), -1)
            dims.append(int(dim_value))
    return tuple(dims)


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _encode_bytes(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


class OnnxFile(ModelFile):
    """An ONNX ModelProto."""

    kind = "onnx"
    image_layout = "nchw"

    def validate(self) -> None:
        try:
            fields = {f for f, *_ in iter_fields(self.data)}
        except ValueError as exc:
            raise self.error(
                f"not a valid ONNX model ({exc}); the file is truncated or corrupt",
                "Export or copy it again.",
            ) from None
        if _GRAPH not in fields:
            raise self.error("ONNX file has no graph", "Export the model again.")

    def metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for field, _, _, _, raw in iter_fields(self.data):
            if field == _METADATA and isinstance(raw, bytes):
                key, value = _entry(raw)
                out[key] = value
        return out

    def _read_shapes(self) -> tuple[list[Shape], list[Shape]]:
        inputs: list[Shape] = []
        outputs: list[Shape] = []
        for field, _, _, _, value in iter_fields(_sub(self.data, _GRAPH)):
            if field in (_GRAPH_INPUT, _GRAPH_OUTPUT) and isinstance(value, bytes):
                (inputs if field == _GRAPH_INPUT else outputs).append(_value_shape(value))
        return inputs, outputs

    def ultralytics_metadata(self) -> dict[str, Any] | None:
        return ultralytics.from_literal_props(self.metadata(), self.label)

    def with_metadata(self, key: str, value: str) -> bytes:
        kept = bytearray()
        for field, _, start, end, raw in iter_fields(self.data):
            if field == _METADATA and isinstance(raw, bytes) and _entry(raw)[0] == key:
                continue
            kept += self.data[start:end]
        entry = _encode_bytes(1, key.encode()) + _encode_bytes(2, value.encode())
        return bytes(kept) + _encode_bytes(_METADATA, entry)
