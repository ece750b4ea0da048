"""Pose: boxes with keypoints, from an Ultralytics pose head or a raw-anchor SSD.

Two decoders, chosen by ``postprocess.decoder``:

- ``yolov8``: the Ultralytics YOLOv8/11 pose export, ``[1, 4 + classes + K * D, N]`` (or
  transposed): ``cx, cy, w, h``, class scores, then per keypoint ``x, y`` in input pixels
  and, when ``D == 3``, its visibility already through a sigmoid (the exported head applies
  it). ``K, D`` is ``postprocess.kpt_shape`` (Ultralytics' ``kpt_shape``, default ``[17, 3]``).
- ``ssd``: BlazeFace-family raw anchors (:mod:`edgeinfer.postprocess.ssd_anchors`), with
  the anchor grid of ``postprocess.anchors``; every keypoint's score is its detection's.

Boxes go through the detection steps (threshold, NMS, cap, frame mapping); the kept rows'
keypoints are mapped to frame pixels with the same geometry and clipped to the frame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.postprocess.detection import select_rows
from edgeinfer.postprocess.ssd_anchors import decode_ssd_keypoints, ssd_anchors
from edgeinfer.postprocess.yolo import NORMALISED_MAX, Candidates, _anchor_rows, _cxcywh_to_xyxy
from edgeinfer.results.pose import Poses, default_skeleton

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["DEFAULT_KPT_SHAPE", "check_pose", "decode_pose", "decode_yolov8_pose", "kpt_shape_of"]

DEFAULT_KPT_SHAPE = (17, 3)  # COCO person keypoints with visibility, as Ultralytics' default
POSE_DECODERS = ("yolov8", "ssd")


def kpt_shape_of(card: ModelCard, regressor_values: int | None = None) -> tuple[int, int]:
    """The card's ``kpt_shape``; else ``(17, 3)``, or for ``ssd`` ``x, y`` pairs filling the regressors."""
    if card.postprocess.kpt_shape is not None:
        return card.postprocess.kpt_shape
    if card.postprocess.decoder == "ssd" and regressor_values is not None:
        return (regressor_values - 4) // 2, 2
    return DEFAULT_KPT_SHAPE


def decode_yolov8_pose(
    arrays: list[np.ndarray], input_size_wh: tuple[int, int], num_classes: int | None, kpt_shape: tuple[int, int]
) -> tuple[Candidates, np.ndarray]:
    """Decode an Ultralytics pose head to candidates and ``(N, K, D)`` keypoints in input pixels.

    Keypoints of normalised heads (0..1 of the input, as Ultralytics' TFLite exports give)
    are scaled to pixels like the boxes.

    Raises:
        InputError: no output is a pose head with room for ``kpt_shape``.
    """
    k, d = kpt_shape
    values = k * d
    rows = _anchor_rows(arrays, extra=4, num_classes=None if num_classes is None else num_classes + values,
                        decoder="yolov8 pose")
    n_cls = num_classes if num_classes is not None else rows.shape[1] - 4 - values
    if n_cls < 1 or rows.shape[1] < 4 + n_cls + values:
        raise InputError(
            f"The yolov8 pose head has {rows.shape[1]} channels; kpt_shape {[k, d]} needs 4 box values, "
            f"{num_classes or 'at least 1'} class scores and {values} keypoint values. "
            "Check postprocess.kpt_shape in the model card."
        )
    class_scores = rows[:, 4 : 4 + n_cls]
    class_ids = class_scores.argmax(axis=1)
    scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
    # A view where the layout allows: only the kept rows' keypoints are ever copied.
    points = rows[:, 4 + n_cls : 4 + n_cls + values].reshape(-1, k, d)
    if rows.size and float(np.abs(rows[:, :4]).max()) <= NORMALISED_MAX:  # as _cxcywh_to_xyxy
        points = points * np.asarray([*input_size_wh, 1.0][:d], dtype=np.float32)
    boxes = _cxcywh_to_xyxy(rows[:, :4], input_size_wh)
    return Candidates(boxes, scores, class_ids.astype(np.int64)), points


def decode_pose(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Poses:
    """Decode a pose model's outputs with the card's ``postprocess.decoder``.

    Args:
        card: Model card; ``postprocess`` gives decoder, ``kpt_shape``, thresholds and cap.
        outputs: Output name to dequantized float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        Poses in frame pixels, best score first.

    Raises:
        ConfigError: the decoder cannot decode pose.
        InputError: the outputs do not have the shape the decoder expects.
    """
    arrays = [np.asarray(outputs[spec.name]) for spec in output_specs]
    spec = card.postprocess
    if spec.decoder == "ssd":
        if spec.anchors is None:
            raise ConfigError(_NO_ANCHORS)
        widest = max((a.shape[-1] for a in arrays if a.ndim == 3), default=4)
        kpt_shape = kpt_shape_of(card, widest)
        candidates, points = decode_ssd_keypoints(arrays, spec.anchors, geometry.input_size_wh, kpt_shape)
        point_scores = None
    elif spec.decoder == "yolov8":
        kpt_shape = kpt_shape_of(card)
        num_classes = len(card.labels) if card.labels else None
        candidates, raw = decode_yolov8_pose(arrays, geometry.input_size_wh, num_classes, kpt_shape)
        points, point_scores = raw[:, :, :2], (raw[:, :, 2] if kpt_shape[1] == 3 else None)
    else:
        raise ConfigError(_bad_decoder(spec.decoder))
    rows, frame_boxes = select_rows(candidates, spec, geometry)
    kept_scores = candidates.scores[rows].astype(np.float32)
    if point_scores is None:
        point_scores = np.broadcast_to(candidates.scores[:, None], points.shape[:2])
    frame_points = geometry.points_to_frame(points[rows]).reshape(len(rows), kpt_shape[0], 2)
    keypoints = np.concatenate([frame_points, point_scores[rows][:, :, None]], axis=2).astype(np.float32)
    ids = candidates.class_ids[rows].astype(np.int64)
    return Poses(
        boxes_xyxy=frame_boxes, scores=kept_scores, class_ids=ids, labels=tuple(card.label(int(i)) for i in ids),
        keypoints=keypoints, skeleton=spec.skeleton or default_skeleton(kpt_shape[0]),
    )


_NO_ANCHORS = ("task pose with decoder ssd needs postprocess.anchors (the MediaPipe SSD anchor options: "
               "num_layers, strides, min_scale, max_scale, ...); add them to the model card")


def _bad_decoder(decoder: object) -> str:
    return (f"task pose has no {decoder!r} decoder; set postprocess.decoder to yolov8 (Ultralytics pose) "
            "or ssd (BlazeFace-style raw anchors)")


def check_pose(card: ModelCard, output_specs: list[TensorSpec]) -> None:
    """Load-time check: the card's decoder, ``kpt_shape`` and skeleton fit the model's outputs.

    Raises:
        ConfigError: they do not; the message names both numbers and the fix.
    """
    spec = card.postprocess
    if spec.decoder not in POSE_DECODERS:
        raise ConfigError(_bad_decoder(spec.decoder))
    if spec.kpt_shape is not None and (spec.kpt_shape[0] < 1 or spec.kpt_shape[1] not in (2, 3)):
        raise ConfigError(f"postprocess.kpt_shape {list(spec.kpt_shape)} is not [keypoints, 2 or 3] "
                          "(x, y or x, y, score per keypoint); fix it in the model card")
    heads = [s for s in output_specs if len(s.shape) == 3]
    if spec.decoder == "ssd":
        _check_ssd(card, heads)
        return
    if not heads:
        shapes = [list(s.shape) for s in output_specs]
        raise ConfigError(f"task pose with decoder yolov8 needs an output [1, 4 + classes + K*D, N]; "
                          f"the model gives {shapes}")
    k, d = kpt_shape_of(card)
    _check_skeleton(card, k)
    head = heads[0]
    dims = head.shape[1:]
    if any(v < 0 for v in dims):
        return  # a dynamic head is checked by the decoder
    if card.labels:
        need = 4 + len(card.labels) + k * d
        if need not in dims:
            channels = min(dims)
            fit = (channels - 4 - len(card.labels)) / d
            hint = f"kpt_shape [{int(fit)}, {d}]" if fit >= 1 and fit == int(fit) else "kpt_shape and labels"
            raise ConfigError(
                f"postprocess.kpt_shape {[k, d]} with {len(card.labels)} label(s) needs a pose head of "
                f"4 + {len(card.labels)} + {k}*{d} = {need} channels, but output {head.name!r} is "
                f"{list(head.shape)} ({channels} channels); set {hint} in the model card to match the model"
            )
    elif min(dims) - 4 - k * d < 1:
        channels = min(dims)
        raise ConfigError(
            f"postprocess.kpt_shape {[k, d]} needs a pose head of at least 4 + 1 + {k}*{d} = {5 + k * d} "
            f"channels, but output {head.name!r} is {list(head.shape)} ({channels} channels); set "
            "kpt_shape (and labels) in the model card to match the model"
        )


def _check_ssd(card: ModelCard, heads: list[TensorSpec]) -> None:
    spec = card.postprocess
    if spec.anchors is None:
        raise ConfigError(_NO_ANCHORS)
    regressors = max(heads, key=lambda s: s.shape[-1], default=None)
    if regressors is None or any(v < 0 for v in regressors.shape[1:]):
        return  # no static shape to check here; the decoder names the problem
    size = spec.anchors.input_size_wh or card.preprocess.size_wh
    k, d = kpt_shape_of(card, regressors.shape[2])
    _check_skeleton(card, k)
    if 4 + k * d > regressors.shape[2]:
        raise ConfigError(
            f"postprocess.kpt_shape {[k, d]} needs 4 + {k}*{d} = {4 + k * d} values per anchor, but output "
            f"{regressors.name!r} is {list(regressors.shape)}; fix kpt_shape in the model card"
        )
    if size is not None:
        count = len(ssd_anchors(spec.anchors, size))
        if count != regressors.shape[1]:
            raise ConfigError(
                f"postprocess.anchors give {count} anchors for a {size[0]}x{size[1]} input, but output "
                f"{regressors.name!r} has {regressors.shape[1]}; fix num_layers, strides or the "
                "aspect ratios in the model card"
            )


def _check_skeleton(card: ModelCard, num_keypoints: int) -> None:
    skeleton = card.postprocess.skeleton or ()
    bad = [list(edge) for edge in skeleton if not all(0 <= i < num_keypoints for i in edge)]
    if bad:
        raise ConfigError(f"postprocess.skeleton edges {bad} name keypoints outside 0..{num_keypoints - 1}; "
                          "fix the skeleton or kpt_shape in the model card")
