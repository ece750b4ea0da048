"""TFLite flatbuffers checked and read in Python before an interpreter sees them.

The flatbuffer schema module ships inside LiteRT (``ai_edge_litert.schema_py_generated``)
and TensorFlow; with neither (a bare ``tflite_runtime`` install) only the header is
checked. Walking the model with the Python accessors is bounds-checked, so a truncated
or corrupt file raises here instead of crashing the native interpreter; the graph's
structure (indices, buffers, shapes, dataflow) is checked by :mod:`.tflite_checks`.
"""

from __future__ import annotations

import logging
import struct
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from edgeinfer.errors import MissingDependencyError
from edgeinfer.formats import ModelFile, Shape, ultralytics
from edgeinfer.formats.tflite_checks import GraphError, check_graph
from edgeinfer.formats.tflite_metadata import METADATA_NAME, ModelMetadata, parse_metadata

__all__ = ["EDGETPU_CUSTOM_OP", "TFLiteFile", "load_schema"]

EDGETPU_CUSTOM_OP = "edgetpu-custom-op"
_CUSTOM = 32  # BuiltinOperator.CUSTOM
log = logging.getLogger("edgeinfer.card")
_WALK_ERRORS = (ValueError, IndexError, struct.error, TypeError, UnicodeDecodeError, OverflowError)


@cache
def load_schema() -> ModuleType | None:
    """Return the TFLite flatbuffer schema module, or ``None`` when none is installed."""
    for name in ("ai_edge_litert.schema_py_generated", "tensorflow.lite.python.schema_py_generated"):
        try:
            return __import__(name, fromlist=["Model"])
        except ImportError:
            continue
    return None


class TFLiteFile(ModelFile):
    """A TFLite (LiteRT) flatbuffer model."""

    kind = "tflite"

    def _root(self) -> Any:
        schema = load_schema()
        return None if schema is None else schema.Model.GetRootAs(self.data, 0)

    def validate(self) -> None:
        if len(self.data) < 16:
            raise self.error("the file is truncated (shorter than a TFLite header)",
                             "Export or copy it again.")
        (root,) = struct.unpack_from("<I", self.data, 0)
        if root + 4 > len(self.data):
            raise self.error("the file is truncated or corrupt (root table outside the file)",
                             "Export or copy it again.")
        schema = load_schema()
        if schema is None:
            return  # a bare tflite_runtime install: only the header is checked (module docstring)
        try:
            check_graph(schema.Model.GetRootAs(self.data, 0), schema, len(self.data))
        except GraphError as exc:
            raise self.error(f"the TFLite graph is inconsistent: {exc}",
                             "The file is corrupt or was written by a broken tool: convert or export "
                             "the model again.") from None
        except _WALK_ERRORS as exc:
            raise self.error(f"the TFLite flatbuffer is truncated or corrupt ({exc})",
                             "Export or copy it again.") from None

    @property
    def edgetpu_compiled(self) -> bool:
        return EDGETPU_CUSTOM_OP in self.custom_ops()

    def custom_ops(self) -> list[str]:
        """Names of the custom operators the model uses (e.g. ``edgetpu-custom-op``)."""
        model = self._root()
        if model is None:
            return [EDGETPU_CUSTOM_OP] if EDGETPU_CUSTOM_OP.encode() in self.data else []
        names = []
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == _CUSTOM and code.CustomCode():
                names.append(code.CustomCode().decode("utf-8", "replace"))
        return names

    def metadata_buffers(self) -> dict[str, bytes]:
        """Raw metadata entries (name -> bytes), e.g. ``TFLITE_METADATA``, ``edgeinfer``."""
        model = self._root()
        if model is None:
            return {}
        out = {}
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            buf = model.Buffers(entry.Buffer())
            raw = buf.DataAsNumpy()
            out[(entry.Name() or b"").decode("utf-8", "replace")] = (
                raw.tobytes() if isinstance(raw, np.ndarray) else b"")
        return out

    def metadata(self) -> dict[str, str]:
        out = {}
        for name, raw in self.metadata_buffers().items():
            try:
                out[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary metadata such as TFLITE_METADATA flatbuffers
        return out

    def _read_shapes(self) -> tuple[list[Shape], list[Shape]]:
        model = self._root()
        if model is None:
            return [], []
        graph = model.Subgraphs(0)

        def shape(index: int) -> Shape:
            tensor = graph.Tensors(index)
            if tensor.ShapeSignatureLength():
                return tuple(int(d) for d in tensor.ShapeSignatureAsNumpy())
            return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

        inputs = [shape(int(graph.Inputs(i))) for i in range(graph.InputsLength())]
        outputs = [shape(int(graph.Outputs(i))) for i in range(graph.OutputsLength())]
        return inputs, outputs

    def ultralytics_metadata(self) -> dict[str, Any] | None:
        meta = ultralytics.from_json_member(self.zip_members().get(ultralytics.MEMBER), self.label)
        if meta is not None:
            meta.setdefault("task", "detect")  # only yolov5-repository ONNX exports lack a task
        return meta

    def tflite_metadata(self) -> ModelMetadata | None:
        raw = self.metadata_buffers().get(METADATA_NAME)
        if raw is None:
            return None
        try:
            return parse_metadata(raw)
        except ImportError:
            log.warning("%s: TFLite metadata not read: the 'flatbuffers' package is missing "
                        "(pip install 'edgeinfer[tflite]')", self.label)
        except ValueError as exc:
            log.warning("%s: ignoring TFLite metadata: %s", self.label, exc)
        return None

    def _inline_offset_buffers(self, model: Any) -> None:
        """Move weights stored after the flatbuffer (``offset``/``size``) into the buffers.

        Converters such as ai-edge-quantizer append tensor data behind the flatbuffer and
        address it by file offset; re-packing the flatbuffer would leave those offsets
        pointing past the end of the new file, so the data is carried inline instead.
        """
        for buffer in model.buffers or []:
            offset, size = int(buffer.offset or 0), int(buffer.size or 0)
            if offset > 1:
                buffer.data = np.frombuffer(self.data, dtype=np.uint8, count=size, offset=offset).copy()
                buffer.offset = 0
                buffer.size = 0

    def with_metadata(self, key: str, value: str) -> bytes:
        schema = load_schema()
        if schema is None:
            raise MissingDependencyError("ai-edge-litert", "tflite", "writing TFLite metadata")
        import flatbuffers

        model = schema.ModelT.InitFromPackedBuf(self.data, 0)
        self._inline_offset_buffers(model)
        payload = np.frombuffer(value.encode("utf-8"), dtype=np.uint8)
        model.metadata = list(model.metadata or [])
        model.buffers = list(model.buffers or [])
        entry = next((m for m in model.metadata if (m.name or b"").decode() == key), None)
        buffer = schema.BufferT()
        buffer.data = payload
        model.buffers.append(buffer)
        if entry is None:
            entry = schema.MetadataT()
            entry.name = key
            model.metadata.append(entry)
        entry.buffer = len(model.buffers) - 1
        builder = flatbuffers.Builder(len(self.data) + len(payload) + 1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())
