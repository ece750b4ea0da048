"""The structure of a TFLite graph, checked in Python before an interpreter sees it.

LiteRT trusts much of what a flatbuffer says: an operator that names tensor ``-5``, two
operators that write the same tensor, or a buffer that points past the end of the file
can crash the process (SIGSEGV in ``allocate_tensors`` with XNNPACK, SIGABRT in the
delegate's partitioning). :func:`check_graph` walks the model with the flatbuffer
accessors and raises :class:`GraphError` naming the subgraph, operator or tensor.

What is checked:

* buffers: data inside the file, including buffers stored after the flatbuffer
  (``offset``/``size``) and operators' large custom options;
* operator codes and metadata entries readable, metadata buffer indices valid;
* each subgraph: tensor buffer indices, shapes (no negative dimension, no tensor over
  :data:`~edgeinfer.formats.MAX_TENSOR_BYTES`, the shape signature agreeing with the shape
  but for its dynamic ``-1`` dimensions), per-channel quantization that matches the shape;
  operator opcode indices and options of the operator's own type; operator inputs in
  range (``-1`` only for an input the operator may omit), outputs and intermediates in
  range; every tensor written by at most one operator, never a constant one, and read
  only after the operator that writes it;
  subgraph inputs and outputs in range; control-flow options naming existing subgraphs;
* signature definitions naming existing subgraphs and tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from edgeinfer.formats import MAX_TENSOR_BYTES, format_bytes

__all__ = ["GraphError", "check_graph"]

# Bytes per element of each TensorType (STRING, RESOURCE, VARIANT: their shapes are small).
_ITEMSIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 5: 1, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 13: 1, 14: 1,
             15: 4, 16: 2, 17: 1, 18: 2, 19: 1, 20: 1, 21: 1, 22: 1}
# Builtin operators that take optional inputs (-1), and the first position that may be one
# (the bias of the convolutions, the gates of the recurrent cells). Every other builtin needs
# all its inputs: XNNPACK reads tensor -1 of an ADD as it is (an out-of-bounds read).
_OPTIONAL_FROM = {"CONV_2D": 2, "DEPTHWISE_CONV_2D": 2, "FULLY_CONNECTED": 2, "TRANSPOSE_CONV": 3, "CONV_3D": 2,
                  "CONV_3D_TRANSPOSE": 3, "SVDF": 3, "LSTM": 1, "UNIDIRECTIONAL_SEQUENCE_LSTM": 1,
                  "BIDIRECTIONAL_SEQUENCE_LSTM": 1, "BIDIRECTIONAL_SEQUENCE_RNN": 1, "UNIDIRECTIONAL_SEQUENCE_RNN": 1,
                  "RNN": 1}
# Control-flow options whose fields name subgraphs.
_SUBGRAPH_FIELDS = {"WhileOptions": ("CondSubgraphIndex", "BodySubgraphIndex"),
                    "IfOptions": ("ThenSubgraphIndex", "ElseSubgraphIndex"),
                    "CallOnceOptions": ("InitSubgraphIndex",)}


@cache
def _enum_names(enum: type) -> dict[int, str]:
    """Value -> name of a flatbuffer enum class (``BuiltinOperator``, ``BuiltinOptions``)."""
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


class GraphError(ValueError):
    """The graph's structure is inconsistent; the message says where."""


def _vector(table: Any, name: str) -> np.ndarray:
    """A flatbuffer vector as int64 numbers (empty when absent; the accessor returns 0 then)."""
    if not getattr(table, f"{name}Length")():
        return np.zeros(0, np.int64)
    return np.asarray(getattr(table, f"{name}AsNumpy")(), dtype=np.int64)


@dataclass(frozen=True)
class _Model:
    """What the subgraph checks need to know about the whole model."""

    schema: ModuleType
    file_size: int
    n_buffers: int
    constant: frozenset[int]  # buffers that hold data
    opcodes: tuple[str, ...]  # operator code names, for messages
    n_subgraphs: int


def check_graph(model: Any, schema: ModuleType, file_size: int) -> None:
    """Check the whole model (a ``schema.Model`` over the file's bytes).

    Raises:
        GraphError: an index, offset, size or shape is out of range (the message names it).
        ValueError, IndexError, struct.error: the flatbuffer itself is cut short or corrupt.
    """
    n_buffers = model.BuffersLength()
    context = _Model(schema, file_size, n_buffers, frozenset(_check_buffers(model, file_size)),
                     tuple(_check_opcodes(model, schema)), model.SubgraphsLength())
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        entry.Name()
        if entry.Buffer() >= n_buffers:
            raise GraphError(f"metadata entry {i} names buffer {entry.Buffer()}, and the model has {n_buffers}")
    if context.n_subgraphs < 1:
        raise GraphError("the model has no subgraph")
    for s in range(context.n_subgraphs):
        _check_subgraph(model.Subgraphs(s), s, context)
    _check_signatures(model, context.n_subgraphs)


def _check_buffers(model: Any, file_size: int) -> set[int]:
    """Check that every buffer lies in the file; return the indices of those that hold data."""
    constant = set()
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        offset, size = buffer.Offset(), buffer.Size()
        if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
            if offset + size > file_size:
                raise GraphError(f"buffer {i} lies outside the file (offset {offset}, size {size}, "
                                 f"file size {file_size})")
            constant.add(i)
        elif buffer.DataLength():
            if buffer.DataAsNumpy().size != buffer.DataLength():
                raise GraphError(f"buffer {i} is cut short")
            constant.add(i)
    return constant


def _check_opcodes(model: Any, schema: ModuleType) -> list[str]:
    """Read every operator code; return their names (``CONV_2D``, or ``custom MyOp``)."""
    names = _enum_names(schema.BuiltinOperator)
    out = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        code.Version()
        custom = code.CustomCode()
        if custom or builtin == schema.BuiltinOperator.CUSTOM:
            out.append(f"custom {(custom or b'').decode('utf-8', 'replace')}")
        else:
            out.append(names.get(builtin, f"builtin {builtin}"))
    return out


@cache
def _options_of(schema: ModuleType) -> dict[str, int]:
    """Builtin operator name -> the BuiltinOptions type named after it (``CONV_2D`` -> ``Conv2DOptions``).

    Operators whose options table has another name (``MEAN`` uses ``ReducerOptions``) are
    not in the map, and are not checked.
    """
    def key(name: str) -> str:
        return name.replace("_", "").lower()

    options = {key(name.removesuffix("Options")): value for value, name in _enum_names(schema.BuiltinOptions).items()}
    return {name: options[key(name)] for name in _enum_names(schema.BuiltinOperator).values() if key(name) in options}


def _check_tensor(tensor: Any, where: str, n_buffers: int) -> None:
    if tensor.Buffer() >= max(n_buffers, 1):
        raise GraphError(f"{where} names buffer {tensor.Buffer()}, and the model has {n_buffers}")
    shape = _vector(tensor, "Shape")
    signature = _vector(tensor, "ShapeSignature")
    if (shape < 0).any() or (signature < -1).any():
        raise GraphError(f"{where} has a negative dimension (shape {shape.tolist()}, "
                         f"signature {signature.tolist()})")
    size = _ITEMSIZE.get(tensor.Type(), 8)
    for dims in (shape, signature):
        for d in dims:
            size *= max(int(d), 1)
        if size > MAX_TENSOR_BYTES:
            raise GraphError(f"{where} declares shape {dims.tolist()}, {format_bytes(size)}: more than the "
                             f"{format_bytes(MAX_TENSOR_BYTES)} edgeinfer allows for one tensor")
        size = _ITEMSIZE.get(tensor.Type(), 8)
    fixed = signature.size == shape.size and not ((signature != -1) & (signature != shape)).any()
    if signature.size and shape.size and not fixed:
        raise GraphError(f"{where} has shape {shape.tolist()}, which its signature {signature.tolist()} "
                         "contradicts (they may differ only where the signature is -1)")
    quant = tensor.Quantization()
    if quant is not None and quant.ScaleLength() > 1:
        axis, channels = quant.QuantizedDimension(), quant.ScaleLength()
        if not 0 <= axis < shape.size or shape[axis] != channels or quant.ZeroPointLength() not in (0, channels):
            raise GraphError(f"{where} has {channels} per-channel scales along dimension {axis}, which does not "
                             f"match its shape {shape.tolist()}")


def _check_subgraph(graph: Any, s: int, model: _Model) -> None:
    n_tensors = graph.TensorsLength()
    consts = set()
    for t in range(n_tensors):
        tensor = graph.Tensors(t)
        _check_tensor(tensor, f"tensor {t} of subgraph {s}", model.n_buffers)
        if tensor.Buffer() in model.constant:
            consts.add(t)
    span = f"0-{n_tensors - 1}" if n_tensors else "none"
    for field in ("Inputs", "Outputs"):
        bad = [int(i) for i in _vector(graph, field) if not 0 <= i < n_tensors]
        if bad:
            raise GraphError(f"subgraph {s} lists tensor {bad[0]} among its {field.lower()}, and it has "
                             f"{n_tensors} tensors ({span})")
    operators = [graph.Operators(o) for o in range(graph.OperatorsLength())]
    names = []
    for o, op in enumerate(operators):
        index = op.OpcodeIndex()
        if not 0 <= index < len(model.opcodes):
            raise GraphError(f"operator {o} of subgraph {s} has opcode index {index}, and the model has "
                             f"{len(model.opcodes)} operator codes")
        names.append(f"subgraph {s}: operator {o} ({model.opcodes[index]})")
        _check_indices(op, names[o], n_tensors, span, _OPTIONAL_FROM.get(model.opcodes[index], 1
                       if model.opcodes[index].startswith(("custom", "builtin")) else None))
        _check_options(op, names[o], model, model.opcodes[index])
    _check_dataflow(operators, names, consts)


def _check_indices(op: Any, where: str, n_tensors: int, span: str, optional_from: int | None) -> None:
    """Indices in range; ``-1`` (no tensor) only for inputs from position ``optional_from`` on."""
    for field, low in (("Inputs", -1), ("Outputs", 0), ("Intermediates", 0)):
        bad = [int(i) for i in _vector(op, field) if not low <= i < n_tensors]
        if bad:
            optional = "; -1 only for an optional input" if field == "Inputs" else ""
            raise GraphError(f"{where} names tensor {bad[0]} among its {field.lower()}, and the subgraph has "
                             f"{n_tensors} tensors ({span}{optional})")
    missing = [p for p, i in enumerate(_vector(op, "Inputs")) if i == -1]
    if missing and (optional_from is None or missing[0] < optional_from):
        raise GraphError(f"{where} has no tensor (-1) for its input {missing[0]}, which is not optional")


def _check_dataflow(operators: list[Any], names: list[str], consts: set[int]) -> None:
    """Each tensor written once, by an operator that runs before those that read it."""
    writer: dict[int, int] = {}
    for o, op in enumerate(operators):
        for t in (int(i) for i in _vector(op, "Outputs")):
            if t in consts:
                raise GraphError(f"{names[o]} writes tensor {t}, which is a constant")
            if t in writer:
                raise GraphError(f"{names[o]} writes tensor {t}, which operator {writer[t]} writes already")
            writer[t] = o
    for o, op in enumerate(operators):
        for t in (int(i) for i in _vector(op, "Inputs")):
            if writer.get(t, -1) >= o:
                raise GraphError(f"{names[o]} reads tensor {t} before operator {writer[t]} writes it")


def _check_options(op: Any, where: str, model: _Model, opcode: str) -> None:
    """Custom options inside the file, builtin options of the operator's own type, subgraphs that exist."""
    schema, n_subgraphs = model.schema, model.n_subgraphs
    offset, size = op.LargeCustomOptionsOffset(), op.LargeCustomOptionsSize()
    if offset > 1 and offset + size > model.file_size:
        raise GraphError(f"{where} has custom options outside the file (offset {offset}, size {size})")
    kinds = _enum_names(schema.BuiltinOptions)
    name = kinds.get(op.BuiltinOptionsType(), "")
    expected = _options_of(schema).get(opcode)
    if expected is not None and op.BuiltinOptionsType() not in (0, expected):
        raise GraphError(f"{where} carries {name or op.BuiltinOptionsType()}, and it takes {kinds[expected]}")
    table = op.BuiltinOptions() if name in _SUBGRAPH_FIELDS else None
    if table is None:
        return
    options = getattr(schema, name)()
    options.Init(table.Bytes, table.Pos)
    for field in _SUBGRAPH_FIELDS[name]:
        index = getattr(options, field)()
        if not 0 <= index < n_subgraphs:
            raise GraphError(f"{where} names subgraph {index}, and the model has {n_subgraphs}")


def _check_signatures(model: Any, n_subgraphs: int) -> None:
    for i in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(i)
        s = signature.SubgraphIndex()
        if not 0 <= s < n_subgraphs:
            raise GraphError(f"signature {i} names subgraph {s}, and the model has {n_subgraphs}")
        n_tensors = model.Subgraphs(s).TensorsLength()
        for field in ("Inputs", "Outputs"):
            for j in range(getattr(signature, f"{field}Length")()):
                entry = getattr(signature, field)(j)
                entry.Name()
                if not 0 <= entry.TensorIndex() < n_tensors:
                    raise GraphError(f"signature {i} names tensor {entry.TensorIndex()} of subgraph {s}, which "
                                     f"has {n_tensors}")
