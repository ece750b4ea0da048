"""ONNX files read as protobuf at the top level only (no ``onnx`` package needed).

The ModelProto fields used here: 7 ``graph`` (must be present), 8 ``opset_import``,
14 ``metadata_props`` (``StringStringEntryProto``: 1 key, 2 value). Tensor shapes:
GraphProto.input 11, output 12; ValueInfoProto.name 1, type 2; TypeProto.tensor_type 1;
Tensor.elem_type 1, shape 2; TensorShapeProto.dim 1; Dimension.dim_value 1.

Validation reads the metadata (UTF-8 text, as protobuf strings must be) and the declared
input shapes: no negative dimension, no input over
:data:`~edgeinfer.formats.MAX_TENSOR_BYTES` (edgeinfer allocates inputs for a first
inference, and ONNX Runtime would only fail once it runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from edgeinfer.formats import MAX_TENSOR_BYTES, ModelFile, Shape, format_bytes, ultralytics

__all__ = ["OnnxFile", "iter_fields"]

_GRAPH, _METADATA = 7, 14
_GRAPH_INPUT, _GRAPH_OUTPUT = 11, 12
# TensorProto.DataType -> bytes per element (others, such as STRING, count as 8).
_ITEMSIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2,
             17: 1, 18: 1, 19: 1, 20: 1, 21: 1, 22: 1, 23: 1, 24: 1, 25: 1}


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


def _signed(n: int) -> int:
    """An int64 field read as an unsigned varint, back to its sign."""
    return n - (1 << 64) if n >= 1 << 63 else n


def _value_shape(value_info: bytes) -> Shape:
    shape = _sub(_sub(_sub(value_info, 2), 1), 2)
    dims = []
    for field, _, _, _, dim in iter_fields(shape):
        if field == 1 and isinstance(dim, bytes):
            dim_value = next((v for f, _, _, _, v in iter_fields(dim) if f == 1 and isinstance(v, int)), -1)
            dims.append(_signed(int(dim_value)))
    return tuple(dims)


def _value_itemsize(value_info: bytes) -> int:
    tensor_type = _sub(_sub(value_info, 2), 1)
    elem_type = next((v for f, _, _, _, v in iter_fields(tensor_type) if f == 1 and isinstance(v, int)), 1)
    return _ITEMSIZE.get(int(elem_type), 8)


def _value_name(value_info: bytes) -> str:
    return _sub(value_info, 1).decode("utf-8", "replace")


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
        try:
            self.metadata()
            inputs = [(_value_name(v), _value_shape(v), _value_itemsize(v)) for v in self._graph_values(_GRAPH_INPUT)]
        except (ValueError, UnicodeDecodeError) as exc:
            raise self.error(f"the ONNX model's metadata or inputs are corrupt ({exc})",
                             "Export or copy it again.") from None
        for name, shape, itemsize in inputs:
            self._check_input(name, shape, itemsize)

    def _graph_values(self, number: int) -> list[bytes]:
        """The graph's ``input`` (11) or ``output`` (12) ValueInfoProto messages."""
        return [v for f, _, _, _, v in iter_fields(_sub(self.data, _GRAPH)) if f == number and isinstance(v, bytes)]

    def _check_input(self, name: str, shape: Shape, itemsize: int) -> None:
        if any(d < -1 for d in shape):
            raise self.error(f"input {name!r} is declared with a negative dimension {list(shape)}",
                             "The file is corrupt: export the model again.")
        size = itemsize
        for d in shape:
            size *= max(d, 1)
        if size > MAX_TENSOR_BYTES:
            raise self.error(
                f"input {name!r} is declared as {list(shape)}, {format_bytes(size)}: more than the "
                f"{format_bytes(MAX_TENSOR_BYTES)} edgeinfer allows for one tensor",
                "The file is corrupt, or the model was exported with a wrong input size: export it "
                "again with the input size it runs at.")

    def metadata(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for field, _, _, _, raw in iter_fields(self.data):
            if field == _METADATA and isinstance(raw, bytes):
                key, value = _entry(raw)
                out[key] = value
        return out

    def _read_shapes(self) -> tuple[list[Shape], list[Shape]]:
        return ([_value_shape(v) for v in self._graph_values(_GRAPH_INPUT)],
                [_value_shape(v) for v in self._graph_values(_GRAPH_OUTPUT)])

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
