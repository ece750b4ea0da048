"""Text results: the lines an OCR chain (:mod:`edgeinfer.ocr`) read in one frame.

Their JSON payload::

    {"task": "ocr", "lines": [{"text": "Total 12.50", "score": 0.97,
                               "polygon": [[x, y], [x, y], [x, y], [x, y]]}]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.results.core import BOX_DECIMALS, SCORE_DECIMALS

__all__ = ["TextLines"]


@dataclass(frozen=True, eq=False)
class TextLines:
    """Lines of text in one frame, in reading order (top to bottom, then left to right).

    Attributes:
        polygons: ``(N, 4, 2)`` float32 corners in frame pixels, clockwise from the
            top-left corner of the text as it reads.
        texts: ``N`` strings.
        scores: ``(N,)`` float32 recognition confidence in 0..1 (mean of the kept CTC steps).
    """

    task: ClassVar[Literal["ocr"]] = "ocr"
    polygons: np.ndarray
    texts: tuple[str, ...]
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def text(self) -> str:
        """All lines joined by newlines, in reading order."""
        return "\n".join(self.texts)

    @classmethod
    def empty(cls) -> TextLines:
        """No text found."""
        return cls(np.zeros((0, 4, 2), np.float32), (), np.zeros(0, np.float32))

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "ocr", "lines": [{"text", "score", "polygon"}, ...]}``."""
        lines = [
            {"text": text, "score": round(score, SCORE_DECIMALS),
             "polygon": [[round(x, BOX_DECIMALS), round(y, BOX_DECIMALS)] for x, y in polygon]}
            for text, score, polygon in zip(self.texts, self.scores.tolist(), self.polygons.tolist(), strict=True)
        ]
        return {"task": self.task, "lines": lines}
