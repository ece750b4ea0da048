"""Mutated model files for the fuzz harness: raw edits and structural edits, all seeded.

Every mutation is a named recipe: a function of the base file's bytes (and, for the
random ones, a ``numpy.random.Generator``) that returns the mutated bytes and a text
naming what it changed, e.g. ``op-inputs sg0 op1 [0] = -5``.

TFLite files are edited through the flatbuffer object API (``ModelT``) and packed again;
ONNX files through ``onnx.ModelProto``, or at the protobuf wire level for what ``onnx``
would refuse to write (invalid UTF-8, wrong length fields). The crashers found so far
are fixed recipes in tests/fuzz_corpus.py.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Values that break index and size checks: negatives, the edges, and the int32 limits.
_EDGES = (-5, -2, -1, 0, 1, 2**31 - 1, -(2**31))


@dataclass(frozen=True)
class Mutant:
    """One mutated file: a name that says how it was made, its bytes and file suffix."""

    name: str
    data: bytes
    suffix: str


# -- raw edits (both formats) ---------------------------------------------------------------

def truncate(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    n = int(rng.integers(1, len(data)))
    return data[:n], f"truncate to {n}"


def flip_bytes(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    out = bytearray(data)
    count = int(rng.integers(1, 9))
    where = sorted(int(i) for i in rng.integers(8, len(out), count))  # keep the magic bytes
    for i in where:
        out[i] ^= int(rng.integers(1, 256))
    return bytes(out), f"flip bytes at {where}"


def overwrite_int32(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Overwrite an aligned 32-bit word (flatbuffer offsets, lengths, indices) with an edge value."""
    out = bytearray(data)
    at = int(rng.integers(2, len(out) // 4)) * 4
    value = int(rng.choice((*_EDGES, len(data), len(data) // 2, 0x7FFF)))
    out[at:at + 4] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out[:len(data)]), f"int32 at {at} = {value}"


def splice(data: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """Delete or repeat a run of bytes, shifting everything after it."""
    start = int(rng.integers(8, len(data) - 1))
    length = int(rng.integers(1, min(64, len(data) - start) + 1))
    if rng.random() < 0.5:
        return data[:start] + data[start + length:], f"delete {length} bytes at {start}"
    return data[:start] + data[start:start + length] * 2 + data[start + length:], f"repeat {length} bytes at {start}"


Recipe = Callable[[bytes], tuple[bytes, str]]

RAW: tuple[Callable[[bytes, np.random.Generator], tuple[bytes, str]], ...] = (
    truncate, flip_bytes, overwrite_int32, splice)


# -- TFLite structural edits ------------------------------------------------------------------

def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def tflite_edit(data: bytes, edit: Callable[[Any], str]) -> tuple[bytes, str]:
    """Unpack ``data``, apply ``edit`` to the ``ModelT`` (it returns its description), pack again."""
    import flatbuffers

    model = _schema().ModelT.InitFromPackedBuf(data, 0)
    what = edit(model)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), what


def set_op_index(sg: int, op: int, field: str, slot: int, value: int) -> Callable[[Any], str]:
    """Operator ``op``'s ``inputs``/``outputs``/``intermediates`` entry ``slot`` becomes ``value``."""
    def edit(model: Any) -> str:
        operator = model.subgraphs[sg].operators[op]
        values = [int(v) for v in (getattr(operator, field) if getattr(operator, field) is not None else [])]
        if slot < len(values):
            values[slot] = value
        else:
            values.append(value)
        setattr(operator, field, values)
        return f"op-{field} sg{sg} op{op} [{slot}] = {value}"
    return edit


def set_graph_io(sg: int, field: str, slot: int, value: int) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        values = [int(v) for v in getattr(model.subgraphs[sg], field)]
        values[slot % len(values)] = value
        setattr(model.subgraphs[sg], field, values)
        return f"graph-{field} sg{sg} [{slot % len(values)}] = {value}"
    return edit


def set_tensor(sg: int, tensor: int, attr: str, value: Any) -> Callable[[Any], str]:
    """A tensor attribute (``buffer``, ``type``, ``shape``, ``shapeSignature``) becomes ``value``."""
    def edit(model: Any) -> str:
        setattr(model.subgraphs[sg].tensors[tensor], attr, value)
        return f"tensor-{attr} sg{sg} t{tensor} = {value}"
    return edit


def drop_weights(model: Any) -> str:
    """The first constant tensor an operator reads loses its buffer: the file loads, its first inference fails."""
    graph = model.subgraphs[0]
    used = {int(i) for op in graph.operators for i in op.inputs}
    weight = next(t for t, tensor in enumerate(graph.tensors)
                  if t in used and model.buffers[tensor.buffer].data is not None)
    return set_tensor(0, weight, "buffer", 0)(model)


def set_opcode_index(sg: int, op: int, value: int) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        model.subgraphs[sg].operators[op].opcodeIndex = value
        return f"opcode-index sg{sg} op{op} = {value}"
    return edit


def set_opcode(code: int, attr: str, value: int) -> Callable[[Any], str]:
    """An operator code's ``builtinCode``/``deprecatedBuiltinCode``/``version`` becomes ``value``."""
    def edit(model: Any) -> str:
        setattr(model.operatorCodes[code], attr, value)
        return f"opcode-{attr} [{code}] = {value}"
    return edit


def set_buffer(index: int, *, offset: int | None = None, size: int | None = None,
               cut: int | None = None) -> Callable[[Any], str]:
    """Point buffer ``index`` at ``offset``/``size`` in the file, or keep only ``cut`` bytes of its data."""
    def edit(model: Any) -> str:
        buffer = model.buffers[index]
        if cut is not None:
            buffer.data = None if buffer.data is None else buffer.data[:cut]
            return f"buffer {index} data cut to {cut}"
        buffer.offset, buffer.size = offset, size
        return f"buffer {index} offset {offset} size {size}"
    return edit


def set_quantization(sg: int, tensor: int, *, dimension: int | None = None,
                     scales: int | None = None) -> Callable[[Any], str]:
    """Per-channel quantization along ``dimension``, or with ``scales`` scale/zero-point entries."""
    def edit(model: Any) -> str:
        tensor_t = model.subgraphs[sg].tensors[tensor]
        quant = tensor_t.quantization or _schema().QuantizationParametersT()
        if dimension is not None:
            quant.quantizedDimension = dimension
        if scales is not None:
            quant.scale = [0.5] * scales
            quant.zeroPoint = [0] * scales
        tensor_t.quantization = quant
        return f"quantization sg{sg} t{tensor} dimension {dimension} scales {scales}"
    return edit


def set_option(sg: int, op: int, attr: str, value: int) -> Callable[[Any], str]:
    """A builtin option of the operator (``strideW``, ``dilationHFactor``, ``padding`` ...)."""
    def edit(model: Any) -> str:
        options = model.subgraphs[sg].operators[op].builtinOptions
        if options is not None and hasattr(options, attr):
            setattr(options, attr, value)
        return f"option sg{sg} op{op} {attr} = {value}"
    return edit


_OPTIONS = ("strideW", "strideH", "dilationWFactor", "dilationHFactor", "padding", "fusedActivationFunction",
            "keepNumDims", "weightsFormat", "beta")


def _index_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.subgraphs[0]
    n = len(graph.tensors)
    value = int(rng.choice((*_EDGES, n, n + 3, int(rng.integers(n)))))
    if rng.random() < 0.2:
        return set_graph_io(0, str(rng.choice(["inputs", "outputs"])), 0, value)(model)
    field = str(rng.choice(["inputs", "outputs", "intermediates"]))
    return set_op_index(0, int(rng.integers(len(graph.operators))), field, int(rng.integers(4)), value)(model)


def _shape_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.subgraphs[0]
    tensor = int(rng.integers(len(graph.tensors)))
    shape = [int(d) for d in graph.tensors[tensor].shape] or [1]
    shape[int(rng.integers(len(shape)))] = int(rng.choice((-7, -1, 0, 2**31 - 1, 65536, 3)))
    if rng.random() < 0.2:
        shape = shape[:-1] if rng.random() < 0.5 else [*shape, 2]
    return set_tensor(0, tensor, str(rng.choice(["shape", "shapeSignature"])), np.array(shape, np.int32))(model)


def _tensor_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.subgraphs[0]
    tensor, n_buffers = int(rng.integers(len(graph.tensors))), len(model.buffers)
    if rng.random() < 0.5:
        return set_tensor(0, tensor, "buffer", int(rng.choice((n_buffers, n_buffers + 7, 0, 1))))(model)
    if rng.random() < 0.5:
        return set_tensor(0, tensor, "type", int(rng.integers(0, 24)))(model)
    return set_quantization(0, tensor, dimension=int(rng.choice((-1, 3, 4, 9))),
                            scales=int(rng.choice((0, 1, 2, 5, 17))))(model)


def _opcode_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.subgraphs[0]
    if rng.random() < 0.4:
        value = int(rng.choice((-1, len(model.operatorCodes), 2**31 - 1, 0)))
        return set_opcode_index(0, int(rng.integers(len(graph.operators))), value)(model)
    attr = str(rng.choice(["builtinCode", "deprecatedBuiltinCode", "version"]))
    return set_opcode(int(rng.integers(len(model.operatorCodes))), attr, int(rng.integers(-1, 210)))(model)


def _buffer_edit(model: Any, rng: np.random.Generator) -> str:
    buffer = int(rng.integers(1, len(model.buffers)))
    if rng.random() < 0.5:
        return set_buffer(buffer, cut=int(rng.integers(0, 8)))(model)
    offset = int(rng.choice((2, 64, 2**40, 2**63)))
    return set_buffer(buffer, offset=offset, size=int(rng.choice((1, 100, 2**32, 2**63))))(model)


def _option_edit(model: Any, rng: np.random.Generator) -> str:
    op = int(rng.integers(len(model.subgraphs[0].operators)))
    return set_option(0, op, str(rng.choice(_OPTIONS)), int(rng.choice((-1, 0, 3, 99))))(model)


# Structural edits, weighted as drawn: indices most, as they are the most common crash.
_TFLITE_EDITS = (_index_edit, _index_edit, _index_edit, _shape_edit, _shape_edit, _tensor_edit, _tensor_edit,
                 _opcode_edit, _buffer_edit, _option_edit)


def random_tflite_edit(model: Any, rng: np.random.Generator) -> str:
    """Apply one random structural edit to ``model`` (a ``ModelT``) and describe it."""
    return _TFLITE_EDITS[int(rng.integers(len(_TFLITE_EDITS)))](model, rng)


def _packable(base: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """A random structural edit whose values fit the schema's field types (others are drawn again)."""
    while True:
        try:
            return tflite_edit(base, lambda m: random_tflite_edit(m, rng))
        except (TypeError, struct.error, OverflowError):
            continue  # e.g. 3 for a bool option: flatbuffers refuses to write it


def tflite_mutants(base: bytes, label: str, count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants of a TFLite file: half raw edits, half structural ones."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        if i % 2:
            data, what = _packable(base, rng)
        else:
            data, what = RAW[int(rng.integers(len(RAW)))](base, rng)
        yield Mutant(f"{label}#{i}: {what}", data, ".tflite")


# -- ONNX structural edits ------------------------------------------------------------------

def onnx_edit(data: bytes, edit: Callable[[Any], str]) -> tuple[bytes, str]:
    """Parse ``data`` as a ``ModelProto``, apply ``edit`` (it returns its description), serialise."""
    import onnx

    model = onnx.ModelProto()
    model.ParseFromString(data)
    what = edit(model)
    return model.SerializeToString(), what


def set_dims(which: str, slot: int, dims: list[int]) -> Callable[[Any], str]:
    """The declared dims of graph ``input``/``output`` ``slot`` (``-1`` keeps a symbolic dim)."""
    def edit(model: Any) -> str:
        shape = getattr(model.graph, which)[slot].type.tensor_type.shape
        del shape.dim[:]
        for d in dims:
            dim = shape.dim.add()
            if d == -1:
                dim.dim_param = "N"
            else:
                dim.dim_value = d
        return f"{which}[{slot}] dims = {dims}"
    return edit


def set_node_input(node: int, slot: int, name: str) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        inputs = model.graph.node[node].input
        inputs[slot % len(inputs)] = name
        return f"node {node} input[{slot % len(inputs)}] = {name!r}"
    return edit


def set_initializer_dims(index: int, dims: list[int]) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        init = model.graph.initializer[index]
        del init.dims[:]
        init.dims.extend(dims)
        return f"initializer {init.name} dims = {dims}"
    return edit


def set_attribute(node: int, attr: int, ints: list[int]) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        attributes = model.graph.node[node].attribute
        if attributes:
            target = attributes[attr % len(attributes)]
            del target.ints[:]
            target.ints.extend(ints)
            target.i = ints[0] if ints else 0
        return f"node {node} attribute {attr} = {ints}"
    return edit


def set_elem_type(slot: int, elem_type: int) -> Callable[[Any], str]:
    def edit(model: Any) -> str:
        model.graph.input[slot].type.tensor_type.elem_type = elem_type
        return f"input[{slot}] elem_type = {elem_type}"
    return edit


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def with_dim_param_bytes(data: bytes, raw: bytes) -> tuple[bytes, str]:
    """The first output's first dimension becomes symbolic, named by ``raw`` (UTF-8 or not)."""
    placeholder = "P" * len(raw)  # protobuf writes only UTF-8 str: write a placeholder, then patch its bytes

    def edit(model: Any) -> str:
        model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = placeholder
        return f"output[0] dim 0 dim_param = {raw!r}"

    out, what = onnx_edit(data, edit)
    assert out.count(placeholder.encode()) == 1
    return out.replace(placeholder.encode(), raw), what


def with_raw_metadata(data: bytes, key: bytes, value: bytes) -> tuple[bytes, str]:
    """Append a ``metadata_props`` entry (field 14) whose key/value bytes need not be UTF-8."""
    entry = b"\x0a" + _varint(len(key)) + key + b"\x12" + _varint(len(value)) + value
    return data + b"\x72" + _varint(len(entry)) + entry, f"metadata_props {key!r} = {value!r}"


def with_length_field(data: bytes, field_index: int, delta: int) -> tuple[bytes, str]:
    """Change the length of the ``field_index``-th top-level length-delimited field by ``delta``."""
    from edgeinfer.formats.onnx_file import iter_fields

    fields = [(f, start, end, v) for f, wire, start, end, v in iter_fields(data) if wire == 2]
    number, start, end, value = fields[field_index % len(fields)]
    assert isinstance(value, bytes)
    length = max(0, len(value) + delta)
    head = _varint(number << 3 | 2) + _varint(length)
    return data[:start] + head + data[end - len(value):], f"field {number} length {len(value)} -> {length}"


def _onnx_dims_edit(model: Any, rng: np.random.Generator) -> str:
    dims = [int(rng.choice((-1, 0, 1, 3, 16, 2**31, 2**40, -5))) for _ in range(int(rng.integers(1, 6)))]
    return set_dims(str(rng.choice(["input", "output"])), 0, dims)(model)


def _onnx_node_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.graph
    node = int(rng.integers(len(graph.node)))
    choice = rng.random()
    if choice < 0.5:
        names = [n for x in graph.node for n in x.output] + [i.name for i in graph.initializer] + ["", "missing"]
        return set_node_input(node, int(rng.integers(3)), str(rng.choice(names)))(model)
    if choice < 0.8:
        return set_attribute(node, int(rng.integers(4)), [int(rng.choice((-3, 0, 1, 2, 99))) for _ in range(4)])(model)
    graph.node[node].op_type = str(rng.choice(["Relu", "Conv", "Add", "Reshape", "NoSuchOp", "MatMul"]))
    return f"node {node} op_type = {graph.node[node].op_type}"


def _onnx_tensor_edit(model: Any, rng: np.random.Generator) -> str:
    graph = model.graph
    if rng.random() < 0.3:
        return set_elem_type(0, int(rng.integers(0, 25)))(model)
    index = int(rng.integers(len(graph.initializer)))
    dims = [int(d) for d in graph.initializer[index].dims] or [1]
    dims[int(rng.integers(len(dims)))] = int(rng.choice((0, 1, 2, 4, 2**31)))
    return set_initializer_dims(index, dims)(model)


_ONNX_EDITS = (_onnx_dims_edit, _onnx_dims_edit, _onnx_node_edit, _onnx_node_edit, _onnx_tensor_edit)


def random_onnx_edit(model: Any, rng: np.random.Generator) -> str:
    """Apply one random structural edit to ``model`` (an ``onnx.ModelProto``) and describe it."""
    return _ONNX_EDITS[int(rng.integers(len(_ONNX_EDITS)))](model, rng)


def onnx_mutants(base: bytes, label: str, count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants of an ONNX file: raw edits, wire-level edits and structural ones."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        choice = i % 4
        if choice == 0:
            data, what = RAW[int(rng.integers(len(RAW)))](base, rng)
        elif choice == 1:
            if rng.random() < 0.5:
                data, what = with_length_field(base, int(rng.integers(16)), int(rng.choice((-9, -3, -1, 1, 2, 40))))
            else:
                data, what = with_raw_metadata(base, rng.bytes(int(rng.integers(1, 6))), rng.bytes(4))
        else:
            data, what = onnx_edit(base, lambda m: random_onnx_edit(m, rng))
        yield Mutant(f"{label}#{i}: {what}", data, ".onnx")
