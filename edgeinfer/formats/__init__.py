"""Model files as bytes: format detection, validation and metadata, before any runtime.

Nothing here calls a native interpreter. A file is checked in pure Python first, so a
truncated, empty or random file raises :class:`ModelError` with the path and the fix
instead of reaching C++ code that might crash the process.
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import ModelError

if TYPE_CHECKING:
    from edgeinfer.formats.tflite_metadata import ModelMetadata

__all__ = ["MAX_TENSOR_BYTES", "ModelFile", "Shape", "format_bytes", "open_model_file"]

log = logging.getLogger("edgeinfer.card")

Shape = tuple[int, ...]
# The largest tensor a file may declare (1 GiB). A 4K float32 RGB image is 100 MB; a shape
# such as [1, 3, 2147483648, 32] comes from a corrupt or hostile file, and allocating its
# inputs for a first inference would fail with MemoryError (or exhaust a small device).
MAX_TENSOR_BYTES = 1 << 30
_SHAPE_ERRORS = (ValueError, IndexError, TypeError, UnicodeDecodeError)

_ARTICLE_NAME = {"onnx": "an ONNX", "tflite": "a TFLite"}
_SUFFIX_HINT = "edgeinfer loads .tflite (TFLite/LiteRT) and .onnx (ONNX) files"


class ModelFile:
    """A model file's bytes, format and metadata.

    Each format answers the same questions in its own way; callers (the card, the
    backends, ``edgeinfer devices``) never branch on ``kind``.

    Attributes:
        kind: ``"tflite"`` or ``"onnx"``.
        image_layout: The image layout exporters of this format use (``"nhwc"``/``"nchw"``).
        data: The whole file.
        path: Where it was read from, or ``None`` for bytes given directly.
    """

    kind: str = ""
    image_layout: str = "nhwc"

    def __init__(self, data: bytes, path: Path | None) -> None:
        self.data = data
        self.path = path

    @property
    def label(self) -> str:
        """The path as text, or ``<bytes>`` for in-memory models."""
        return str(self.path) if self.path is not None else "<bytes>"

    @property
    def edgetpu_compiled(self) -> bool:
        """True for models compiled by ``edgetpu_compiler`` (they run only on a Coral Edge TPU)."""
        return False

    def validate(self) -> None:
        """Raise ``ModelError`` when the bytes are not a well-formed model."""
        raise NotImplementedError

    def metadata(self) -> dict[str, str]:
        """Text metadata stored in the file (ONNX metadata_props, TFLite metadata)."""
        raise NotImplementedError

    def with_metadata(self, key: str, value: str) -> bytes:
        """Return the file's bytes with metadata ``key`` set to ``value``."""
        raise NotImplementedError

    def tensor_shapes(self) -> tuple[list[Shape], list[Shape]]:
        """Input and output shapes read from the file itself, without a runtime.

        Returns:
            ``(inputs, outputs)``; ``-1`` marks a dynamic dimension. Empty lists when the
            shapes cannot be read (a TFLite file with no flatbuffer schema module installed,
            or a malformed graph, logged as a warning).
        """
        try:
            return self._read_shapes()
        except _SHAPE_ERRORS as exc:
            log.warning("%s: cannot read tensor shapes from the file (%s)", self.label, exc)
            return [], []

    def _read_shapes(self) -> tuple[list[Shape], list[Shape]]:
        raise NotImplementedError

    def ultralytics_metadata(self) -> dict[str, Any] | None:
        """Ultralytics export metadata with Python values (``names`` a dict ...), or ``None``.

        Values that do not parse are left out with a warning. Metadata without ``task``
        comes from the older ultralytics/yolov5 repository (ONNX exports only).
        """
        return None

    def tflite_metadata(self) -> ModelMetadata | None:
        """The TFLite Metadata (``TFLITE_METADATA``) the file carries, or ``None``.

        A corrupt entry, or one that cannot be read, is ``None`` with a logged warning.
        """
        return None

    def zip_members(self) -> dict[str, bytes]:
        """Files appended as a zip archive (Ultralytics, TFLite Metadata associated files)."""
        try:
            with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
                return {name: archive.read(name) for name in archive.namelist()
                        if not name.endswith("/")}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return {}

    def error(self, problem: str, fix: str = "") -> ModelError:
        """Build a ``ModelError`` that names this file, the problem and the fix."""
        tail = f" {fix}" if fix else ""
        return ModelError(f"{self.label}: {problem}.{tail}")


def format_bytes(n: int) -> str:
    """``n`` bytes as text with a binary unit: ``768 GiB``, ``1 GiB``, ``12 KiB``."""
    value, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            break
        value /= 1024
    return f"{value:.3g} {unit}"


def detect_kind(data: bytes, suffix: str) -> str | None:
    """Return ``"tflite"``, ``"onnx"`` or ``None`` from the magic bytes and suffix."""
    if len(data) >= 8 and data[4:8] == b"TFL3":
        return "tflite"
    if data[:1] == b"\x08":
        return "onnx"  # ModelProto starts with field 1 (ir_version), a varint
    if suffix == ".onnx":
        return "onnx"
    return None


def open_model_file(model: str | Path | bytes | bytearray | memoryview) -> ModelFile:
    """Read and validate a model from a path or bytes.

    Args:
        model: Path to a ``.tflite``/``.onnx`` file, or the file's bytes.

    Returns:
        The validated :class:`ModelFile` (a ``TFLiteFile`` or ``OnnxFile``).

    Raises:
        ModelError: missing, unreadable, empty, truncated or not a model.
    """
    from edgeinfer.formats.onnx_file import OnnxFile
    from edgeinfer.formats.tflite_file import TFLiteFile

    path: Path | None = None
    if isinstance(model, bytes | bytearray | memoryview):
        data = bytes(model)
    else:
        path = Path(model)
        if path.is_dir():
            raise ModelError(f"{path}: is a folder, not a model file. {_SUFFIX_HINT}.")
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"{path}: no such model file. Check the path ({_SUFFIX_HINT}).") from None
        except OSError as exc:
            raise ModelError(f"{path}: cannot be read ({exc.strerror}).") from exc
    label = str(path) if path else "<bytes>"
    if not data:
        raise ModelError(f"{label}: the file is empty. Copy or export the model again.")
    suffix = path.suffix.lower() if path else ""
    kind = detect_kind(data, suffix)
    if kind is None:
        if suffix == ".tflite":
            raise ModelError(
                f"{label}: not a TFLite model (no 'TFL3' identifier); the file is corrupt or "
                "of another format. Export or copy it again."
            )
        raise ModelError(f"{label}: not a TFLite or ONNX model. {_SUFFIX_HINT}.")
    if suffix in (".tflite", ".onnx") and suffix[1:] != kind:
        raise ModelError(
            f"{label}: the file is named {suffix} but holds {_ARTICLE_NAME[kind]} model. "
            f"Rename it to .{kind}."
        )
    classes: dict[str, type[ModelFile]] = {"tflite": TFLiteFile, "onnx": OnnxFile}
    model_file = classes[kind](data, path)
    model_file.validate()
    return model_file
