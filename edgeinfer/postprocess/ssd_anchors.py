"""Raw-anchor SSD with keypoints (BlazeFace family): MediaPipe's anchor grid and box decoding.

These models stop before any box decoding. They give two tensors, told apart by shape:

- regressors ``[1, N, 4 + K * D]``: per anchor ``x, y, w, h`` offsets, then ``K``
  keypoints of ``D`` values (``x, y`` first), all in input pixels relative to the anchor;
- classificators ``[1, N, C]`` (or ``[1, N]``): score logits, usually ``C == 1``.

The ``N`` anchors are those of MediaPipe's ``SsdAnchorsCalculator`` with the card's
``postprocess.anchors`` options (:class:`~edgeinfer.card_schema.SsdAnchorsSpec`), and the
decoding is that of its ``TensorsToDetectionsCalculator``::

    cx = x / x_scale * anchor_w + anchor_cx        (likewise y, and each keypoint)
    w  = w / w_scale * anchor_w                    (exp(w / w_scale) * anchor_w when
                                                    apply_exponential_on_box_size)
    score = sigmoid(clip(logit, -100, 100))

in coordinates normalised to the input, which are then scaled to input pixels.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.postprocess.yolo import Candidates

if TYPE_CHECKING:
    from edgeinfer.card_schema import SsdAnchorsSpec

__all__ = ["SCORE_CLIP", "decode_ssd_keypoints", "ssd_anchors", "split_ssd_outputs"]

SCORE_CLIP = 100.0  # MediaPipe's score_clipping_thresh for BlazeFace


@lru_cache(maxsize=8)
def ssd_anchors(spec: SsdAnchorsSpec, input_size_wh: tuple[int, int]) -> np.ndarray:
    """The anchor grid, as MediaPipe's ``SsdAnchorsCalculator`` builds it.

    Args:
        spec: The card's ``postprocess.anchors``.
        input_size_wh: Model input size, used when ``spec.input_size_wh`` is not set.

    Returns:
        ``(N, 4)`` float32 ``cx, cy, w, h``, normalised to the input (read-only, cached).
    """
    in_w, in_h = spec.input_size_wh or input_size_wh
    n = len(spec.strides)
    anchors: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < n:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < n and spec.strides[last] == spec.strides[layer]:
            scale = _scale(spec.min_scale, spec.max_scale, last, n)
            if last == 0 and spec.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                ratios += list(spec.aspect_ratios)
                scales += [scale] * len(spec.aspect_ratios)
                if spec.interpolated_scale_aspect_ratio > 0:
                    following = 1.0 if last == n - 1 else _scale(spec.min_scale, spec.max_scale, last + 1, n)
                    ratios.append(spec.interpolated_scale_aspect_ratio)
                    scales.append(math.sqrt(scale * following))
            last += 1
        sizes = [(s * math.sqrt(r), s / math.sqrt(r)) for r, s in zip(ratios, scales, strict=True)]
        stride = spec.strides[layer]
        rows, cols = math.ceil(in_h / stride), math.ceil(in_w / stride)
        for y in range(rows):
            for x in range(cols):
                cx = (x + spec.anchor_offset_xy[0]) / cols
                cy = (y + spec.anchor_offset_xy[1]) / rows
                for w, h in sizes:
                    anchors.append((cx, cy, 1.0, 1.0) if spec.fixed_anchor_size else (cx, cy, w, h))
        layer = last
    grid = np.asarray(anchors, dtype=np.float32).reshape(-1, 4)
    grid.flags.writeable = False
    return grid


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) / 2
    return min_scale + (max_scale - min_scale) * index / (count - 1)


def split_ssd_outputs(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Tell the regressors ``[1, N, 4 + ...]`` from the score logits ``[1, N, C]`` / ``[1, N]``.

    Returns:
        ``(N, R)`` regressors and ``(N, C)`` logits, float32.

    Raises:
        InputError: the outputs are not one such pair.
    """
    heads = sorted((a for a in arrays if a.ndim in (2, 3) and a.shape[0] == 1), key=lambda a: a.size)
    shapes = [list(a.shape) for a in arrays]
    if len(heads) != 2 or heads[0].shape[1] != heads[1].shape[1] or heads[1].ndim != 3 or heads[1].shape[2] < 4:
        raise InputError(
            f"The ssd keypoint decoder needs regressors [1, N, 4 + K*D] and scores [1, N, C]; the model "
            f"gives {shapes}. Check postprocess.decoder in the model card."
        )
    scores, regressors = heads
    logits = scores[0] if scores.ndim == 3 else scores[0][:, None]
    return np.asarray(regressors[0], np.float32), np.asarray(logits, np.float32)


def decode_ssd_keypoints(
    arrays: list[np.ndarray], spec: SsdAnchorsSpec, input_size_wh: tuple[int, int], kpt_shape: tuple[int, int]
) -> tuple[Candidates, np.ndarray]:
    """Decode raw-anchor SSD outputs to candidates and keypoints in input pixels.

    Args:
        arrays: The model's outputs, batch dimension first (any order).
        spec: The card's ``postprocess.anchors``.
        input_size_wh: Model input width and height, pixels.
        kpt_shape: Keypoints per anchor and values per keypoint (``x, y`` first).

    Returns:
        One candidate per anchor (boxes ``x1, y1, x2, y2`` in input pixels, scores after the
        sigmoid, the best class) and ``(N, K, 2)`` float32 keypoints in input pixels.

    Raises:
        InputError: the outputs do not match the anchor grid or ``kpt_shape``.
    """
    regressors, logits = split_ssd_outputs(arrays)
    anchors = ssd_anchors(spec, input_size_wh)
    k, d = kpt_shape
    if regressors.shape[0] != len(anchors) or regressors.shape[1] < 4 + k * d:
        raise InputError(
            f"The ssd keypoint regressors are {list(regressors.shape)}, but the card's anchor grid has "
            f"{len(anchors)} anchors and kpt_shape {[k, d]} needs {4 + k * d} values per anchor; "
            "fix postprocess.anchors or postprocess.kpt_shape."
        )
    in_w, in_h = input_size_wh
    sx, sy, sw, sh = spec.scale_xywh or (in_w, in_h, in_w, in_h)
    acx, acy, aw, ah = (anchors[:, i : i + 1] for i in range(4))
    cx = regressors[:, 0:1] / sx * aw + acx
    cy = regressors[:, 1:2] / sy * ah + acy
    size = regressors[:, 2:4] / np.asarray([sw, sh], np.float32)
    if spec.apply_exponential_on_box_size:
        size = np.exp(size)
    w, h = size[:, 0:1] * aw, size[:, 1:2] * ah
    boxes = np.concatenate([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes *= np.asarray([in_w, in_h, in_w, in_h], np.float32)
    points = regressors[:, 4 : 4 + k * d].reshape(-1, k, d)[:, :, :2]
    points = (points / np.asarray([sx, sy], np.float32) * anchors[:, None, 2:4] + anchors[:, None, :2])
    points = points * np.asarray([in_w, in_h], np.float32)
    probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
    class_ids = probs.argmax(axis=1)
    scores = np.take_along_axis(probs, class_ids[:, None], axis=1)[:, 0]
    candidates = Candidates(boxes.astype(np.float32), scores.astype(np.float32), class_ids.astype(np.int64))
    return candidates, points.astype(np.float32)
