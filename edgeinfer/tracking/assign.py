"""Box overlap and linear assignment for the trackers (:mod:`edgeinfer.tracking.bytetrack`).

``iou_matrix`` is plain numpy. ``linear_assignment`` solves the rectangular assignment
problem in which a pair may also stay unmatched: a row and a column left apart cost
``thresh`` together, so no pair dearer than ``thresh`` is ever chosen. It uses
``lap.lapjv`` (extra ``track``) and falls back to ``scipy.optimize.linear_sum_assignment``
on the same extended matrix that lapjv builds, so both give the same matches.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.errors import MissingDependencyError

__all__ = ["iou_matrix", "linear_assignment"]


def iou_matrix(a_xyxy: np.ndarray, b_xyxy: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Args:
        a_xyxy: ``(N, 4)`` boxes ``x1, y1, x2, y2``.
        b_xyxy: ``(M, 4)`` boxes ``x1, y1, x2, y2``.

    Returns:
        ``(N, M)`` float64 IoU in 0..1 (0 where a box has no area).
    """
    a = np.asarray(a_xyxy, np.float64)
    b = np.asarray(b_xyxy, np.float64)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    inter = np.clip(wh, 0.0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match rows to columns at least total cost, never through a pair dearer than ``thresh``.

    Args:
        cost: ``(N, M)`` float costs (ByteTrack: ``1 - IoU``, or ``1 - IoU * score``).
        thresh: Highest cost of a matched pair.

    Returns:
        ``(K, 2)`` int64 ``(row, column)`` matches, then the unmatched rows and the
        unmatched columns, each ascending ``(N - K,)`` / ``(M - K,)`` int64.

    Raises:
        MissingDependencyError: neither ``lap`` nor ``scipy`` is installed.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return np.empty((0, 2), np.int64), np.arange(n, dtype=np.int64), np.arange(m, dtype=np.int64)
    try:
        import lap
    except ImportError:
        row_to_col = _scipy_assign(cost, thresh)
    else:
        _, row_to_col, _ = lap.lapjv(np.ascontiguousarray(cost, np.float64), extend_cost=True, cost_limit=thresh)
    row_to_col = np.asarray(row_to_col, np.int64)
    rows = np.flatnonzero(row_to_col >= 0)
    cols = row_to_col[rows]
    keep = cost[rows, cols] <= thresh
    rows, cols = rows[keep], cols[keep]
    row_free = np.ones(n, bool)
    row_free[rows] = False
    col_free = np.ones(m, bool)
    col_free[cols] = False
    return np.stack([rows, cols], axis=1), np.flatnonzero(row_free), np.flatnonzero(col_free)


def _scipy_assign(cost: np.ndarray, thresh: float) -> np.ndarray:
    """Row -> column (-1: unmatched) from scipy, on the matrix ``lapjv(extend_cost, cost_limit)`` solves.

    Thresholding a plain ``linear_sum_assignment`` afterwards is not the same problem: it
    must match every row it can, so it may pick two fair pairs over one good pair and then
    drop both. The extension lets a row and a column stay apart for ``thresh / 2`` each.
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as exc:
        raise MissingDependencyError("lap", "track", "tracking with bytetrack") from exc
    n, m = cost.shape
    extended = np.full((n + m, n + m), thresh / 2.0)
    extended[n:, m:] = 0.0
    extended[:n, :m] = cost
    rows, cols = linear_sum_assignment(extended)
    row_to_col = np.full(n, -1, np.int64)
    real = (rows < n) & (cols < m)
    row_to_col[rows[real]] = cols[real]
    return row_to_col
