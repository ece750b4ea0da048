"""Cards for models exported by others, derived from what their files already carry.

:func:`edgeinfer.card.find` calls :func:`derive_card` last, when there is no card argument,
no embedded card and no sidecar. Two sources are understood, tried in this order:

- **Ultralytics** exports (YOLOv5u/v8/11 detect, classify, segment): the metadata is read
  by the file's format (:meth:`edgeinfer.formats.ModelFile.ultralytics_metadata`;
  ``imgsz`` is height, width). Preprocessing is fixed by Ultralytics' convention: RGB,
  centred letterbox padded with 114, ``/255``, in the format's image layout (NCHW for
  ONNX, NHWC for TFLite); outputs use the ``yolov8`` layout. Segmentation models become
  ``instance_segmentation`` cards (head plus mask prototypes,
  :mod:`edgeinfer.postprocess.instance_seg`). OBB models become ``obb`` cards
  (rotated boxes, same ``yolov8`` decoder); pose models become ``pose`` cards with the
  metadata's ``kpt_shape``. Exports with
  NMS inside the graph (``nms=True``, end-to-end models) become ``raw`` cards. ONNX files
  from the older ultralytics/yolov5 repository carry only ``stride`` and ``names``; their
  head is the ``yolov5`` layout.
- **TFLite Metadata** (MediaPipe, TF Hub, Model Maker): see
  :mod:`edgeinfer.formats.tflite_metadata`.

Everything about the file (metadata, shapes, packed files) is asked of its
:class:`~edgeinfer.formats.ModelFile`; nothing here branches on the format.

Malformed metadata never raises: the bad field is skipped with a logged warning, and a
file whose metadata cannot be used at all gets no derived card (``find`` then falls back
to ``task: raw``). The card records its source in ``ModelCard.origin``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edgeinfer.card_schema import ModelCard, parse
from edgeinfer.errors import ConfigError
from edgeinfer.formats import Shape

if TYPE_CHECKING:
    from edgeinfer.formats import ModelFile
    from edgeinfer.formats.tflite_metadata import ModelMetadata, TensorMetadata

__all__ = [
    "derive_card", "tflite_metadata_card", "ultralytics_card",
    "yolov5_repo_card",
]

log = logging.getLogger("edgeinfer.card")

# Defaults of ``yolo predict``, so results match what the exporter's users saw.
_ULTRALYTICS_POSTPROCESS = {"score_threshold": 0.25, "iou_threshold": 0.7, "max_detections": 300}
_IMAGENET_MEAN = (123.675, 116.28, 103.53)  # yolov5 classify: ImageNet mean/std in pixels
_IMAGENET_STD = (58.395, 57.12, 57.375)
_TASKS = {"detect": "detection", "segment": "instance_segmentation", "classify": "classification", "obb": "obb",
          "pose": "pose"}


def derive_card(model_file: ModelFile) -> ModelCard | None:
    """Return a card derived from exporter metadata, or ``None`` when the file has none.

    Args:
        model_file: An opened :class:`edgeinfer.formats.ModelFile`.

    Returns:
        A card with ``origin`` ``"ultralytics"`` or ``"tflite-metadata"``, or ``None``.
    """
    meta = model_file.ultralytics_metadata()
    if meta is not None and "task" not in meta:
        return yolov5_repo_card(meta, model_file.tensor_shapes()[1], model_file.label)
    if meta is not None:
        return ultralytics_card(meta, model_file.image_layout, model_file.label)
    tflite_meta = model_file.tflite_metadata()
    if tflite_meta is not None:
        return tflite_metadata_card(model_file, tflite_meta)
    return None


# -- Ultralytics ---------------------------------------------------------------------------


def ultralytics_card(meta: Mapping[str, Any], layout: str, label: str = "model") -> ModelCard | None:
    """Build the card of an Ultralytics export from its metadata.

    Args:
        meta: Metadata as returned by :meth:`ModelFile.ultralytics_metadata`.
        layout: The image layout of the file's format (``"nchw"`` for ONNX, ``"nhwc"``).
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
        "layout": layout,
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
    elif card_task in ("detection", "instance_segmentation", "pose") and _nms_inside(meta):
        log.warning("%s: Ultralytics export with NMS inside the graph (nms=True or end-to-end); "
                    "its [batch, max_det, 6] output is not decoded, so the card says task raw", label)
    elif card_task in ("detection", "instance_segmentation"):
        data.update(task=card_task, postprocess={"decoder": "yolov8", **_ULTRALYTICS_POSTPROCESS})
    elif card_task == "obb" and not _nms_inside(meta):
        data.update(task="obb", postprocess={"decoder": "yolov8", **_ULTRALYTICS_POSTPROCESS})
    elif card_task == "pose":
        postprocess = {"decoder": "yolov8", **_ULTRALYTICS_POSTPROCESS}
        if meta.get("kpt_shape") is not None:
            postprocess["kpt_shape"] = meta["kpt_shape"]  # parse() rejects a malformed one
        data.update(task="pose", postprocess=postprocess)
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
        meta: Metadata as returned by :meth:`ModelFile.ultralytics_metadata`.
        outputs: Output shapes of the model (:meth:`ModelFile.tensor_shapes`).
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


def tflite_metadata_card(model_file: ModelFile, meta: ModelMetadata) -> ModelCard | None:
    """Build a card from the TFLite Metadata (``TFLITE_METADATA``) of a model file.

    Normalisation mean/std of the first input (in its input units, usually pixels 0..255)
    and its colour space become ``preprocess``; the first label file packed in the model
    becomes ``labels``. The task follows from the outputs: four outputs are the TFLite
    detection postprocess op (``ssd``); one ``[1, N]`` output with labels is
    classification (scores used as they are); one ``[1, H, W, C]`` output with ``C``
    labels is segmentation; anything else is ``raw``. The input size is left to the
    model's input shape.

    Args:
        model_file: The opened model file (for its shapes and packed label files).
        meta: Its metadata (:meth:`ModelFile.tflite_metadata`).

    Returns:
        The card (origin ``"tflite-metadata"``), or ``None`` when the metadata has
        neither normalisation nor labels, or gives an invalid card.
    """
    labels = _packed_labels(model_file, meta)
    first = meta.inputs[0] if meta.inputs else None
    normalisation = first is not None and first.mean is not None and first.std is not None
    if not normalisation and labels is None:
        return None
    inputs, outputs = model_file.tensor_shapes()
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


def _packed_labels(model_file: ModelFile, meta: ModelMetadata) -> tuple[str, ...] | None:
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


def _metadata_preprocess(tensor: TensorMetadata | None, inputs: list[Shape], label: str) -> dict[str, Any]:
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
