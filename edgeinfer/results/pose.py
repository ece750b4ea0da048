"""Pose results: detections with keypoints, and the COCO-17 person skeleton.

Payload::

    {"task": "pose", "detections": [{"label": "person", "class_id": 0, "score": 0.91,
                                     "box_xyxy": [x1, y1, x2, y2],
                                     "keypoints": [[x, y, score], ...]}]}
    (a tracked detection also has "track_id": 7)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.results.core import BOX_DECIMALS, SCORE_DECIMALS, Detections

__all__ = ["COCO_KEYPOINTS", "COCO_SKELETON", "Poses", "default_skeleton"]

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
"""Names of the 17 COCO person keypoints, in the order models trained on COCO give them."""

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)
"""The COCO-17 limbs as pairs of 0-based keypoint indices (Ultralytics' drawing skeleton)."""


def default_skeleton(num_keypoints: int) -> tuple[tuple[int, int], ...] | None:
    """The skeleton used when the card gives none: COCO-17 for 17 keypoints, else none."""
    return COCO_SKELETON if num_keypoints == len(COCO_KEYPOINTS) else None


@dataclass(frozen=True, eq=False)
class Poses(Detections):
    """Objects with keypoints in one frame, best score first.

    Attributes:
        keypoints: ``(N, K, 3)`` float32 ``x, y, score`` per keypoint in frame pixels
            (clipped to the frame). The score is the model's keypoint confidence, or the
            detection's score for models that give only ``x, y``.
        skeleton: Limbs as pairs of keypoint indices (drawing), ``None`` when unknown.
    """

    task: ClassVar[Literal["pose"]] = "pose"  # type: ignore[assignment]
    keypoints: np.ndarray = field(kw_only=True)
    skeleton: tuple[tuple[int, int], ...] | None = field(default=None, kw_only=True)

    def take(self, rows: np.ndarray, *, track_ids: np.ndarray | None = None) -> Poses:
        """The poses at ``rows``, keypoints included; the skeleton is kept whole."""
        # The skeleton is per model, not per object: keep it out of the per-row indexing.
        kept = Detections.take(replace(self, skeleton=None), rows, track_ids=track_ids)
        assert isinstance(kept, Poses)  # take keeps the type
        return replace(kept, skeleton=self.skeleton)

    def to_dict(self) -> dict[str, Any]:
        """Detection payload with ``"keypoints": [[x, y, score], ...]`` per detection."""
        out = super().to_dict()
        for detection, points in zip(out["detections"], self.keypoints.tolist(), strict=True):
            detection["keypoints"] = [
                [round(x, BOX_DECIMALS), round(y, BOX_DECIMALS), round(s, SCORE_DECIMALS)] for x, y, s in points
            ]
        return out
