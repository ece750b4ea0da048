"""The IoU tracker: a detection continues the track whose last box it overlaps most; no motion model.

For very slow devices, where a Kalman filter and an optimal assignment are more than the
frame budget allows, and for scenes where objects move little between frames. Each
:meth:`IouTracker.update` matches greedily, the most overlapping pair first, down to
``match_iou``; detections under ``low_score`` are ignored, and a new track starts from a
detection scoring at least ``new_track_score`` and is shown at once. Lost tracks wait
``track_buffer_s`` seconds at their last box. ``high_score`` and ``low_match_iou`` are
ByteTrack's and are not used here.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.results import Detections
from edgeinfer.tracking import TrackerConfig
from edgeinfer.tracking.assign import iou_matrix

__all__ = ["IouTracker"]


class IouTracker:
    """Greedy IoU matching against each track's last box.

    Args:
        config: Scores, overlap and the lost-track buffer; default :class:`TrackerConfig`.

    Example:
        >>> tracker = IouTracker()
        >>> boxes = lambda x: Detections(np.array([[x, 0, x + 20, 40]], np.float32),
        ...                              np.array([0.9], np.float32), np.array([0]), ("cup",))
        >>> [tracker.update(boxes(2.0 * i), timestamp=i / 10).track_ids.tolist() for i in range(3)]
        [[1], [1], [1]]
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig(type="iou")
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._boxes = np.zeros((0, 4))
        self._ids = np.zeros(0, np.int64)
        self._classes = np.zeros(0, np.int64)
        self._last_seen = np.zeros(0)
        self._next_id = 1

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Add one frame's detections (see :meth:`edgeinfer.tracking.Tracker.update`).

        Args:
            detections: The frame's detections, in frame pixels.
            timestamp: The frame's time, seconds (any increasing clock).

        Returns:
            The detections of tracks with their ``track_ids``, best score first.
        """
        cfg = self.config
        alive = timestamp - self._last_seen <= cfg.track_buffer_s
        self._boxes, self._ids = self._boxes[alive], self._ids[alive]
        self._classes, self._last_seen = self._classes[alive], self._last_seen[alive]
        dets = np.flatnonzero(detections.scores >= cfg.low_score)
        track_of_det = self._greedy(detections, dets)
        matched = track_of_det >= 0
        rows = track_of_det[matched]
        self._boxes[rows] = detections.boxes_xyxy[dets[matched]]
        self._classes[rows] = detections.class_ids[dets[matched]]
        self._last_seen[rows] = timestamp
        ids = np.zeros(len(dets), np.int64)
        ids[matched] = self._ids[rows]
        born = ~matched & (detections.scores[dets] >= cfg.new_track_score)
        ids[born] = np.arange(self._next_id, self._next_id + int(born.sum()))
        self._next_id += int(born.sum())
        self._boxes = np.concatenate([self._boxes, detections.boxes_xyxy[dets[born]]])
        self._ids = np.concatenate([self._ids, ids[born]])
        self._classes = np.concatenate([self._classes, detections.class_ids[dets[born]]])
        self._last_seen = np.concatenate([self._last_seen, np.full(int(born.sum()), timestamp)])
        shown = ids > 0
        dets, ids = dets[shown], ids[shown]
        order = np.argsort(-detections.scores[dets], kind="stable")
        dets, ids = dets[order], ids[order]
        return detections.take(dets, track_ids=ids)

    def _greedy(self, detections: Detections, dets: np.ndarray) -> np.ndarray:
        """Track row of each of ``dets`` (-1: none), most overlapping pairs first."""
        track_of_det = np.full(len(dets), -1, np.int64)
        iou = iou_matrix(self._boxes, detections.boxes_xyxy[dets])
        if self.config.class_aware:
            iou[self._classes[:, None] != detections.class_ids[dets][None, :]] = 0.0
        rows, cols = np.nonzero(iou >= max(self.config.match_iou, 1e-9))
        order = np.argsort(-iou[rows, cols], kind="stable")
        used = np.zeros(len(self._boxes), bool)
        for row, col in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            if not used[row] and track_of_det[col] < 0:
                used[row] = True
                track_of_det[col] = row
        return track_of_det
