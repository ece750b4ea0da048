"""The first results: classification, detection, semantic segmentation, regression and raw.

See :mod:`edgeinfer.results` for what a result is. Their JSON payloads::

    {"task": "classification", "top": [{"label": "cat", "class_id": 3, "score": 0.78}]}
    {"task": "detection", "detections": [{"label": "face", "class_id": 1, "score": 0.83,
                                          "box_xyxy": [x1, y1, x2, y2]}]}
    (a tracked detection also has "track_id": 7)
    {"task": "segmentation", "classes": {"person": 0.54}, "mask_shape": [h, w]}
    {"task": "regression", "values": [0.12, 3.4], "names": ["x", "y"]}
    {"task": "raw", "outputs": {"output0": [1, 84, 8400]}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

import numpy as np

__all__ = ["Classification", "Detections", "RawResult", "Regression", "Segmentation"]

SCORE_DECIMALS = 4
BOX_DECIMALS = 1
FRACTION_DECIMALS = 4


def _round_significant(value: float, digits: int = 6) -> float:
    """Round to ``digits`` significant digits (keeps small regression values readable)."""
    return float(f"{float(value):.{digits}g}")


@dataclass(frozen=True, eq=False)
class Classification:
    """Top-k classes of one image, best first.

    Attributes:
        class_ids: ``(k,)`` int64 class indices.
        scores: ``(k,)`` float32 scores after the card's activation.
        labels: ``k`` labels, ``str(class_id)`` where the card has none.
    """

    task: ClassVar[Literal["classification"]] = "classification"
    class_ids: np.ndarray
    scores: np.ndarray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "classification", "top": [{"label", "class_id", "score"}, ...]}``."""
        top = [
            {"label": label, "class_id": cid, "score": round(score, SCORE_DECIMALS)}
            for label, cid, score in zip(self.labels, self.class_ids.tolist(), self.scores.tolist(), strict=True)
        ]
        return {"task": self.task, "top": top}


@dataclass(frozen=True, eq=False)
class Detections:
    """Objects found in one frame, best score first.

    Attributes:
        boxes_xyxy: ``(N, 4)`` float32 ``x1, y1, x2, y2`` in frame pixels, clipped to the frame.
        scores: ``(N,)`` float32 confidence in 0..1.
        class_ids: ``(N,)`` int64 class indices.
        labels: ``N`` labels, ``str(class_id)`` where the card has none.
        track_ids: ``(N,)`` int64 track ids from :mod:`edgeinfer.tracking`, ``None`` when untracked.
    """

    task: ClassVar[Literal["detection"]] = "detection"
    boxes_xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...]
    track_ids: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray, *, track_ids: np.ndarray | None = None) -> Detections:
        """The detections at ``rows`` (int indices), in that order, of the same type.

        Every array field is indexed on its first axis and every tuple field per item, so a
        subclass with more per-object fields (keypoints, masks, angles) keeps them through
        tracking and filtering. ``track_ids`` replaces the track ids when given.
        """
        rows = np.asarray(rows, dtype=np.int64)
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                values[f.name] = value[rows]
            elif isinstance(value, tuple):
                values[f.name] = tuple(value[i] for i in rows.tolist())
        if track_ids is not None:
            values["track_ids"] = np.asarray(track_ids, dtype=np.int64)
        return replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "detection", "detections": [{"label", "class_id", "score", "box_xyxy"}]}``.

        Tracked detections (``track_ids`` set) also carry ``"track_id"``.
        """
        detections = [
            {
                "label": label,
                "class_id": int(cid),
                "score": round(float(score), SCORE_DECIMALS),
                "box_xyxy": [round(float(v), BOX_DECIMALS) for v in box],
            }
            for label, cid, score, box in zip(
                self.labels, self.class_ids, self.scores, self.boxes_xyxy, strict=True
            )
        ]
        if self.track_ids is not None:
            for detection, track_id in zip(detections, self.track_ids.tolist(), strict=True):
                detection["track_id"] = int(track_id)
        return {"task": self.task, "detections": detections}


@dataclass(frozen=True, eq=False)
class Segmentation:
    """A per-pixel mask at frame resolution.

    Attributes:
        mask: ``(H, W)`` frame-sized mask: uint8 class ids (int32 beyond 256 classes) for
            multi-class models, bool for single-channel ones.
        classes: Fraction of the frame's area (0..1) per label present, largest first.
        class_ids: Class index of each entry of ``classes``, same order (colours when drawing).
    """

    task: ClassVar[Literal["segmentation"]] = "segmentation"
    mask: np.ndarray
    classes: Mapping[str, float]
    class_ids: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "segmentation", "classes": {label: fraction}, "mask_shape": [h, w]}``."""
        classes = {k: round(float(v), FRACTION_DECIMALS) for k, v in self.classes.items()}
        return {"task": self.task, "classes": classes, "mask_shape": [int(d) for d in self.mask.shape]}


@dataclass(frozen=True, eq=False)
class Regression:
    """Numbers predicted by a regression model.

    Attributes:
        values: ``(M,)`` float32, all outputs flattened in output order.
        names: One name per value, from the card's ``names``, or ``None``.
    """

    task: ClassVar[Literal["regression"]] = "regression"
    values: np.ndarray
    names: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "regression", "values": [...], "names": [...]}`` (names only when known)."""
        out: dict[str, Any] = {"task": self.task, "values": [_round_significant(v) for v in self.values]}
        if self.names is not None:
            out["names"] = list(self.names)
        return out


@dataclass(frozen=True, eq=False)
class RawResult:
    """Undecoded outputs, for ``task: raw`` models.

    Attributes:
        outputs: Output name to float32 array, batch dimension included.
    """

    task: ClassVar[Literal["raw"]] = "raw"
    outputs: Mapping[str, np.ndarray]

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "raw", "outputs": {name: shape}}``."""
        shapes = {name: [int(d) for d in np.shape(arr)] for name, arr in self.outputs.items()}
        return {"task": self.task, "outputs": shapes}

