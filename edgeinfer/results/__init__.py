"""Results: what :func:`edgeinfer.postprocess.decode` returns and the sinks publish; plain data like types.

Each result is a small frozen dataclass holding numpy arrays, with a class-level ``task``
name and ``to_dict()`` giving the JSON payload (plain Python numbers, rounded) that the
MQTT sink, the HTTP server and ``edgeinfer predict`` emit. One module per family of
tasks; every result type is importable from here::

    from edgeinfer.results import Detections, Result
"""

from __future__ import annotations

from typing import TypeAlias

from edgeinfer.results.audio import SpeechSegment, StreamWindow
from edgeinfer.results.core import (
    BOX_DECIMALS,
    FRACTION_DECIMALS,
    SCORE_DECIMALS,
    Classification,
    Detections,
    RawResult,
    Regression,
    Segmentation,
)
from edgeinfer.results.embedding import Embedding, cosine
from edgeinfer.results.masks import InstanceMasks
from edgeinfer.results.obb import OrientedBoxes
from edgeinfer.results.pose import COCO_KEYPOINTS, COCO_SKELETON, Poses
from edgeinfer.results.text import TextLines

__all__ = [
    "BOX_DECIMALS", "COCO_KEYPOINTS", "COCO_SKELETON", "FRACTION_DECIMALS", "SCORE_DECIMALS",
    "Classification", "Detections", "Embedding", "InstanceMasks", "OrientedBoxes", "Poses", "RawResult", "Regression",
    "Result", "Segmentation", "SpeechSegment", "StreamWindow", "TextLines", "cosine",
]

Result: TypeAlias = (Classification | Detections | InstanceMasks | OrientedBoxes | Poses | Segmentation | Regression
                     | RawResult | TextLines | Embedding)
