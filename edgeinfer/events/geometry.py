"""Plane geometry for zones and lines, vectorised with numpy (image coordinates, y down).

Used by :mod:`edgeinfer.events.zones` at config time (self-intersection) and every frame
(point in polygon, distance to the border, side of a line) for all anchors at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "ANCHORS", "anchor_points", "cross", "point_segment_distance", "points_in_edges", "polygon_area",
    "polygon_self_intersects", "segments_intersect",
]

# The point of a box that stands for the object: "bottom_center" is where it touches the ground.
ANCHORS = ("bottom_center", "center", "top_center", "left_center", "right_center")


def anchor_points(boxes_xyxy: np.ndarray) -> np.ndarray:
    """Every anchor of every box.

    Args:
        boxes_xyxy: ``(N, 4)`` float boxes ``x1, y1, x2, y2`` in pixels.

    Returns:
        ``(len(ANCHORS), N, 2)`` float64 ``x, y`` points, in the order of :data:`ANCHORS`.
    """
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) * 0.5, (b[:, 1] + b[:, 3]) * 0.5
    xs = np.stack([cx, cx, cx, b[:, 0], b[:, 2]])
    ys = np.stack([b[:, 3], cy, b[:, 1], cy, cy])
    return np.stack([xs, ys], axis=-1)


def cross(ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray) -> np.ndarray:
    """The z of the cross product ``a x b`` (positive: b is clockwise of a on screen, y down)."""
    return ax * by - ay * bx


def segments_intersect(p1: np.ndarray, p2: np.ndarray, q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Whether segments ``p1-p2`` and ``q1-q2`` meet (touching counts), broadcasting over leading axes.

    Args:
        p1, p2, q1, q2: ``(..., 2)`` float end points.

    Returns:
        ``(...)`` bool.
    """
    d1, d2 = p2 - p1, q2 - q1
    o1 = cross(d1[..., 0], d1[..., 1], q1[..., 0] - p1[..., 0], q1[..., 1] - p1[..., 1])
    o2 = cross(d1[..., 0], d1[..., 1], q2[..., 0] - p1[..., 0], q2[..., 1] - p1[..., 1])
    o3 = cross(d2[..., 0], d2[..., 1], p1[..., 0] - q1[..., 0], p1[..., 1] - q1[..., 1])
    o4 = cross(d2[..., 0], d2[..., 1], p2[..., 0] - q1[..., 0], p2[..., 1] - q1[..., 1])
    # The bounding boxes must overlap too: that rules out collinear segments that do not touch.
    boxes = ((np.minimum(p1, p2) <= np.maximum(q1, q2)) & (np.minimum(q1, q2) <= np.maximum(p1, p2))).all(axis=-1)
    return (o1 * o2 <= 0) & (o3 * o4 <= 0) & boxes


def polygon_self_intersects(points: Sequence[Sequence[float]]) -> tuple[int, int] | None:
    """The first pair of non-adjacent edges that meet, or ``None`` for a simple polygon.

    Args:
        points: ``n >= 3`` vertices ``(x, y)``; the polygon is closed from the last to the first.

    Returns:
        ``(i, j)``: edge ``i`` (from point ``i`` to ``i + 1``) meets edge ``j``, or ``None``.
    """
    p = np.asarray(points, dtype=np.float64)
    n = len(p)
    q = np.roll(p, -1, axis=0)
    i, j = np.triu_indices(n, k=2)
    keep = ~((i == 0) & (j == n - 1))  # the first and last edges share point 0
    i, j = i[keep], j[keep]
    hit = segments_intersect(p[i], q[i], p[j], q[j])
    if not hit.any():
        return None
    k = int(np.argmax(hit))
    return int(i[k]), int(j[k])


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    """Absolute area of a simple polygon (shoelace formula)."""
    p = np.asarray(points, dtype=np.float64)
    q = np.roll(p, -1, axis=0)
    return float(abs(cross(p[:, 0], p[:, 1], q[:, 0], q[:, 1]).sum()) / 2)


def points_in_edges(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ray-casting crossings of each point with each edge (sum them per polygon, odd = inside).

    Args:
        px, py: ``(N, E)`` point coordinates, one column per edge (points may differ per edge
            when polygons use different anchors).
        a, b: ``(E, 2)`` edge end points.

    Returns:
        ``(N, E)`` bool: the horizontal ray from the point to +x crosses the edge.
    """
    ay, by = a[:, 1], b[:, 1]
    straddles = (ay > py) != (by > py)
    dy = np.where(by == ay, 1.0, by - ay)
    x_at = a[:, 0] + (py - ay) * (b[:, 0] - a[:, 0]) / dy
    return straddles & (px < x_at)


def point_segment_distance(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point to each segment.

    Args:
        px, py: ``(N, E)`` point coordinates, one column per segment.
        a, b: ``(E, 2)`` segment end points.

    Returns:
        ``(N, E)`` float64 distances in the points' units.
    """
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    length2 = np.maximum(dx * dx + dy * dy, 1e-12)
    t = np.clip(((px - a[:, 0]) * dx + (py - a[:, 1]) * dy) / length2, 0.0, 1.0)
    return np.hypot(px - (a[:, 0] + t * dx), py - (a[:, 1] + t * dy))
