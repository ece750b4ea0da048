"""Cards for models exported by others, derived from what their files already carry.

:func:`edgeinfer.card.find` calls :func:`derive_card` last, when there is no card argument,
no embedded card and no sidecar. Two sources are understood, tried in this order:

- **Ultralytics** exports (YOLOv5u/v8/11 detect, classify, segment): ONNX
  ``metadata_props`` hold ``str()`` of Python values (``names`` is a dict literal such as
  ``"{0: 'person', 1: 'bicycle'}"``, ``imgsz`` is ``"[640, 640]"`` as height, width) and
  TFLite files carry the same metadata as JSON in a zip member ``metadata.json`` appended
  to the flatbuffer (``names`` keys become strings). Literals are read with
  :func:`ast.literal_eval`, never ``eval``. Preprocessing is fixed by Ultralytics'
  convention: RGB, centred letterbox padded with 114, ``/255``, NCHW for ONNX and NHWC
  for TFLite; outputs use the ``yolov8`` layout. Segmentation models become detection
  cards: the boxes are decoded, instance masks are not (yet). Pose, OBB and exports with
  NMS inside the graph (``nms=True``, end-to-end models) become ``raw`` cards. ONNX files
  from the older ultralytics/yolov5 repository carry only ``stride`` and ``names``; their
  head is the ``yolov5`` layout.
- **TFLite Metadata** (MediaPipe, TF Hub, Model Maker): see :mod:`edgeinfer.tflite_metadata`.

Malformed metadata never raises: the bad field is skipped with a logged warning, and a
file whose metadata cannot be used at all gets no derived card (``find`` then falls back
to ``task: raw``). The card records its source in ``ModelCard.origin``.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from typing import Any

from edgeinfer.card import ModelCard, parse
from edgeinfer.errors import ConfigError

__all__ = [
    "derive_card", "read_ultralytics_metadata", "tensor_shapes", "tflite_metadata_card", "ultralytics_card",
    "yolov5_repo_card",
]

log = logging.getLogger("edgeinfer.card")

Shape = tuple[int, ...]

# Keys Ultralytics writes as ``str(python value)`` into ONNX metadata_props.
_LITERAL_KEYS = ("names", "imgsz", "stride", "batch", "channels", "args", "kpt_shape", "end2end")
_ULTRALYTICS_MEMBER = "metadata.json"
# Defaults of ``yolo predict``, so results match what the exporter's users saw.
_ULTRALYTICS_POSTPROCESS = {"score_threshold": 0.25, "iou_threshold": 0.7, "max_detections": 300}
_IMAGENET_MEAN = (123.675, 116.28, 103.53)  # yolov5 classify: ImageNet mean/std in pixels
_IMAGENET_STD = (58.395, 57.12, 57.375)
_TASKS = {"detect": "detection", "segment": "detection", "classify": "classification"}


def derive_card(model_file: Any) -> ModelCard | None:
    """Return a card derived from exporter metadata, or ``None`` when the file has none.

    Args:
        model_file: An opened :class:`edgeinfer.formats.ModelFile`.

    Returns:
        A card with ``origin`` ``"ultralytics"`` or ``"tflite-metadata"``, or ``None``.
    """
    meta = read_ultralytics_metadata(model_file)
    if meta is not None and "task" not in meta and model_file.kind == "onnx":
        return yolov5_repo_card(meta, tensor_shapes(model_file)[1], model_file.label)
    if meta is not None:
        return ultralytics_card(meta, model_file.kind, model_file.label)
    if model_file.kind == "tflite":
        return tflite_metadata_card(model_file)
    return None


# -- Ultralytics ---------------------------------------------------------------------------


def read_ultralytics_metadata(model_file: Any) -> dict[str, Any] | None:
    """Return the Ultralytics export metadata of a model file, or ``None`` if it has none.

    Args:
        model_file: An opened :class:`edgeinfer.formats.ModelFile`.

    Returns:
        The metadata with Python values (``names`` a dict, ``imgsz`` a list, ...); values that
        do not parse are left out with a warning.
    """
    if model_file.kind == "onnx":
        props = model_file.metadata()
        if not _looks_ultralytics(props):
            return None
        return _parse_onnx_props(props, model_file.label)
    member = model_file.zip_members().get(_ULTRALYTICS_MEMBER)
    if member is None:
        return None
    meta = _parse_member(member, model_file.label)
    return meta if meta is not None and _looks_ultralytics(meta) else None


def _looks_ultralytics(meta: Mapping[str, Any]) -> bool:
    return str(meta.get("author", "")).startswith("Ultralytics") or ("names" in meta and "stride" in meta)


def _parse_onnx_props(props: Mapping[str, str], label: str) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, text in props.items():
        if key not in _LITERAL_KEYS:
            meta[key] = text
            continue
        try:
            meta[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            log.warning("%s: ignoring Ultralytics metadata %r = %.80r: not a Python literal (%s)",
                        label, key, text, type(exc).__name__)
    return meta


def _parse_member(raw: bytes, label: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: ignoring %s appended to the model: not JSON (%s)", label, _ULTRALYTICS_MEMBER, exc)
        return None
    if not isinstance(value, dict):
        log.warning("%s: ignoring %s appended to the model: not a JSON object", label, _ULTRALYTICS_MEMBER)
        return None
    return value


def ultralytics_card(meta: Mapping[str, Any], kind: str, label: str = "model") -> ModelCard | None:
    """Build the card of an Ultralytics export from its metadata.

    Args:
        meta: Metadata as returned by :func:`read_ultralytics_metadata`.
        kind: ``"onnx"`` (NCHW input) or ``"tflite"`` (NHWC input).
        label: Name of the model in log messages.

    Returns:
        The card (origin ``"ultralytics"``), or ``None`` when the metadata gives an invalid one.
    """
    task = str(meta.get("task", "detect"))
    channels = meta.get("channels", 3)
    gray = channels == 1
    preprocess: dict[str, Any] = {
        "color": "gray" if gray else "rgb",
        "resize": "letterbox",
        "letterbox": {"align": "center", "pad_value": 114},
        "mean": 0.0,
        "std": 255.0,
        "layout": "nchw" if kind == "onnx" else "nhwc",
    }
    if gray:
        preprocess.update(mean=(0.0,), std=(255.0,))
    size_wh = _size_wh(meta.get("imgsz"), label)
    if size_wh is not None:
        preprocess["size_wh"] = size_wh
    data: dict[str, Any] = {"task": "raw", "preprocess": preprocess}
    labels = _labels(meta.get("names"), label)
    if labels is not None:
        data["labels"] = labels
    card_task = _TASKS.get(task)
    if card_task == "classification":
        preprocess.update(resize="center_crop", crop_fraction=1.0)
        data.update(task="classification", postprocess={"activation": "none"})
    elif card_task == "detection" and _nms_inside(meta):
        log.warning("%s: Ultralytics export with NMS inside the graph (nms=True or end-to-end); "
                    "its [batch, max_det, 6] output is not decoded, so the card says task raw", label)
    elif card_task == "detection":
        data.update(task="detection", postprocess={"decoder": "yolov8", **_ULTRALYTICS_POSTPROCESS})
        if task == "segment":
            log.info("%s: Ultralytics segmentation model: boxes are decoded, instance masks are not", label)
    else:
        log.info("%s: Ultralytics task %r has no decoder in edgeinfer; the card says task raw", label, task)
    try:
        return parse(data, origin="ultralytics")
    except ConfigError as exc:
        log.warning("%s: Ultralytics metadata gives an invalid card, ignoring it: %s", label, exc)
        return None


def yolov5_repo_card(meta: Mapping[str, Any], outputs: list[Shape], label: str = "model") -> ModelCard | None:
    """Card of an ONNX export from the ultralytics/yolov5 repository (only stride and names).

    Its detection head is ``[1, N, 5 + classes]`` with objectness (the ``yolov5`` decoder);
    a ``[1, classes]`` output is its classifier (logits, ImageNet normalisation). The
    input size comes from the model's input shape.

    Args:
        meta: Metadata as returned by :func:`read_ultralytics_metadata`.
        outputs: Output shapes of the model (:func:`tensor_shapes`).
        label: Name of the model in log messages.
    """
    preprocess: dict[str, Any] = {"color": "rgb", "layout": "nchw", "mean": 0.0, "std": 255.0,
                                  "resize": "letterbox", "letterbox": {"align": "center", "pad_value": 114}}
    data: dict[str, Any] = {"preprocess": preprocess}
    labels = _labels(meta.get("names"), label)
    if labels is not None:
        data["labels"] = labels
    if outputs and len(outputs[0]) == 2:
        preprocess.update(resize="center_crop", crop_fraction=1.0, mean=_IMAGENET_MEAN, std=_IMAGENET_STD)
        data.update(task="classification", postprocess={"activation": "softmax"})
    else:
        data.update(task="detection", postprocess={"decoder": "yolov5", "iou_threshold": 0.45})
    try:
        return parse(data, origin="ultralytics")
    except ConfigError as exc:
        log.warning("%s: YOLOv5 metadata gives an invalid card, ignoring it: %s", label, exc)
        return None


def _nms_inside(meta: Mapping[str, Any]) -> bool:
    args = meta.get("args")
    nms = isinstance(args, Mapping) and bool(args.get("nms"))
    return nms or bool(meta.get("end2end"))


def _size_wh(imgsz: Any, label: str) -> tuple[int, int] | None:
    """Ultralytics ``imgsz`` is ``[height, width]`` (or one int for a square)."""
    if imgsz is None:
        return None
    if isinstance(imgsz, int) and not isinstance(imgsz, bool) and imgsz > 0:
        return imgsz, imgsz
    if (isinstance(imgsz, list | tuple) and len(imgsz) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in imgsz)):
        return int(imgsz[1]), int(imgsz[0])
    log.warning("%s: ignoring Ultralytics imgsz %.80r: expected [height, width]; the input shape "
                "gives the size", label, imgsz)
    return None


def _labels(names: Any, label: str) -> tuple[str, ...] | None:
    """Labels in class-id order from ``{0: 'person', ...}`` (keys may be strings) or a list."""
    if names is None:
        return None
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    if isinstance(names, Mapping) and names:
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            by_id = {}
        if sorted(by_id) == list(range(len(by_id))):
            return tuple(by_id[i] for i in range(len(by_id)))
    log.warning("%s: ignoring Ultralytics names %.80r: expected {class_id: name} with ids 0..N-1",
                label, names)
    return None


# -- TFLite Metadata ----------------------------------------------------------------------


def tflite_metadata_card(model_file: Any) -> ModelCard | None:
    """Build a card from the ``TFLITE_METADATA`` entry of a TFLite file.

    Normalisation mean/std of the first input (in its input units, usually pixels 0..255)
    and its colour space become ``preprocess``; the first label file packed in the model
    becomes ``labels``. The task follows from the outputs: four outputs are the TFLite
    detection postprocess op (``ssd``); one ``[1, N]`` output with labels is
    classification (scores used as they are); one ``[1, H, W, C]`` output with ``C``
    labels is segmentation; anything else is ``raw``. The input size is left to the
    model's input shape.

    Args:
        model_file: An opened :class:`edgeinfer.formats.tflite_file.TFLiteFile`.

    Returns:
        The card (origin ``"tflite-metadata"``), or ``None`` when the file carries no
        usable metadata (none, corrupt, or neither normalisation nor labels).
    """
    from edgeinfer.tflite_metadata import METADATA_NAME, parse_metadata

    raw = model_file.metadata_buffers().get(METADATA_NAME)
    if raw is None:
        return None
    try:
        meta = parse_metadata(raw)
    except ImportError:
        log.warning("%s: TFLite metadata not read: the 'flatbuffers' package is missing "
                    "(pip install 'edgeinfer[tflite]')", model_file.label)
        return None
    except ValueError as exc:
        log.warning("%s: ignoring TFLite metadata: %s", model_file.label, exc)
        return None
    labels = _packed_labels(model_file, meta)
    first = meta.inputs[0] if meta.inputs else None
    normalisation = first is not None and first.mean is not None and first.std is not None
    if not normalisation and labels is None:
        return None
    inputs, outputs = tensor_shapes(model_file)
    data: dict[str, Any] = {"preprocess": _metadata_preprocess(first, inputs, model_file.label)}
    data.update(_metadata_task(outputs, labels))
    if labels is not None:
        data["labels"] = labels
    threshold = next((t.score_threshold for t in meta.outputs if t.score_threshold is not None), None)
    if threshold is not None and 0.0 <= threshold <= 1.0:
        data.setdefault("postprocess", {})["score_threshold"] = threshold
    try:
        return parse(data, origin="tflite-metadata")
    except ConfigError as exc:
        log.warning("%s: TFLite metadata gives an invalid card, ignoring it: %s", model_file.label, exc)
        return None


def _packed_labels(model_file: Any, meta: Any) -> tuple[str, ...] | None:
    item = meta.first_label_file()
    if item is None:
        return None
    raw = model_file.zip_members().get(item.name)
    if raw is None:
        log.warning("%s: TFLite metadata names label file %r but it is not packed in the model",
                    model_file.label, item.name)
        return None
    lines = raw.decode("utf-8", "replace").splitlines()
    labels = tuple(line.strip() for line in lines if line.strip())
    return labels or None


def _metadata_preprocess(tensor: Any, inputs: list[Shape], label: str) -> dict[str, Any]:
    color = (tensor.color_space if tensor is not None else None) or "rgb"
    out: dict[str, Any] = {"color": color}
    channels = 1 if color == "gray" else 3
    if tensor is not None and tensor.mean is not None and tensor.std is not None:
        if all(len(v) in (1, channels) for v in (tensor.mean, tensor.std)) and all(tensor.std):
            out.update(mean=tensor.mean, std=tensor.std)
        else:
            log.warning("%s: ignoring TFLite metadata normalisation mean=%s std=%s for a %d-channel "
                        "input", label, tensor.mean, tensor.std, channels)
    if inputs and len(inputs[0]) == 4 and inputs[0][-1] in (1, 3):
        out["layout"] = "nhwc"
    return out


def _metadata_task(outputs: list[Shape], labels: tuple[str, ...] | None) -> dict[str, Any]:
    if len(outputs) == 4:  # TFLite_Detection_PostProcess: boxes, classes, scores, count
        return {"task": "detection", "postprocess": {"decoder": "ssd"}}
    if len(outputs) == 1 and labels is not None:
        shape = outputs[0]
        if len(shape) == 2 and shape[0] in (1, -1):
            return {"task": "classification", "postprocess": {"activation": "none"}}
        if len(shape) == 4 and shape[-1] == len(labels) > 1:
            return {"task": "segmentation"}
    return {"task": "raw"}


# -- tensor shapes straight from the file --------------------------------------------------


def tensor_shapes(model_file: Any) -> tuple[list[Shape], list[Shape]]:
    """Input and output shapes read from the file itself, without a runtime.

    Args:
        model_file: An opened :class:`edgeinfer.formats.ModelFile`.

    Returns:
        ``(inputs, outputs)``; ``-1`` marks a dynamic dimension. Empty lists when the
        shapes cannot be read (a TFLite file with no flatbuffer schema module installed).
    """
    try:
        if model_file.kind == "onnx":
            return _onnx_shapes(model_file.data)
        return _tflite_shapes(model_file.data)
    except (ValueError, IndexError, TypeError, UnicodeDecodeError) as exc:
        log.warning("%s: cannot read tensor shapes from the file (%s)", model_file.label, exc)
        return [], []


def _tflite_shapes(data: bytes) -> tuple[list[Shape], list[Shape]]:
    from edgeinfer.formats.tflite_file import load_schema

    schema = load_schema()
    if schema is None:
        return [], []
    graph = schema.Model.GetRootAs(data, 0).Subgraphs(0)

    def shape(index: int) -> Shape:
        tensor = graph.Tensors(index)
        if tensor.ShapeSignatureLength():
            return tuple(int(d) for d in tensor.ShapeSignatureAsNumpy())
        return tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()

    inputs = [shape(int(graph.Inputs(i))) for i in range(graph.InputsLength())]
    outputs = [shape(int(graph.Outputs(i))) for i in range(graph.OutputsLength())]
    return inputs, outputs


# ONNX protobuf fields: ModelProto.graph 7; GraphProto.input 11, output 12; ValueInfoProto.type
# 2; TypeProto.tensor_type 1; Tensor.shape 2; TensorShapeProto.dim 1; Dimension.dim_value 1.
def _onnx_shapes(data: bytes) -> tuple[list[Shape], list[Shape]]:
    from edgeinfer.formats.onnx_file import iter_fields

    graph = next((v for f, _, _, _, v in iter_fields(data) if f == 7 and isinstance(v, bytes)), b"")
    inputs: list[Shape] = []
    outputs: list[Shape] = []
    for field, _, _, _, value in iter_fields(graph):
        if field in (11, 12) and isinstance(value, bytes):
            (inputs if field == 11 else outputs).append(_onnx_value_shape(value))
    return inputs, outputs


def _onnx_value_shape(value_info: bytes) -> Shape:
    from edgeinfer.formats.onnx_file import iter_fields

    def sub(data: bytes, number: int) -> bytes:
        return next((v for f, _, _, _, v in iter_fields(data) if f == number and isinstance(v, bytes)), b"")

    shape = sub(sub(sub(value_info, 2), 1), 2)
    dims = []
    for field, _, _, _, dim in iter_fields(shape):
        if field == 1 and isinstance(dim, bytes):
            dim_value = next((v for f, _, _, _, v in iter_fields(dim) if f == 1 and isinstance(v, int)), -1)
            dims.append(int(dim_value))
    return tuple(dims)
