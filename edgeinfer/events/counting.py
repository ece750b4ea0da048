"""Zone and line counters: per-track membership with hysteresis, and the counts messages.

Part of :class:`~edgeinfer.events.engine.EventEngine`: every frame it hands the located
anchors (:class:`~edgeinfer.events.zones.ZoneHits`) of the tracked boxes to
:meth:`ZoneCounter.update`, which works on whole arrays and reports only the transitions.

A zone counts a track as inside from the frame its anchor is inside (a track first seen
inside counts as entered); it counts it as left once the anchor is outside by the
hysteresis margin, or when the track ends. A line counts a crossing when the anchor moves
from one side (by the margin) to the other (by the margin) and the segment between the two
positions meets the line: jitter on the line counts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from edgeinfer.events.geometry import segments_intersect
from edgeinfer.events.zones import ZoneHits

__all__ = ["Transitions", "ZoneCounter"]

TIME_DECIMALS = 3
POINT_DECIMALS = 1


class Transitions(NamedTuple):
    """What changed in one frame, one row per box.

    Attributes:
        entered: ``(N, Z)`` bool, box n's track entered zone z.
        left: ``(N, Z)`` bool, it left zone z.
        crossed: ``(N, L)`` int8, +1 crossed line l ``in``, -1 ``out``, 0 not crossed.
    """

    entered: np.ndarray
    left: np.ndarray
    crossed: np.ndarray

    def changed_rows(self) -> np.ndarray:
        """Indices of the boxes whose track entered or left a zone or crossed a line."""
        return np.flatnonzero(self.entered.any(axis=1) | self.left.any(axis=1) | self.crossed.any(axis=1))


class ZoneCounter:
    """Per-slot zone membership and line sides, and the counts of every zone and line.

    Args:
        zone_names: Names of the zones, in the ZoneSet's order.
        line_names: Names of the lines, in the ZoneSet's order.
        lines_px: ``(L, 2, 2)`` the lines' end points in pixels.
        stream: The stream's name (goes into the counts messages).
        capacity: Initial number of track slots (grows as needed).
    """

    def __init__(self, zone_names: Sequence[str], line_names: Sequence[str], lines_px: np.ndarray, *,
                 stream: str, capacity: int = 64) -> None:
        self.zone_names, self.line_names, self.stream = tuple(zone_names), tuple(line_names), stream
        self.lines_px = lines_px
        z, n_lines = len(self.zone_names), len(self.line_names)
        self.inside = np.zeros((capacity, z), bool)
        self.ever = np.zeros((capacity, z), bool)
        self.side = np.zeros((capacity, n_lines), np.int8)
        self.ref = np.zeros((capacity, n_lines, 2), np.float64)
        self.fresh = np.ones(capacity, bool)
        self._entry_label: dict[tuple[int, int], str] = {}
        self._zone = {name: [0, 0, 0] for name in self.zone_names}  # inside, entered, left
        self._zone_by_label: dict[str, dict[str, list[int]]] = {name: {} for name in self.zone_names}
        self._line = {name: [0, 0] for name in self.line_names}  # in, out
        self._line_by_label: dict[str, dict[str, list[int]]] = {name: {} for name in self.line_names}
        self._changed_at = dict.fromkeys((*self.zone_names, *self.line_names), 0.0)
        self._geometry: dict[str, list[list[float]]] = {}

    def set_geometry(self, polygons_px: Sequence[np.ndarray], lines_px: np.ndarray) -> None:
        """The bound pixel coordinates that go into the messages (``polygon`` of a zone, ``points`` of a line).

        Args:
            polygons_px: One ``(P, 2)`` array per zone, in :attr:`zone_names` order.
            lines_px: ``(L, 2, 2)`` the lines' end points, in :attr:`line_names` order.
        """
        self.lines_px = lines_px
        shapes = [*polygons_px, *lines_px]
        self._geometry = {name: [[round(float(x), POINT_DECIMALS), round(float(y), POINT_DECIMALS)]
                                 for x, y in np.asarray(points, np.float64).tolist()]
                          for name, points in zip((*self.zone_names, *self.line_names), shapes, strict=True)}

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` slots, keeping the state of the existing ones."""
        extra = capacity - len(self.fresh)
        if extra <= 0:
            return
        self.inside = np.concatenate([self.inside, np.zeros((extra, self.inside.shape[1]), bool)])
        self.ever = np.concatenate([self.ever, np.zeros((extra, self.ever.shape[1]), bool)])
        self.side = np.concatenate([self.side, np.zeros((extra, self.side.shape[1]), np.int8)])
        self.ref = np.concatenate([self.ref, np.zeros((extra, *self.ref.shape[1:]), np.float64)])
        self.fresh = np.concatenate([self.fresh, np.ones(extra, bool)])

    def reset(self, slot: int) -> None:
        """Forget a slot's state (it is being given to a new track)."""
        self.inside[slot] = False
        self.ever[slot] = False
        self.side[slot] = 0
        self.fresh[slot] = True

    def update(self, slots: np.ndarray, hits: ZoneHits, zone_ok: np.ndarray, line_ok: np.ndarray,
               hysteresis_px: float) -> Transitions:
        """Move the tracks of one frame's boxes; return the transitions (counts not yet applied).

        Args:
            slots: ``(N,)`` the boxes' track slots.
            hits: Where the boxes' anchors are.
            zone_ok: ``(N, Z)`` bool, the track's label and score count for the zone.
            line_ok: ``(N, L)`` bool, likewise for the line.
            hysteresis_px: How far past a border an anchor must be to change sides.

        Returns:
            The frame's :class:`Transitions`; pass them to :meth:`apply`.
        """
        state = self.inside[slots]
        fresh = self.fresh[slots][:, None]
        far = hits.border_px >= hysteresis_px
        stays = ~(~hits.inside & far) & zone_ok
        comes = hits.inside & zone_ok & (far | fresh)
        new_state = np.where(state, stays, comes)
        self.inside[slots] = new_state
        self.fresh[slots] = False
        d = hits.line_px
        side_now = (d >= hysteresis_px).astype(np.int8) - (d <= -hysteresis_px).astype(np.int8)
        prev = self.side[slots]
        crossed = np.zeros_like(side_now)
        rows, cols = np.nonzero((prev != 0) & (side_now != 0) & (side_now != prev) & line_ok)
        if len(rows):
            start, end = self.ref[slots[rows], cols], hits.line_points[rows, cols]
            met = segments_intersect(start, end, self.lines_px[cols, 0], self.lines_px[cols, 1])
            crossed[rows[met], cols[met]] = side_now[rows[met], cols[met]]
        settled = side_now != 0
        self.side[slots] = np.where(settled, side_now, prev)
        self.ref[slots] = np.where(settled[..., None], hits.line_points, self.ref[slots])
        return Transitions(new_state & ~state, state & ~new_state, crossed)

    def apply(self, slot: int, row: int, transitions: Transitions, label: str, timestamp: float) -> list[str]:
        """Count one box's transitions under ``label``; return the names whose counts changed."""
        changed = []
        for z in np.flatnonzero(transitions.entered[row]).tolist():
            self.ever[slot, z] = True
            self._count_zone(z, label, entered=True)
            self._entry_label[(slot, z)] = label
            changed.append(self.zone_names[z])
        for z in np.flatnonzero(transitions.left[row]).tolist():
            self._count_zone(z, self._entry_label.pop((slot, z), label), entered=False)
            changed.append(self.zone_names[z])
        for li in np.flatnonzero(transitions.crossed[row]).tolist():
            name = self.line_names[li]
            which = 0 if transitions.crossed[row, li] > 0 else 1
            self._line[name][which] += 1
            self._line_by_label[name].setdefault(label, [0, 0])[which] += 1
            changed.append(name)
        for name in changed:
            self._changed_at[name] = timestamp
        return changed

    def release(self, slot: int, timestamp: float) -> list[str]:
        """A track ended: it leaves every zone it was in; return those zones' names."""
        changed = []
        for z in np.flatnonzero(self.inside[slot]).tolist():
            self._count_zone(z, self._entry_label.pop((slot, z), ""), entered=False)
            changed.append(self.zone_names[z])
            self._changed_at[self.zone_names[z]] = timestamp
        self.reset(slot)
        return changed

    def _count_zone(self, z: int, label: str, *, entered: bool) -> None:
        name = self.zone_names[z]
        totals, by_label = self._zone[name], self._zone_by_label[name].setdefault(label, [0, 0, 0])
        for counts in (totals, by_label):
            counts[0] += 1 if entered else -1
            counts[1 if entered else 2] += 1

    def zones_of(self, slot: int) -> tuple[list[str], list[str]]:
        """``(inside now, ever entered)`` zone names of a slot."""
        now = [self.zone_names[z] for z in np.flatnonzero(self.inside[slot]).tolist()]
        ever = [self.zone_names[z] for z in np.flatnonzero(self.ever[slot]).tolist()]
        return now, ever

    def message(self, name: str) -> dict[str, Any]:
        """The counts message of one zone or line (the retained ``.../zones/<name>`` payload).

        A zone's carries its ``polygon`` and a line's its ``points`` in frame pixels, so a viewer can draw them.
        """
        stamp = round(self._changed_at[name], TIME_DECIMALS)
        if name in self._zone:
            inside, entered, left = self._zone[name]
            by_label = {k: {"inside": v[0], "entered": v[1], "left": v[2]}
                        for k, v in sorted(self._zone_by_label[name].items())}
            return {"kind": "zone", "name": name, "stream": self.stream, "timestamp": stamp,
                    "polygon": self._geometry.get(name, []), "inside": inside, "entered": entered, "left": left,
                    "by_label": by_label}
        n_in, n_out = self._line[name]
        line_by_label = {k: {"in": v[0], "out": v[1]} for k, v in sorted(self._line_by_label[name].items())}
        return {"kind": "line", "name": name, "stream": self.stream, "timestamp": stamp,
                "points": self._geometry.get(name, []), "in": n_in, "out": n_out, "by_label": line_by_label}
