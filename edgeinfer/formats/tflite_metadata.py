"""Read the TFLite Metadata flatbuffer (``TFLITE_METADATA``) without tflite-support.

MediaPipe, TF Hub and Model Maker models carry a ``ModelMetadata`` flatbuffer (file
identifier ``M001``) in the TFLite metadata entry ``TFLITE_METADATA``: per-tensor
normalisation (mean, std), colour space, score thresholds and the names of associated
files (label lists) that are packed into the model as a zip archive appended to it.
:meth:`TFLiteFile.tflite_metadata` reads it; :mod:`edgeinfer.card_derive` turns it into a card.

The tables are walked with the ``flatbuffers`` package's low-level ``Table`` API; a field
``i`` of a table sits at vtable offset ``4 + 2 * i``, in the order of
``tensorflow_lite_support/metadata/metadata_schema.fbs``. Only the fields edgeinfer uses
are read. A union takes two slots: its type (a ``uint8``), then its value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FILE_IDENTIFIER",
    "METADATA_NAME",
    "AssociatedFile",
    "ModelMetadata",
    "TensorMetadata",
    "parse_metadata",
]

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"

# Enum values of metadata_schema.fbs.
TENSOR_AXIS_LABELS = 2
TENSOR_VALUE_LABELS = 3
_COLOR_SPACES = {1: "rgb", 2: "gray"}  # ColorSpaceType: UNKNOWN = 0, RGB = 1, GRAYSCALE = 2
_IMAGE_PROPERTIES = 2  # ContentProperties: FeatureProperties = 1, ImageProperties = 2, ...
_NORMALIZATION = 1  # ProcessUnitOptions: NormalizationOptions = 1, ScoreCalibrationOptions = 2,
_SCORE_THRESHOLDING = 3  # ScoreThresholdingOptions = 3, ...

# Field indices, in schema order.
_MODEL = {"name": 0, "description": 1, "version": 2, "subgraphs": 3, "author": 4, "license": 5,
          "files": 6}
_SUBGRAPH = {"inputs": 2, "outputs": 3, "files": 4}
_TENSOR = {"name": 0, "content": 3, "process_units": 4, "files": 6}
_CONTENT_PROPERTIES = 0  # union: type slot 0, value slot 1
_IMAGE_COLOR_SPACE = 0
_PROCESS_UNIT_OPTIONS = 0  # union: type slot 0, value slot 1
_NORM_MEAN, _NORM_STD = 0, 1
_THRESHOLD = 0
_FILE = {"name": 0, "description": 1, "type": 2, "locale": 3}

_PARSE_ERRORS = (struct.error, IndexError, ValueError, UnicodeDecodeError, OverflowError, TypeError)


@dataclass(frozen=True)
class AssociatedFile:
    """A file packed into the model (zip member ``name``).

    Attributes:
        name: Zip member name.
        type: ``AssociatedFileType`` value (2 = TENSOR_AXIS_LABELS, 3 = TENSOR_VALUE_LABELS).
        description: Free text.
        locale: Language code of a label file (``"en"``), or ``""``.
    """

    name: str
    type: int
    description: str = ""
    locale: str = ""

    @property
    def is_labels(self) -> bool:
        """True for label files (axis labels or value labels)."""
        return self.type in (TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS)


@dataclass(frozen=True)
class TensorMetadata:
    """What the metadata says about one input or output tensor.

    Attributes:
        name: Tensor name in the metadata (may differ from the graph's).
        mean: Per-channel normalisation mean, in the tensor's input units (usually 0..255
            pixels for images), or ``None``.
        std: Per-channel normalisation std, same units, or ``None``.
        color_space: ``"rgb"``, ``"gray"`` or ``None`` for images without one.
        score_threshold: Recommended global score threshold, or ``None``.
        files: Associated files of the tensor, in order.
    """

    name: str = ""
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color_space: str | None = None
    score_threshold: float | None = None
    files: tuple[AssociatedFile, ...] = ()


@dataclass(frozen=True)
class ModelMetadata:
    """The parts of a ``ModelMetadata`` flatbuffer edgeinfer uses (first subgraph only).

    Attributes:
        name, description, version, author, license: Free text from the model's creator.
        inputs: One entry per input tensor of the first subgraph.
        outputs: One entry per output tensor of the first subgraph.
        files: Model-level then subgraph-level associated files.
    """

    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    inputs: tuple[TensorMetadata, ...] = ()
    outputs: tuple[TensorMetadata, ...] = ()
    files: tuple[AssociatedFile, ...] = ()

    def first_label_file(self) -> AssociatedFile | None:
        """The first TENSOR_AXIS_LABELS file (outputs first), else the first value-labels file."""
        candidates = [f for t in self.outputs for f in t.files] + list(self.files)
        for wanted in (TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS):
            for item in candidates:
                if item.type == wanted:
                    return item
        return None


class _Reader:
    """Field access on one flatbuffer table; ``index`` is the field's schema position."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def _slot(self, index: int) -> int:
        offset: int = self.table.Offset(4 + 2 * index)
        return offset

    def string(self, index: int) -> str:
        off = self._slot(index)
        if not off:
            return ""
        raw: bytes = self.table.String(off + self.table.Pos)
        return raw.decode("utf-8")

    def scalar(self, index: int, flags: Any, default: Any) -> Any:
        off = self._slot(index)
        return self.table.Get(flags, off + self.table.Pos) if off else default

    def child(self, index: int) -> _Reader | None:
        from flatbuffers.table import Table

        off = self._slot(index)
        if not off:
            return None
        return _Reader(Table(self.table.Bytes, self.table.Indirect(off + self.table.Pos)))

    def children(self, index: int) -> list[_Reader]:
        from flatbuffers.table import Table

        off = self._slot(index)
        if not off:
            return []
        start, count = self.table.Vector(off), self.table.VectorLen(off)
        _check_count(count, self.table.Bytes)
        return [_Reader(Table(self.table.Bytes, self.table.Indirect(start + 4 * i))) for i in range(count)]

    def floats(self, index: int) -> tuple[float, ...] | None:
        from flatbuffers import number_types

        off = self._slot(index)
        if not off:
            return None
        start, count = self.table.Vector(off), self.table.VectorLen(off)
        _check_count(count, self.table.Bytes)
        return tuple(float(self.table.Get(number_types.Float32Flags, start + 4 * i)) for i in range(count))

    def union(self, index: int) -> tuple[int, _Reader | None]:
        """Return ``(type, table)`` of the union whose type slot is ``index``."""
        from flatbuffers import number_types
        from flatbuffers.table import Table

        kind = int(self.scalar(index, number_types.Uint8Flags, 0))
        off = self._slot(index + 1)
        if not kind or not off:
            return kind, None
        value = Table(bytearray(), 0)
        self.table.Union(value, off)
        return kind, _Reader(value)


def _check_count(count: int, data: Any) -> None:
    if count < 0 or count > len(data):
        raise ValueError(f"vector length {count} exceeds the buffer")


def parse_metadata(data: bytes) -> ModelMetadata:
    """Parse a ``TFLITE_METADATA`` buffer.

    Args:
        data: The metadata entry's bytes (a ``ModelMetadata`` flatbuffer, identifier ``M001``).

    Returns:
        The fields edgeinfer uses.

    Raises:
        ValueError: the bytes are not a well-formed ModelMetadata flatbuffer.
        ImportError: the ``flatbuffers`` package is not installed.
    """
    from flatbuffers import encode, number_types
    from flatbuffers.table import Table

    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ValueError(f"not a TFLite ModelMetadata flatbuffer (no {FILE_IDENTIFIER.decode()} identifier)")
    buf = bytearray(data)
    try:
        root = _Reader(Table(buf, encode.Get(number_types.UOffsetTFlags.packer_type, buf, 0)))
        subgraphs = root.children(_MODEL["subgraphs"])
        first = subgraphs[0] if subgraphs else None
        return ModelMetadata(
            name=root.string(_MODEL["name"]),
            description=root.string(_MODEL["description"]),
            version=root.string(_MODEL["version"]),
            author=root.string(_MODEL["author"]),
            license=root.string(_MODEL["license"]),
            inputs=tuple(_tensor(t) for t in first.children(_SUBGRAPH["inputs"])) if first else (),
            outputs=tuple(_tensor(t) for t in first.children(_SUBGRAPH["outputs"])) if first else (),
            files=_files(root, _MODEL["files"]) + (_files(first, _SUBGRAPH["files"]) if first else ()),
        )
    except _PARSE_ERRORS as exc:
        raise ValueError(f"the TFLite metadata flatbuffer is corrupt ({exc})") from exc


def _files(table: _Reader, index: int) -> tuple[AssociatedFile, ...]:
    from flatbuffers import number_types

    return tuple(
        AssociatedFile(
            name=f.string(_FILE["name"]),
            type=int(f.scalar(_FILE["type"], number_types.Int8Flags, 0)),
            description=f.string(_FILE["description"]),
            locale=f.string(_FILE["locale"]),
        )
        for f in table.children(index)
    )


def _tensor(table: _Reader) -> TensorMetadata:
    from flatbuffers import number_types

    mean = std = threshold = None
    for unit in table.children(_TENSOR["process_units"]):
        kind, options = unit.union(_PROCESS_UNIT_OPTIONS)
        if options is None:
            continue
        if kind == _NORMALIZATION:
            mean, std = options.floats(_NORM_MEAN), options.floats(_NORM_STD)
        elif kind == _SCORE_THRESHOLDING:
            threshold = float(options.scalar(_THRESHOLD, number_types.Float32Flags, 0.0))
    color = None
    content = table.child(_TENSOR["content"])
    if content is not None:
        kind, props = content.union(_CONTENT_PROPERTIES)
        if kind == _IMAGE_PROPERTIES and props is not None:
            color = _COLOR_SPACES.get(int(props.scalar(_IMAGE_COLOR_SPACE, number_types.Int8Flags, 0)))
    return TensorMetadata(
        name=table.string(_TENSOR["name"]),
        mean=mean,
        std=std,
        color_space=color,
        score_threshold=threshold,
        files=_files(table, _TENSOR["files"]),
    )
