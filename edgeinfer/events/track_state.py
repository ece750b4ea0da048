"""Per-track state of the event engine, held in arrays indexed by slot.

Every frame :class:`~edgeinfer.events.engine.EventEngine` updates all tracked boxes at once
(last seen, frames, best score, label votes, decimated path); Python objects
(:class:`TrackInfo`) exist only for what changes rarely: the snapshot candidate, the
crossings and the open event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Candidate", "TrackInfo", "TrackTable"]


@dataclass
class Candidate:
    """The frame and box of a track's best score so far (encoded only when written)."""

    image: np.ndarray
    box_xyxy: np.ndarray
    score: float
    timestamp: float


@dataclass
class TrackInfo:
    """What a track holds besides its arrays: snapshot candidate, crossings, the open event."""

    candidate: Candidate | None = None
    crossings: list[dict[str, Any]] = field(default_factory=list)
    event_id: str | None = None
    snapshot: dict[str, Any] | None = None
    snapshot_score: float = -1.0
    clip: str | None = None
    last_message_t: float = 0.0


class TrackTable:
    """Arrays of per-track state, one row (slot) per live track; slots are reused.

    Args:
        path_points: Most points kept in a track's path (first and last always kept).
        capacity: Initial number of slots (doubles when full).
    """

    def __init__(self, path_points: int, capacity: int = 64) -> None:
        self.path_cap = max(2, path_points - 1)  # stored points; the latest point is added on output
        self.track_id = np.full(capacity, -1, np.int64)
        self.first_seen = np.zeros(capacity)
        self.last_seen = np.zeros(capacity)
        self.frames = np.zeros(capacity, np.int64)
        self.passing = np.zeros(capacity, np.int64)
        self.best_score = np.zeros(capacity)
        self.best_class = np.zeros(capacity, np.int64)
        self.box = np.zeros((capacity, 4))
        self.anchor = np.zeros((capacity, 2))
        self.votes = np.zeros((capacity, 1), np.int32)
        self.path = np.zeros((capacity, self.path_cap, 3))
        self.path_n = np.zeros(capacity, np.int64)
        self.path_stride = np.ones(capacity, np.int64)
        self.has_event = np.zeros(capacity, bool)
        self.info: dict[int, TrackInfo] = {}
        self._free = list(range(capacity - 1, -1, -1))
        self._sorted_ids = np.zeros(0, np.int64)
        self._sorted_slots = np.zeros(0, np.intp)
        self._dirty = False

    @property
    def capacity(self) -> int:
        """Number of slots."""
        return len(self.track_id)

    def active_slots(self) -> np.ndarray:
        """Slots that hold a live track."""
        return np.flatnonzero(self.track_id >= 0)

    def lookup(self, track_ids: np.ndarray) -> np.ndarray:
        """The slot of each track id, ``-1`` where the id has no slot yet."""
        if self._dirty:
            live = self.active_slots()
            order = np.argsort(self.track_id[live], kind="stable")
            self._sorted_slots, self._sorted_ids = live[order], self.track_id[live][order]
            self._dirty = False
        if not len(self._sorted_ids):
            return np.full(len(track_ids), -1, np.intp)
        pos = np.minimum(np.searchsorted(self._sorted_ids, track_ids), len(self._sorted_ids) - 1)
        return np.where(self._sorted_ids[pos] == track_ids, self._sorted_slots[pos], -1)

    def allocate(self, track_id: int, timestamp: float) -> int:
        """Give a slot to a new track."""
        if not self._free:
            self._grow()
        slot = self._free.pop()
        self.track_id[slot] = track_id
        self.first_seen[slot] = self.last_seen[slot] = timestamp
        self.frames[slot] = self.passing[slot] = self.path_n[slot] = 0
        self.best_score[slot] = -1.0
        self.votes[slot] = 0
        self.path_stride[slot] = 1
        self.has_event[slot] = False
        self.info[slot] = TrackInfo()
        self._dirty = True
        return slot

    def free(self, slot: int) -> None:
        """Release the slot of an ended track."""
        self.track_id[slot] = -1
        self.info.pop(slot, None)
        self._free.append(slot)
        self._dirty = True

    def _grow(self) -> None:
        old = self.capacity
        for name, value in list(vars(self).items()):
            if isinstance(value, np.ndarray) and value.shape[:1] == (old,) and not name.startswith("_"):
                pad = np.zeros((old, *value.shape[1:]), value.dtype)
                setattr(self, name, np.concatenate([value, pad]))
        self.track_id[old:] = -1
        self.path_stride[old:] = 1
        self._free.extend(range(2 * old - 1, old - 1, -1))

    def observe(self, slots: np.ndarray, timestamp: float, boxes: np.ndarray, scores: np.ndarray, *,
                class_ids: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Record one frame of the tracks in ``slots``; return the rows whose best score rose.

        Args:
            slots: ``(N,)`` distinct slots.
            timestamp: The frame's time in seconds.
            boxes: ``(N, 4)`` float64 boxes in pixels.
            scores: ``(N,)`` scores.
            class_ids: ``(N,)`` int64 class ids (each must be < the votes' width; see :meth:`widen_votes`).
            anchors: ``(N, 2)`` the path's anchor of each box.

        Returns:
            Row indices (into ``slots``) of a new best score.
        """
        self.last_seen[slots] = timestamp
        self.frames[slots] += 1
        self.box[slots] = boxes
        self.anchor[slots] = anchors
        self.votes[slots, class_ids] += 1
        better = np.flatnonzero(scores > self.best_score[slots])
        self.best_score[slots[better]] = scores[better]
        self.best_class[slots[better]] = class_ids[better]
        take = (self.frames[slots] - 1) % self.path_stride[slots] == 0
        s = slots[take]
        n = self.path_n[s]
        self.path[s, n, 0] = timestamp
        self.path[s, n, 1:] = anchors[take]
        self.path_n[s] = n + 1
        for slot in s[n + 1 >= self.path_cap].tolist():
            kept = self.path[slot, 0:self.path_cap:2].copy()  # drop every other point, keep the first
            self.path[slot, :len(kept)] = kept
            self.path_n[slot] = len(kept)
            self.path_stride[slot] *= 2
        return better

    def widen_votes(self, num_classes: int) -> None:
        """Make the label votes hold class ids below ``num_classes``."""
        extra = num_classes - self.votes.shape[1]
        if extra > 0:
            self.votes = np.concatenate([self.votes, np.zeros((self.capacity, extra), np.int32)], axis=1)

    def label_class(self, slot: int) -> int:
        """The track's class: the one seen most often, ties going to the best-scoring detection's."""
        votes = self.votes[slot]
        best = int(self.best_class[slot])
        return best if votes[best] == votes.max() else int(np.argmax(votes))

    def path_of(self, slot: int, decimals: int) -> list[list[float]]:
        """The decimated path ``[[t, x, y], ...]``, the latest position last."""
        points = self.path[slot, :self.path_n[slot]].tolist()
        if not points or points[-1][0] != self.last_seen[slot]:
            points.append([float(self.last_seen[slot]), *self.anchor[slot].tolist()])
        return [[round(v, decimals) for v in p] for p in points]
