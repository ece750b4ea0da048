"""Drawing zones and lines (with their counts) onto frames, for the live view and ``predict --save``.

A zone or line is drawn from its counts message (see :mod:`edgeinfer.events`), which carries
its geometry in frame pixels: ``{"kind": "zone", "name", "polygon": [[x, y], ...], "inside",
"entered", "left"}`` or ``{"kind": "line", "name", "points": [[x1, y1], [x2, y2]], "in", "out"}``.
Zones are outlined and lightly filled, lines drawn with an arrow from A to B and the
direction ``in`` counts (from A->B's left to its right); each gets a tab with its name and counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from edgeinfer.images import import_cv2

__all__ = ["ZONE_ALPHA", "draw_regions", "region_label"]

ZONE_ALPHA = 0.18
_ZONE_BGR = (0, 200, 255)
_LINE_BGR = (255, 0, 255)
_BLACK = (0, 0, 0)


def region_label(counts: Mapping[str, Any]) -> str:
    """The tab text of a zone (``door: 2 in zone, 5 entered, 3 left``) or a line (``gate: 4 in, 1 out``)."""
    name = counts.get("name", "?")
    if counts.get("kind") == "line":
        return f"{name}: {counts.get('in', 0)} in, {counts.get('out', 0)} out"
    inside, entered, left = (counts.get(k, 0) for k in ("inside", "entered", "left"))
    return f"{name}: {inside} in zone, {entered} entered, {left} left"


def draw_regions(frame: np.ndarray, regions: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Return a copy of ``frame`` with each zone and line of ``regions`` drawn with its counts.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR image; left unchanged.
        regions: Counts messages carrying ``polygon`` (zones) or ``points`` (lines) in pixels;
            messages without geometry are skipped.

    Returns:
        The annotated copy.
    """
    cv2 = import_cv2("drawing zones")
    canvas = frame.copy()
    regions = list(regions)
    scale = max(0.4, min(canvas.shape[:2]) / 720.0)
    thickness = max(1, round(2 * scale))
    fill = canvas.copy()
    for region in regions:
        polygon = region.get("polygon")
        if region.get("kind") != "line" and polygon:
            pts = np.round(np.asarray(polygon, np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.fillPoly(fill, [pts], _ZONE_BGR)
    cv2.addWeighted(fill, ZONE_ALPHA, canvas, 1.0 - ZONE_ALPHA, 0.0, dst=canvas)
    for region in regions:
        if region.get("kind") == "line" and region.get("points"):
            (x1, y1), (x2, y2) = (tuple(round(float(v)) for v in p) for p in region["points"][:2])
            cv2.arrowedLine(canvas, (x1, y1), (x2, y2), _LINE_BGR, thickness, cv2.LINE_AA, tipLength=0.04)
            _tab(cv2, canvas, region_label(region), (min(x1, x2), min(y1, y2)), color=_LINE_BGR, scale=scale)
        elif region.get("polygon"):
            pts = np.round(np.asarray(region["polygon"], np.float64)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [pts], True, _ZONE_BGR, thickness, cv2.LINE_AA)
            top = pts[:, 0, :][np.argmin(pts[:, 0, 1])]
            _tab(cv2, canvas, region_label(region), (int(top[0]), int(top[1])), color=_ZONE_BGR, scale=scale)
    return canvas


def _tab(cv2: Any, canvas: np.ndarray, text: str, origin_xy: tuple[int, int], *, color: tuple[int, int, int],
         scale: float) -> None:
    font_scale, thickness = 0.45 * scale, max(1, round(scale))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    x = int(np.clip(origin_xy[0], 0, max(0, canvas.shape[1] - w - 4)))
    y = int(np.clip(origin_xy[1], h + base + 4, canvas.shape[0]))
    cv2.rectangle(canvas, (x, y - h - base - 4), (x + w + 4, y), color, -1)
    cv2.putText(canvas, text, (x + 2, y - base - 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale, _BLACK, thickness,
                cv2.LINE_AA)
