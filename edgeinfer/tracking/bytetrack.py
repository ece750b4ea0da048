"""ByteTrack: follow objects with a Kalman filter and two rounds of matching, high scores then low.

Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every Detection Box"
(ECCV 2022). Each :meth:`ByteTracker.update`, in the paper's order:

1. Every track is predicted one step ahead (:mod:`edgeinfer.tracking.kalman`, dt = 1 per
   update; a lost track's height velocity is zeroed first, as in ByteTrack).
2. Confirmed tracks, followed or lost, are matched to the high-score detections on
   ``1 - IoU * score``.
3. Tracks still followed but unmatched get a second chance with the low-score detections
   on ``1 - IoU``: an object whose score dips behind an occlusion keeps its id. A
   low-score detection never starts a track. Tracks unmatched after this are lost.
4. Unconfirmed tracks (started on the previous update) are matched to the high-score
   detections left; a match confirms the track and gives it its id, no match removes it.
   So a false positive seen on one frame never gets an id. On the tracker's first update
   new tracks are confirmed at once.
5. High-score detections left over, scoring at least ``new_track_score``, start tracks.
6. A followed track and a lost one over the same place (IoU > 0.85) are duplicates; the
   younger is removed.

Lost tracks are kept for ``track_buffer_s`` seconds of the timestamps passed in (frame
drops do not shorten it) and can be found again with their old id. With ``class_aware``
a pair of different classes costs more than any threshold allows.

Track state lives in stacked numpy arrays (:class:`_Tracks`), so each step is a few array
operations for all tracks at once: about 0.1 ms per update for 50 objects (bench/bench_tracking.py).
Ids are given on confirmation, so the ids seen are 1, 2, 3 ... with no gaps from removed
unconfirmed tracks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from edgeinfer.results import Detections
from edgeinfer.tracking import TrackerConfig, kalman
from edgeinfer.tracking.assign import iou_matrix, linear_assignment

__all__ = ["ByteTracker"]

# ByteTrack's fixed thresholds: unconfirmed tracks match on 1 - IoU * score <= 0.7, and a
# followed and a lost track more than 85 % overlapping are the same object.
UNCONFIRMED_MATCH_COST = 0.7
DUPLICATE_IOU = 0.85
# Added to a cross-class pair: above every threshold (all costs are at most 1), never matched.
CROSS_CLASS_COST = 2.0


@dataclass
class _Tracks:
    """Every track of a tracker, one row each."""

    mean: np.ndarray  # (T, 8) float64 Kalman state, see kalman
    cov: np.ndarray  # (T, 8, 8) float64
    track_id: np.ndarray  # (T,) int64, 0 while unconfirmed
    class_id: np.ndarray  # (T,) int64, of the last matched detection
    lost: np.ndarray  # (T,) bool: not matched on the last update
    last_seen: np.ndarray  # (T,) float64 timestamp of the last match, seconds
    first_frame: np.ndarray  # (T,) int64 update number the track started on
    last_frame: np.ndarray  # (T,) int64 update number of the last match

    @classmethod
    def empty(cls) -> _Tracks:
        mean, cov = kalman.initiate(np.zeros((0, 4)))
        ints = np.zeros(0, np.int64)
        return cls(mean, cov, ints, ints, np.zeros(0, bool), np.zeros(0), ints, ints)

    def __len__(self) -> int:
        return len(self.track_id)

    def take(self, index: np.ndarray) -> _Tracks:
        """The rows ``index`` (a boolean mask or positions) as new arrays."""
        return _Tracks(*(getattr(self, f.name)[index] for f in fields(self)))

    def extend(self, other: _Tracks) -> _Tracks:
        """These rows, then ``other``'s."""
        return _Tracks(*(np.concatenate([getattr(self, f.name), getattr(other, f.name)]) for f in fields(self)))


_NO_PAIRS = np.empty((0, 2), np.int64)
_NO_PAIRS.flags.writeable = False


@dataclass(frozen=True)
class _Pairs:
    """One update's track-detection overlaps, for the three rounds of matching."""

    iou: np.ndarray  # (T, N) predicted track boxes x detection boxes
    scores: np.ndarray  # (N,) detection scores
    track_classes: np.ndarray  # (T,)
    det_classes: np.ndarray  # (N,)
    class_aware: bool

    def match(self, track_rows: np.ndarray, det_rows: np.ndarray, thresh: float, *,
              fuse_score: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Assign ``track_rows`` to ``det_rows``: ``(K, 2)`` (track, detection) pairs, then both leftovers."""
        if len(track_rows) == 0 or len(det_rows) == 0:  # often: no low-score boxes, no new tracks
            return _NO_PAIRS, track_rows, det_rows
        similarity = self.iou[np.ix_(track_rows, det_rows)]
        if fuse_score:
            similarity = similarity * self.scores[det_rows]
        cost = 1.0 - similarity
        if self.class_aware:
            cost += CROSS_CLASS_COST * (self.track_classes[track_rows, None] != self.det_classes[None, det_rows])
        pairs, tracks_left, dets_left = linear_assignment(cost, thresh)
        matched = np.stack([track_rows[pairs[:, 0]], det_rows[pairs[:, 1]]], axis=1)
        return matched, track_rows[tracks_left], det_rows[dets_left]


class ByteTracker:
    """ByteTrack over numpy arrays; see the module docstring for the steps.

    Args:
        config: Scores, overlaps and the lost-track buffer; default :class:`TrackerConfig`.

    Example:
        >>> import numpy as np
        >>> tracker = ByteTracker()
        >>> boxes = lambda x: Detections(np.array([[x, 0, x + 20, 40]], np.float32),
        ...                              np.array([0.9], np.float32), np.array([0]), ("cup",))
        >>> [tracker.update(boxes(4.0 * i), timestamp=i / 10).track_ids.tolist() for i in range(3)]
        [[1], [1], [1]]
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.reset()

    def reset(self) -> None:
        """Forget every track; ids start again at 1."""
        self._tracks = _Tracks.empty()
        self._frame = 0
        self._next_id = 1

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Add one frame's detections (see :meth:`edgeinfer.tracking.Tracker.update`).

        Args:
            detections: The frame's detections, in frame pixels.
            timestamp: The frame's time, seconds (any increasing clock).

        Returns:
            The detections of confirmed tracks with their ``track_ids``, best score first.
        """
        cfg = self.config
        self._frame += 1
        tracks = self._forget_expired(timestamp)
        tracks.mean[tracks.lost, 7] = 0.0
        tracks.mean, tracks.cov = kalman.predict(tracks.mean, tracks.cov)
        scores = detections.scores
        high = np.flatnonzero(scores >= cfg.high_score)
        low = np.flatnonzero((scores >= cfg.low_score) & (scores < cfg.high_score))
        pairs = _Pairs(iou_matrix(kalman.to_xyxy(tracks.mean), detections.boxes_xyxy), scores, tracks.class_id,
                       detections.class_ids, cfg.class_aware)

        confirmed = np.flatnonzero(tracks.track_id > 0)
        first, confirmed_left, high_left = pairs.match(confirmed, high, 1.0 - cfg.match_iou, fuse_score=True)
        followed_left = confirmed_left[~tracks.lost[confirmed_left]]
        second, newly_lost, _ = pairs.match(followed_left, low, 1.0 - cfg.low_match_iou, fuse_score=False)
        unconfirmed = np.flatnonzero(tracks.track_id == 0)
        third, unconfirmed_left, high_left = pairs.match(unconfirmed, high_left, UNCONFIRMED_MATCH_COST,
                                                         fuse_score=True)
        matches = np.concatenate([first, second, third])
        self._correct(tracks, matches, detections, timestamp)
        tracks.lost[newly_lost] = True
        tracks.track_id[third[:, 0]] = self._new_ids(len(third))
        keep = np.ones(len(tracks), bool)
        keep[unconfirmed_left] = False
        det_of_track = np.full(len(tracks), -1, np.int64)
        det_of_track[matches[:, 0]] = matches[:, 1]

        born = high_left[scores[high_left] >= cfg.new_track_score]
        newborn = self._start(born, detections, timestamp)
        tracks = tracks.extend(newborn)
        keep = np.concatenate([keep, np.ones(len(born), bool)])
        det_of_track = np.concatenate([det_of_track, born])
        keep &= ~self._duplicates(tracks, keep)
        self._tracks = tracks.take(keep)
        shown = keep & (det_of_track >= 0) & (tracks.track_id > 0)
        return _tracked(detections, det_of_track[shown], tracks.track_id[shown])

    def _forget_expired(self, timestamp: float) -> _Tracks:
        tracks = self._tracks
        expired = tracks.lost & (timestamp - tracks.last_seen > self.config.track_buffer_s)
        return tracks.take(~expired) if expired.any() else tracks

    def _correct(self, tracks: _Tracks, matches: np.ndarray, detections: Detections, timestamp: float) -> None:
        """Kalman-correct the matched tracks with their boxes; they are followed again."""
        rows, dets = matches[:, 0], matches[:, 1]
        if len(rows) == 0:
            return
        tracks.mean[rows], tracks.cov[rows] = kalman.update(tracks.mean[rows], tracks.cov[rows],
                                                            detections.boxes_xyxy[dets])
        tracks.class_id[rows] = detections.class_ids[dets]
        tracks.lost[rows] = False
        tracks.last_seen[rows] = timestamp
        tracks.last_frame[rows] = self._frame

    def _new_ids(self, n: int) -> np.ndarray:
        ids = np.arange(self._next_id, self._next_id + n, dtype=np.int64)
        self._next_id += n
        return ids

    def _start(self, dets: np.ndarray, detections: Detections, timestamp: float) -> _Tracks:
        """New tracks for detections ``dets``; confirmed at once on the tracker's first update."""
        mean, cov = kalman.initiate(detections.boxes_xyxy[dets])
        n = len(dets)
        ids = self._new_ids(n) if self._frame == 1 else np.zeros(n, np.int64)
        frames = np.full(n, self._frame, np.int64)
        return _Tracks(mean, cov, ids, detections.class_ids[dets].astype(np.int64), np.zeros(n, bool),
                       np.full(n, timestamp, np.float64), frames, frames.copy())

    def _duplicates(self, tracks: _Tracks, keep: np.ndarray) -> np.ndarray:
        """Mask of tracks to drop: of a followed and a lost track in one place, the younger (ties: the followed)."""
        drop = np.zeros(len(tracks), bool)
        followed, lost = np.flatnonzero(keep & ~tracks.lost), np.flatnonzero(keep & tracks.lost)
        if len(followed) == 0 or len(lost) == 0:
            return drop
        boxes = kalman.to_xyxy(tracks.mean)
        same = iou_matrix(boxes[followed], boxes[lost]) > DUPLICATE_IOU
        if self.config.class_aware:
            same &= tracks.class_id[followed, None] == tracks.class_id[None, lost]
        p, q = np.nonzero(same)
        if len(p) == 0:
            return drop
        age = tracks.last_frame - tracks.first_frame
        p, q = followed[p], lost[q]
        lost_older = age[p] <= age[q]
        drop[p[lost_older]] = True
        drop[q[~lost_older]] = True
        return drop


def _tracked(detections: Detections, dets: np.ndarray, track_ids: np.ndarray) -> Detections:
    """The detections ``dets`` with their track ids, best score first."""
    order = np.argsort(-detections.scores[dets], kind="stable")
    dets, track_ids = dets[order], track_ids[order]
    return detections.take(dets, track_ids=track_ids)
