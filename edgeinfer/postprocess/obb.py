"""Oriented boxes (task ``obb``): an Ultralytics YOLOv8/11 OBB head to rotated boxes in frame pixels.

The head (``postprocess.decoder: yolov8``) is ``[1, 4 + classes + 1, N]``, or transposed:
``cx, cy, w, h`` of the rotated box in input pixels, the class scores (already sigmoid),
and last the angle in radians, in ``[-pi/4, 3pi/4)`` as the head emits it
(``(sigmoid - 0.25) * pi``). Decoding keeps candidates scoring at least
``score_threshold``, runs rotated-IoU NMS (class-aware unless ``agnostic_nms``;
:mod:`edgeinfer.postprocess.nms_rotated`), keeps the best ``max_detections``, maps the boxes
to frame pixels and regularises them as Ultralytics' ``regularize_rboxes`` does: angle in
``[0, pi/2)``, ``w`` and ``h`` swapped where the angle was folded by a quarter turn.

Frame mapping: the centre moves through the geometry. With (nearly) the same scale on
both axes (letterbox and centre crop, whose x and y scales differ only by the rounding of
the resized size to whole pixels, under :data:`UNIFORM_SCALE_TOLERANCE`) ``w, h`` divide by
the geometric mean of the two scales and the angle is unchanged. A stretch with different
x and y scales turns a rectangle into a parallelogram: its four corners are mapped and the
smallest rectangle around them (``cv2.minAreaRect``) is the frame box, which is exact for
angles of 0 and 90 degrees and slightly larger in between.

Normalised heads (every box value at most 1.5, as in Ultralytics TFLite exports) are scaled
by the input width and height; this is exact for square inputs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.images import import_cv2
from edgeinfer.postprocess.nms_rotated import nms_rotated
from edgeinfer.postprocess.yolo import NORMALISED_MAX, _anchor_rows
from edgeinfer.results.obb import OrientedBoxes, rbox_polygons

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["UNIFORM_SCALE_TOLERANCE", "check_obb", "decode_obb", "rboxes_to_frame", "regularize_rboxes"]

# Relative x/y scale difference still mapped as one scale: letterboxing 1920x1080 into 640
# rounds the resized height to 360 px, a 0.1% difference; 1% moves a corner by at most 0.5%
# of the box size.
UNIFORM_SCALE_TOLERANCE = 0.01


def decode_obb(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> OrientedBoxes:
    """Decode an Ultralytics OBB head into rotated boxes in frame pixels.

    Args:
        card: Model card; ``postprocess`` gives thresholds, the cap and ``agnostic_nms``.
        outputs: Output name to dequantized float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        Oriented boxes, best score first; boxes wholly outside the frame are dropped.

    Raises:
        InputError: no output is shaped ``[1, channels, anchors]`` with enough channels.
    """
    arrays = [np.asarray(outputs[spec.name]) for spec in output_specs]
    num_classes = len(card.labels) if card.labels else None
    rows = _anchor_rows(arrays, extra=5, num_classes=num_classes, decoder="obb (yolov8)")
    rboxes = np.concatenate([rows[:, :4], rows[:, -1:]], axis=1)
    if rboxes.size and float(np.abs(rboxes[:, :4]).max()) <= NORMALISED_MAX:
        w, h = geometry.input_size_wh
        rboxes[:, :4] *= np.asarray([w, h, w, h], dtype=np.float32)
    class_scores = rows[:, 4:-1]
    class_ids = class_scores.argmax(axis=1).astype(np.int64)
    scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]

    spec = card.postprocess
    passed = np.flatnonzero(scores >= spec.score_threshold)
    rboxes, scores, class_ids = rboxes[passed], scores[passed], class_ids[passed]
    keep = nms_rotated(rboxes, scores, class_ids, iou_threshold=spec.iou_threshold,
                       max_detections=spec.max_detections, agnostic=spec.agnostic_nms)
    frame_rboxes = rboxes_to_frame(rboxes[keep], geometry)
    bounds = _bounds_xyxy(frame_rboxes, geometry.frame_size_wh)
    has_area = (bounds[:, 2] > bounds[:, 0]) & (bounds[:, 3] > bounds[:, 1])
    keep = keep[has_area]
    return OrientedBoxes(
        boxes_xyxy=bounds[has_area],
        scores=scores[keep].astype(np.float32),
        class_ids=class_ids[keep],
        labels=tuple(card.label(int(i)) for i in class_ids[keep]),
        rboxes=frame_rboxes[has_area],
    )


def regularize_rboxes(rboxes: np.ndarray) -> np.ndarray:
    """Fold angles into ``[0, pi/2)``, swapping ``w`` and ``h`` where a quarter turn was folded.

    The same rectangle as before, described as Ultralytics' ``regularize_rboxes`` does.

    Args:
        rboxes: ``(N, 5)`` ``cx, cy, w, h, angle`` (radians).

    Returns:
        ``(N, 5)`` float32 regularised boxes.
    """
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    swap = np.mod(r[:, 4], math.pi) >= math.pi / 2
    w = np.where(swap, r[:, 3], r[:, 2])
    h = np.where(swap, r[:, 2], r[:, 3])
    angle = np.mod(r[:, 4], math.pi / 2)
    return np.stack([r[:, 0], r[:, 1], w, h, angle], axis=1).astype(np.float32)


def rboxes_to_frame(rboxes: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Map ``(N, 5)`` rotated boxes from input pixels to frame pixels, regularised.

    Args:
        rboxes: ``(N, 5)`` ``cx, cy, w, h, angle`` in model-input pixels, radians.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        ``(N, 5)`` float32 boxes in frame pixels (see the module docstring for stretch).

    Raises:
        MissingDependencyError: the scale differs per axis and OpenCV is not installed.
    """
    r = np.asarray(rboxes, dtype=np.float64).reshape(-1, 5)
    sx, sy = geometry.scale_xy
    if abs(sx - sy) <= UNIFORM_SCALE_TOLERANCE * max(abs(sx), abs(sy)):
        centre = geometry.to_frame(r[:, :2])
        out = np.concatenate([centre, r[:, 2:4] / math.sqrt(sx * sy), r[:, 4:5]], axis=1)
        return regularize_rboxes(out)
    cv2 = import_cv2("mapping rotated boxes through a stretch")
    corners = geometry.to_frame(rbox_polygons(r)).astype(np.float32)
    fitted = []
    for quad in corners:
        (cx, cy), (w, h), degrees = cv2.minAreaRect(quad)
        fitted.append((cx, cy, w, h, math.radians(degrees)))
    return regularize_rboxes(np.asarray(fitted, dtype=np.float64).reshape(-1, 5))


def check_obb(card: ModelCard, output_specs: list[TensorSpec]) -> None:
    """Load-time check: an ``obb`` card needs the yolov8 decoder and a ``4 + classes + 1`` head.

    Args:
        card: The effective model card.
        output_specs: The model's outputs, in order.

    Raises:
        ConfigError: the decoder is not ``yolov8``, no output is ``[1, channels, anchors]``,
            or (labels known) no axis of the head has ``4 + len(labels) + 1`` channels.
    """
    if card.postprocess.decoder != "yolov8":
        raise ConfigError(
            f"task 'obb' decodes the Ultralytics OBB head only: set postprocess.decoder: yolov8 "
            f"(got {card.postprocess.decoder!r})"
        )
    head = next((s for s in output_specs if len(s.shape) == 3 and s.shape[0] in (1, -1)), None)
    if head is None:
        shapes = [list(s.shape) for s in output_specs]
        raise ConfigError(
            f"task 'obb' needs an output shaped [1, 4 + classes + 1, anchors]; the model gives "
            f"{shapes}. Check the card's task, or export the model with Ultralytics' task obb."
        )
    static = [d for d in head.shape[1:] if d > 0]
    if not card.labels or not static:
        return
    want = 4 + len(card.labels) + 1
    if want not in static:
        raise ConfigError(
            f"task 'obb': output {head.name!r} {list(head.shape)} has {min(static)} channels, but "
            f"{len(card.labels)} labels need 4 box values + {len(card.labels)} class scores + 1 "
            f"angle = {want}. Give the card the model's own labels (or remove them)."
        )


def _bounds_xyxy(rboxes: np.ndarray, frame_size_wh: tuple[int, int]) -> np.ndarray:
    """Axis-aligned bounds of rotated boxes, clipped to the frame."""
    polygons = rbox_polygons(rboxes).astype(np.float64)
    bounds = np.concatenate([polygons.min(axis=1), polygons.max(axis=1)], axis=1).reshape(-1, 4)
    w, h = frame_size_wh
    bounds[:, 0::2] = bounds[:, 0::2].clip(0, w)
    bounds[:, 1::2] = bounds[:, 1::2].clip(0, h)
    return bounds.astype(np.float32)
