"""Zones (polygons) and lines of a stream: their config, binding to a frame, and locating anchors.

Sits after the tracker: :class:`~edgeinfer.events.engine.EventEngine` asks a :class:`ZoneSet`
every frame where each tracked box's anchor is (inside which zones, on which side of which
line), for all boxes at once.

Coordinates (``coords`` on each zone and line): ``normalized`` values are fractions of the
frame's width and height, ``pixels`` are frame pixels, and ``auto`` (the default) reads all
values in 0..1 as normalised, anything else as pixels.

A line is directed, from ``points[0]`` (A) to ``points[1]`` (B). Crossing it ``in`` means
going from the left of A->B to its right as seen on the screen (image coordinates, y down):
for a line drawn left to right, ``in`` is moving down the picture. ``out`` is the other way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeinfer.card_schema import validation_message
from edgeinfer.errors import ConfigError
from edgeinfer.events.geometry import (
    ANCHORS,
    anchor_points,
    point_segment_distance,
    points_in_edges,
    polygon_area,
    polygon_self_intersects,
)

__all__ = ["Anchor", "LineConfig", "ZoneConfig", "ZoneHits", "ZoneSet", "ZonesFile", "load_zones", "parse_zones"]

Anchor = Literal["bottom_center", "center", "top_center", "left_center", "right_center"]
Coords = Literal["auto", "normalized", "pixels"]
BORDER_TOLERANCE_PX = 1.0
# Jitter margin: an anchor changes zone or side only once it is this far past the border.
HYSTERESIS_FRACTION = 0.01  # of the frame's diagonal
MIN_HYSTERESIS_PX = 2.0


def _resolve_coords(coords: Coords, points: Sequence[tuple[float, float]]) -> Literal["normalized", "pixels"]:
    if coords != "auto":
        return coords
    return "normalized" if all(0.0 <= v <= 1.0 for p in points for v in p) else "pixels"


def _check_range(coords: Coords, points: Sequence[tuple[float, float]], key: str) -> None:
    """Points of normalised coordinates lie in 0..1, pixels are not negative."""
    mode = _resolve_coords(coords, points)
    low, high = (0.0, 1.0) if mode == "normalized" else (-BORDER_TOLERANCE_PX, math.inf)
    for i, (x, y) in enumerate(points):
        if not (low <= x <= high and low <= y <= high):
            where = "0..1 (normalized coordinates)" if mode == "normalized" else "the frame (pixels >= 0)"
            raise ValueError(f"{key}[{i}] = ({x}, {y}) is outside {where}; move it inside or set coords")


class ZoneConfig(BaseModel):
    """A polygon zone: who is inside now, how many entered and left."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    polygon: list[tuple[float, float]]
    labels: list[str] | None = None
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    anchor: Anchor = "bottom_center"
    coords: Coords = "auto"

    @field_validator("polygon")
    @classmethod
    def _simple_polygon(cls, polygon: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if len(polygon) < 3:
            raise ValueError(f"a polygon needs at least 3 points [x, y], got {len(polygon)}")
        pair = polygon_self_intersects(polygon)
        if pair is not None:
            i, j = pair
            raise ValueError(f"the polygon crosses itself (edge {i}->{(i + 1) % len(polygon)} meets edge "
                             f"{j}->{(j + 1) % len(polygon)}); list the points in order around the zone")
        if polygon_area(polygon) <= 0.0:
            raise ValueError("the polygon has no area; its points lie on one line")
        return polygon

    @model_validator(mode="after")
    def _in_range(self) -> ZoneConfig:
        _check_range(self.coords, self.polygon, "polygon")
        return self


class LineConfig(BaseModel):
    """A directed counting line from ``points[0]`` (A) to ``points[1]`` (B)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    points: tuple[tuple[float, float], tuple[float, float]]
    labels: list[str] | None = None
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    anchor: Anchor = "bottom_center"
    coords: Coords = "auto"

    @model_validator(mode="after")
    def _valid_line(self) -> LineConfig:
        if self.points[0] == self.points[1]:
            raise ValueError("points: the two end points are the same; a line needs two different points")
        _check_range(self.coords, self.points, "points")
        return self


class ZonesFile(BaseModel):
    """The zones and lines of one stream; names are unique across both (one MQTT topic level)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zones: dict[str, ZoneConfig] = {}
    lines: dict[str, LineConfig] = {}

    @model_validator(mode="after")
    def _unique_names(self) -> ZonesFile:
        both = sorted(set(self.zones) & set(self.lines))
        if both:
            raise ValueError(f"zones.{both[0]} and lines.{both[0]}: a zone and a line share the name {both[0]!r} "
                             "(both publish on .../zones/<name>); rename one")
        return self


def parse_zones(data: Mapping[str, Any] | None, where: str = "zones") -> ZonesFile:
    """Validate zones and lines given as a mapping ``{zones: {...}, lines: {...}}``.

    Raises:
        ConfigError: a key or value is invalid; the message names the key.
    """
    try:
        return ZonesFile.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, where)) from exc


def load_zones(path: str | Path) -> ZonesFile:
    """Read a YAML file of zones and lines.

    Raises:
        ConfigError: the file cannot be read, is not YAML, or a key or value is invalid.
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the zones file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'zones' and/or 'lines', got {type(data).__name__}")
    return parse_zones(data, f"zones file {path}")


class ZoneHits(NamedTuple):
    """Where the anchors of one frame's boxes are.

    Attributes:
        inside: ``(N, Z)`` bool, the zone's anchor of box n is inside zone z.
        border_px: ``(N, Z)`` float64 distance of that anchor to the zone's border.
        line_px: ``(N, L)`` float64 signed distance of the line's anchor to line l (> 0: right of A->B).
        line_points: ``(N, L, 2)`` float64 the line's anchor of each box.
    """

    inside: np.ndarray
    border_px: np.ndarray
    line_px: np.ndarray
    line_points: np.ndarray


def _to_pixels(points: Sequence[tuple[float, float]], coords: Coords, size_wh: tuple[int, int],
               key: str) -> np.ndarray:
    w, h = size_wh
    p = np.asarray(points, dtype=np.float64)
    if _resolve_coords(coords, points) == "normalized":
        return p * np.array([w, h], dtype=np.float64)
    tol = BORDER_TOLERANCE_PX
    for i, (x, y) in enumerate(p.tolist()):
        if not (-tol <= x <= w + tol and -tol <= y <= h + tol):
            raise ConfigError(f"{key}[{i}] = ({x:g}, {y:g}) is outside the {w}x{h} frame; use pixels within "
                              f"0..{w} x 0..{h}, or values in 0..1 for normalised coordinates")
    return p


def _check_labels(labels: list[str] | None, known: Sequence[str] | None, key: str) -> None:
    if labels is None or known is None:
        return
    unknown = [label for label in labels if label not in known]
    if unknown:
        raise ConfigError(f"{key}.labels: unknown label {unknown[0]!r}; the model's labels are: "
                          f"{', '.join(known)}")


class ZoneSet:
    """Zones and lines bound to a frame size, located for all boxes of a frame at once.

    Args:
        zones_file: The validated zones and lines.
        frame_size_wh: ``(width, height)`` of the frames in pixels.
        labels: The model's labels; when given, a zone's or line's unknown label is an error.

    Raises:
        ConfigError: a point is outside the frame or a label is unknown; the message names the
            key (``zones.door.polygon[2]``).
    """

    def __init__(self, zones_file: ZonesFile, frame_size_wh: tuple[int, int], *,
                 labels: Sequence[str] | None = None) -> None:
        self.zones_file = zones_file
        self.size_wh = (int(frame_size_wh[0]), int(frame_size_wh[1]))
        self.model_labels = None if labels is None else tuple(labels)
        self.hysteresis_px = max(MIN_HYSTERESIS_PX, HYSTERESIS_FRACTION * math.hypot(*self.size_wh))
        self.zone_names = tuple(zones_file.zones)
        self.line_names = tuple(zones_file.lines)
        polygons = []
        for name, zone in zones_file.zones.items():
            polygons.append(_to_pixels(zone.polygon, zone.coords, self.size_wh, f"zones.{name}.polygon"))
            _check_labels(zone.labels, self.model_labels, f"zones.{name}")
        self.polygons_px = tuple(polygons)
        lines = []
        for name, line in zones_file.lines.items():
            lines.append(_to_pixels(line.points, line.coords, self.size_wh, f"lines.{name}.points"))
            _check_labels(line.labels, self.model_labels, f"lines.{name}")
        self.lines_px = np.asarray(lines, dtype=np.float64).reshape(-1, 2, 2)
        self._prepare_edges()

    def _prepare_edges(self) -> None:
        """Flatten every zone's edges into arrays, so locating needs no loop over zones."""
        zones = list(self.zones_file.zones.values())
        starts: list[int] = []
        anchor: list[int] = []
        a: list[np.ndarray] = []
        b: list[np.ndarray] = []
        for zone, poly in zip(zones, self.polygons_px, strict=True):
            starts.append(len(a))
            a.extend(poly)
            b.extend(np.roll(poly, -1, axis=0))
            anchor.extend([ANCHORS.index(zone.anchor)] * len(poly))
        self._edge_a = np.asarray(a, dtype=np.float64).reshape(-1, 2)
        self._edge_b = np.asarray(b, dtype=np.float64).reshape(-1, 2)
        self._edge_anchor = np.asarray(anchor, dtype=np.intp)
        self._zone_starts = np.asarray(starts, dtype=np.intp)
        edge_zone = np.repeat(np.arange(len(zones)), [len(p) for p in self.polygons_px]).astype(np.intp)
        self._edge_onehot = (edge_zone[:, None] == np.arange(len(zones))[None, :]).astype(np.int32)
        self._line_anchor = np.asarray([ANCHORS.index(line.anchor) for line in self.zones_file.lines.values()],
                                       dtype=np.intp)
        ab = self.lines_px[:, 1] - self.lines_px[:, 0]
        self._line_dir = ab / np.maximum(np.hypot(ab[:, 0], ab[:, 1]), 1e-12)[:, None]
        self.zone_min_scores = np.array([z.min_score for z in zones], dtype=np.float64)
        self.line_min_scores = np.array([ln.min_score for ln in self.zones_file.lines.values()], dtype=np.float64)

    def rebind(self, frame_size_wh: tuple[int, int]) -> ZoneSet:
        """The same zones and lines bound to another frame size (the camera's resolution changed)."""
        return ZoneSet(self.zones_file, frame_size_wh, labels=self.model_labels)

    def allows(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        """Which zones and which lines count objects of ``label``: ``(Z,)`` and ``(L,)`` bool."""
        zones = [z.labels is None or label in z.labels for z in self.zones_file.zones.values()]
        lines = [ln.labels is None or label in ln.labels for ln in self.zones_file.lines.values()]
        return np.array(zones, dtype=bool), np.array(lines, dtype=bool)

    def locate(self, boxes_xyxy: np.ndarray) -> ZoneHits:
        """Where each box's anchor is, for every zone and line at once.

        Args:
            boxes_xyxy: ``(N, 4)`` boxes in frame pixels.

        Returns:
            The :class:`ZoneHits` of the boxes.
        """
        anchors = anchor_points(boxes_xyxy)  # (K, N, 2)
        n = anchors.shape[1]
        if len(self.zone_names):
            points = anchors[self._edge_anchor]  # (E, N, 2)
            px, py = points[..., 0].T, points[..., 1].T
            crossings = points_in_edges(px, py, self._edge_a, self._edge_b).astype(np.int32) @ self._edge_onehot
            inside = (crossings & 1).astype(bool)
            distance = point_segment_distance(px, py, self._edge_a, self._edge_b)
            border = (np.minimum.reduceat(distance, self._zone_starts, axis=1) if n
                      else np.zeros((0, len(self.zone_names))))
        else:
            inside, border = np.zeros((n, 0), bool), np.zeros((n, 0))
        line_points = anchors[self._line_anchor].transpose(1, 0, 2)  # (N, L, 2)
        rel = line_points - self.lines_px[:, 0]
        line_px = self._line_dir[:, 0] * rel[..., 1] - self._line_dir[:, 1] * rel[..., 0]
        return ZoneHits(inside, border, line_px, line_points)
