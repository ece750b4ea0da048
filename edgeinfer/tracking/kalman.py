"""A constant-velocity Kalman filter over every track at once, for :mod:`edgeinfer.tracking.bytetrack`.

The state of a track is ``(cx, cy, a, h, vx, vy, va, vh)``: the box centre, its aspect
ratio ``w / h``, its height, and their velocities per update. The measurement is
``(cx, cy, a, h)``. Noise is as in ByteTrack (and SORT's DeepSORT filter before it):
standard deviations proportional to the box height, ``1/20`` of it for positions and
``1/160`` for velocities, so a large near box may move more pixels than a small far one.

All functions take stacked arrays, ``mean`` ``(T, 8)`` and ``cov`` ``(T, 8, 8)``, and
work on every row in a handful of numpy calls: no per-track filter objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["initiate", "predict", "to_xyxy", "to_xyah", "update"]

STD_WEIGHT_POSITION = 1.0 / 20
STD_WEIGHT_VELOCITY = 1.0 / 160
_MEASURED = 4
_DIAGONAL = np.arange(2 * _MEASURED)
# x' = F x with dt = 1: each position gains its velocity.
_MOTION = np.eye(2 * _MEASURED) + np.eye(2 * _MEASURED, k=_MEASURED)


def to_xyah(boxes_xyxy: np.ndarray) -> np.ndarray:
    """``(N, 4)`` ``x1, y1, x2, y2`` -> ``(N, 4)`` float64 ``cx, cy, w / h, h``."""
    boxes = np.asarray(boxes_xyxy, np.float64)
    wh = boxes[:, 2:] - boxes[:, :2]
    h = np.maximum(wh[:, 1], 1e-6)  # a zero-height box would divide by zero
    return np.column_stack([boxes[:, :2] + wh / 2, wh[:, 0] / h, h])


def to_xyxy(mean: np.ndarray) -> np.ndarray:
    """``(T, 8)`` states (or ``(T, 4)`` measurements) -> ``(T, 4)`` ``x1, y1, x2, y2`` boxes."""
    h = mean[:, 3]
    half = np.column_stack([mean[:, 2] * h, h]) / 2
    return np.concatenate([mean[:, :2] - half, mean[:, :2] + half], axis=1)


def _scaled_variance(h: np.ndarray, weights: tuple[float, ...]) -> np.ndarray:
    """``(T, k)`` variances: ``(weight * h) ** 2``, with the aspect ratio's weights absolute."""
    w = np.asarray(weights)
    std = np.outer(h, w)
    std[:, 2::_MEASURED] = w[2::_MEASURED]  # the aspect ratio has no unit: not scaled by h
    return np.square(std)


def initiate(boxes_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from measured boxes, at rest, with a wide velocity uncertainty.

    Args:
        boxes_xyxy: ``(N, 4)`` boxes ``x1, y1, x2, y2``.

    Returns:
        ``mean`` ``(N, 8)`` and ``cov`` ``(N, 8, 8)``, float64.
    """
    xyah = to_xyah(boxes_xyxy)
    mean = np.concatenate([xyah, np.zeros_like(xyah)], axis=1)
    p, v = 2 * STD_WEIGHT_POSITION, 10 * STD_WEIGHT_VELOCITY
    variance = _scaled_variance(xyah[:, 3], (p, p, 1e-2, p, v, v, 1e-5, v))
    cov = np.zeros((len(mean), 2 * _MEASURED, 2 * _MEASURED))
    cov[:, _DIAGONAL, _DIAGONAL] = variance
    return mean, cov


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step ahead (dt = 1 update) for every track.

    Args:
        mean: ``(T, 8)`` states.
        cov: ``(T, 8, 8)`` covariances.

    Returns:
        The predicted ``mean`` and ``cov`` (new arrays).
    """
    p, v = STD_WEIGHT_POSITION, STD_WEIGHT_VELOCITY
    variance = _scaled_variance(mean[:, 3], (p, p, 1e-2, p, v, v, 1e-5, v))
    mean = mean @ _MOTION.T
    cov = _MOTION @ cov @ _MOTION.T
    cov[:, _DIAGONAL, _DIAGONAL] += variance
    return mean, cov


def update(mean: np.ndarray, cov: np.ndarray, boxes_xyxy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct every track with its measured box (row ``i`` of the boxes measures track ``i``).

    Args:
        mean: ``(T, 8)`` predicted states.
        cov: ``(T, 8, 8)`` predicted covariances.
        boxes_xyxy: ``(T, 4)`` measured boxes ``x1, y1, x2, y2``.

    Returns:
        The corrected ``mean`` and ``cov`` (new arrays).
    """
    p = STD_WEIGHT_POSITION
    innovation_cov = cov[:, :_MEASURED, :_MEASURED].copy()
    innovation_cov[:, _DIAGONAL[:_MEASURED], _DIAGONAL[:_MEASURED]] += _scaled_variance(
        mean[:, 3], (p, p, 1e-1, p))
    # K = P H^T S^-1; S is symmetric, so K^T = S^-1 (H P), one batched solve.
    gain_t = np.linalg.solve(innovation_cov, cov[:, :_MEASURED, :])
    innovation = to_xyah(boxes_xyxy) - mean[:, :_MEASURED]
    mean = mean + (innovation[:, None, :] @ gain_t)[:, 0]
    cov = cov - cov[:, :, :_MEASURED] @ gain_t
    return mean, cov
