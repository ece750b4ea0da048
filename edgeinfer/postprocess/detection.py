"""Detection: decoder-specific candidates, then threshold, class-aware NMS and frame mapping.

Every decoder (``yolov8``, ``yolov5``, ``ssd``) turns raw outputs into
:class:`~edgeinfer.postprocess.yolo.Candidates` in model-input pixels; the shared steps
here keep candidates scoring at least ``score_threshold``, run class-aware NMS, keep the
best ``max_detections``, map the boxes to frame pixels through the preprocessing
:class:`~edgeinfer.types.Geometry` (undoing letterbox, crop or stretch), clip them to the
frame and drop boxes left with no area (those lying wholly in letterbox padding).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.postprocess.nms import nms_per_class
from edgeinfer.postprocess.ssd import decode_ssd
from edgeinfer.postprocess.yolo import Candidates, decode_yolov5, decode_yolov8
from edgeinfer.results import Detections

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard, PostprocessSpec
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["DECODERS", "decode_detection", "select_detections", "select_rows"]

Decoder = Callable[[list[np.ndarray], tuple[int, int], "int | None"], Candidates]

DECODERS: dict[str, Decoder] = {
    "yolov8": decode_yolov8,
    "yolov5": decode_yolov5,
    "ssd": decode_ssd,
}


def decode_detection(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Detections:
    """Decode a detector's outputs with the card's ``postprocess.decoder``.

    Args:
        card: Model card; ``postprocess`` gives decoder, thresholds and the detection cap.
        outputs: Output name to dequantized float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        Detections in frame pixels, best score first.

    Raises:
        InputError: the outputs do not have the shape the decoder expects.
    """
    decoder = DECODERS[str(card.postprocess.decoder)]
    arrays = [np.asarray(outputs[spec.name]) for spec in output_specs]
    num_classes = len(card.labels) if card.labels else None
    candidates = decoder(arrays, geometry.input_size_wh, num_classes)
    return select_detections(candidates, card.postprocess, geometry, card.label)


def select_detections(
    candidates: Candidates,
    spec: PostprocessSpec,
    geometry: Geometry,
    label: Callable[[int], str],
) -> Detections:
    """Threshold, NMS, cap and map candidates to frame pixels.

    Args:
        candidates: Boxes in model-input pixels with scores and class ids.
        spec: ``score_threshold``, ``iou_threshold``, ``max_detections`` and ``agnostic_nms``.
        geometry: How frame pixels map to model-input pixels.
        label: Class id to label (``ModelCard.label``).

    Returns:
        Detections in frame pixels, best score first.
    """
    rows, frame_boxes = select_rows(candidates, spec, geometry)
    ids = candidates.class_ids[rows].astype(np.int64)
    return Detections(
        boxes_xyxy=frame_boxes,
        scores=candidates.scores[rows].astype(np.float32),
        class_ids=ids,
        labels=tuple(label(int(i)) for i in ids),
    )


def select_rows(
    candidates: Candidates, spec: PostprocessSpec, geometry: Geometry
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate rows :func:`select_detections` keeps, with their boxes in frame pixels.

    For decoders that carry more per candidate (keypoints, mask coefficients): index those
    with the rows returned.

    Returns:
        ``(K,)`` int64 indices into the candidates, best score first, and their ``(K, 4)``
        float32 frame-pixel boxes (clipped; boxes left with no area are dropped).
    """
    passed = np.flatnonzero(candidates.scores >= spec.score_threshold)
    boxes, scores, class_ids = (a[passed] for a in candidates)
    keep = nms_per_class(
        boxes, scores, class_ids, iou_threshold=spec.iou_threshold, max_detections=spec.max_detections,
        agnostic=spec.agnostic_nms,
    )
    frame_boxes = geometry.boxes_to_frame(boxes[keep], clip=True)
    has_area = (frame_boxes[:, 2] > frame_boxes[:, 0]) & (frame_boxes[:, 3] > frame_boxes[:, 1])
    return passed[keep[has_area]].astype(np.int64), frame_boxes[has_area]
