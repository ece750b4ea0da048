"""Detector -> tracker runs over the synthetic scenes, and their CLEAR-MOT / ID metrics.

Used by the tracking and events accuracy tests and by ``scripts/make_events_picture.py``.
The metrics are motmetrics' (MOTA, IDF1, ID switches); the box distances are computed here
because ``motmetrics.distances.iou_matrix`` (1.4.0, the latest release) calls
``np.asfarray``, which NumPy 2 removed. :func:`iou_distances` keeps its meaning:
``1 - IoU``, and "no match possible" (NaN) below IoU 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.events.scenes import FPS, Frame, SceneSpec, render

__all__ = [
    "DETECTION_SCORE",
    "MAX_IOU_DISTANCE",
    "Tracked",
    "detect_scene",
    "iou_distances",
    "load_detector",
    "mot_summary",
    "reference_tracker",
    "run_ours",
]

# The detector keeps boxes from this score: ByteTrack's second stage (low_score 0.1) needs them.
DETECTION_SCORE = 0.1
MAX_IOU_DISTANCE = 0.5  # a hypothesis matches a truth box at IoU >= 0.5
# One frame's tracker output: boxes (N, 4) xyxy and their track ids (N,).
Tracked = tuple[np.ndarray, np.ndarray]


def load_detector(onnx_path: Path) -> Any:
    """Open the ONNX detector with its own card, except the score threshold lowered to :data:`DETECTION_SCORE`."""
    import edgeinfer

    with edgeinfer.load(onnx_path) as model:
        card = model.card.model_dump(mode="json", exclude_none=True)
    card.pop("origin", None)
    card["postprocess"]["score_threshold"] = DETECTION_SCORE
    return edgeinfer.load(onnx_path, card=card)


def detect_scene(model: Any, spec: SceneSpec) -> tuple[list[Frame], list[Any]]:
    """Render ``spec`` and run the detector on every frame; return the frames and their ``Detections``."""
    frames = render(spec)
    return frames, [model.predict(frame.image) for frame in frames]


def run_ours(detections: Sequence[Any], frames: Sequence[Frame]) -> list[Any]:
    """Run ``edgeinfer.tracking``'s ByteTrack over the detections; return its ``Detections`` per frame."""
    from edgeinfer.tracking import make_tracker

    tracker = make_tracker("bytetrack")
    assert tracker is not None
    return [tracker.update(found, frame.timestamp) for found, frame in zip(detections, frames, strict=True)]


def reference_tracker() -> tuple[str, Callable[[Any], Tracked]]:
    """Supervision's ByteTrack, or Roboflow's ``trackers`` ByteTrack that replaced it after supervision 0.26.

    Returns:
        Its name and ``step(detections) -> (boxes_xyxy, track_ids)`` for one frame of ``edgeinfer`` detections.

    Raises:
        ImportError: neither is installed (``pip install 'supervision<0.27'`` or ``trackers``).
    """
    import supervision as sv

    if hasattr(sv, "ByteTrack"):
        tracker: Any = sv.ByteTrack(frame_rate=round(FPS))
        update, name = tracker.update_with_detections, f"supervision {sv.__version__} ByteTrack"
    else:
        from importlib.metadata import version

        from trackers import ByteTrackTracker

        tracker = ByteTrackTracker(frame_rate=FPS)
        update, name = tracker.update, f"trackers {version('trackers')} ByteTrackTracker"

    def step(found: Any) -> Tracked:
        out = update(sv.Detections(xyxy=found.boxes_xyxy.astype(np.float32).reshape(-1, 4),
                                   confidence=found.scores.astype(np.float32),
                                   class_id=found.class_ids.astype(int)))
        ids = np.asarray(out.tracker_id if out.tracker_id is not None else [], dtype=np.int64)
        keep = ids >= 0  # trackers marks detections of unconfirmed tracks -1
        return np.asarray(out.xyxy).reshape(-1, 4)[keep], ids[keep]

    return name, step


def _iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``(N, 4)`` against ``(M, 4)`` xyxy boxes, ``(N, M)``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def iou_distances(truth_xywh: np.ndarray, hyp_xywh: np.ndarray, max_iou: float = MAX_IOU_DISTANCE) -> np.ndarray:
    """``mm.distances.iou_matrix``: ``1 - IoU`` of xywh boxes, NaN where it exceeds ``max_iou``."""
    def xyxy(b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, np.float64).reshape(-1, 4)
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)

    dist = 1.0 - _iou_xyxy(xyxy(truth_xywh), xyxy(hyp_xywh))
    dist[dist > max_iou] = np.nan
    return dist


def _xywh(boxes_xyxy: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def _cared_for(frame: Frame, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Mask of hypotheses to score: not on a don't-care box unless they also match a truth box."""
    keep = np.ones(len(boxes_xyxy), bool)
    if len(boxes_xyxy) == 0 or not frame.dont_care:
        return keep
    on_dont_care = (_iou_xyxy(boxes_xyxy, np.asarray(frame.dont_care)) >= 1 - MAX_IOU_DISTANCE).any(axis=1)
    if frame.truth:
        truth = np.asarray([t.box_xyxy for t in frame.truth])
        on_truth = (_iou_xyxy(boxes_xyxy, truth) >= 1 - MAX_IOU_DISTANCE).any(axis=1)
    else:
        on_truth = np.zeros(len(boxes_xyxy), bool)
    return ~on_dont_care | on_truth


@dataclass(frozen=True)
class MotSummary:
    """motmetrics' numbers for one tracker on one scene (or several)."""

    mota: float
    idf1: float
    id_switches: int
    false_positives: int
    misses: int
    truth_ids: int
    track_ids: int


def mot_summary(frames: Sequence[Frame], tracked: Sequence[Tracked]) -> MotSummary:
    """Score one tracker's output on one scene with motmetrics.

    Args:
        frames: The scene's frames with their ground truth.
        tracked: Per frame, the tracker's boxes ``(N, 4)`` xyxy and ids ``(N,)``.

    Returns:
        MOTA, IDF1, ID switches, false positives and misses (don't-care boxes excluded).
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    track_ids: set[int] = set()
    for frame, (raw_boxes, raw_ids) in zip(frames, tracked, strict=True):
        all_boxes = np.asarray(raw_boxes, np.float64).reshape(-1, 4)
        keep = _cared_for(frame, all_boxes)
        boxes, ids = all_boxes[keep], np.asarray(raw_ids)[keep]
        track_ids.update(int(i) for i in ids)
        truth = np.asarray([t.box_xyxy for t in frame.truth], np.float64).reshape(-1, 4)
        acc.update([t.object_id for t in frame.truth], [int(i) for i in ids],
                   iou_distances(_xywh(truth), _xywh(boxes)))
    names = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_unique_objects"]
    row = mm.metrics.create().compute(acc, metrics=names, name="scene").iloc[0]
    return MotSummary(float(row["mota"]), float(row["idf1"]), int(row["num_switches"]),
                      int(row["num_false_positives"]), int(row["num_misses"]), int(row["num_unique_objects"]),
                      len(track_ids))
