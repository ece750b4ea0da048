"""Moved to :mod:`edgeinfer.formats.tflite_metadata` (formats parse files); kept importable here."""

from edgeinfer.formats.tflite_metadata import (
    FILE_IDENTIFIER,
    METADATA_NAME,
    AssociatedFile,
    ModelMetadata,
    TensorMetadata,
    parse_metadata,
)

__all__ = ["FILE_IDENTIFIER", "METADATA_NAME", "AssociatedFile", "ModelMetadata", "TensorMetadata", "parse_metadata"]
