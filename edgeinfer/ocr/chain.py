"""``OcrModel``: text detector -> optional angle classifier -> recogniser, as one model.

The chain is a composition of plain :class:`edgeinfer.model.Model` objects (each on the
accelerator :func:`edgeinfer.load` picks for it): the detector's probability map becomes
rotated boxes (:mod:`edgeinfer.ocr.db`), each box is warped into an upright crop
(:mod:`edgeinfer.ocr.crops`), crops are classified and turned when upside down, then read
in batches of similar width (:mod:`edgeinfer.ocr.lines`) and CTC-decoded
(:mod:`edgeinfer.ocr.ctc`). The result is :class:`edgeinfer.results.TextLines`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.ocr.crops import crop_line, reading_order, tidy_boxes
from edgeinfer.ocr.ctc import CtcVocabulary, decode_greedy
from edgeinfer.ocr.db import DbOptions, boxes_from_probability, detector_input
from edgeinfer.ocr.lines import batches_by_aspect, line_batch
from edgeinfer.results.text import TextLines

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.model import Model
    from edgeinfer.types import TensorSpec

__all__ = ["OcrModel", "OcrOptions"]

_ROTATE_180 = 1  # cv2.ROTATE_180


@dataclass(frozen=True)
class OcrOptions:
    """Settings of the OCR chain; the defaults are PaddleOCR's and RapidOCR's.

    Attributes:
        db: Detector post-processing (:class:`~edgeinfer.ocr.db.DbOptions`).
        rec_batch: Text lines per recogniser inference.
        rec_height: The recogniser's input height in pixels.
        rec_min_width: Narrowest recogniser batch, pixels (wider lines widen their batch).
        cls_batch: Crops per angle-classifier inference.
        cls_size_hw: The classifier's input ``(height, width)``.
        cls_thresh: A crop is turned 180 degrees when the classifier says "180" with more
            than this confidence.
        min_text_score: Lines read with less confidence are dropped.
        y_tolerance_px: Boxes whose tops differ by less are one line of reading order.
    """

    db: DbOptions = field(default_factory=DbOptions)
    rec_batch: int = 6
    rec_height: int = 48
    rec_min_width: int = 320
    cls_batch: int = 6
    cls_size_hw: tuple[int, int] = (48, 192)
    cls_thresh: float = 0.9
    min_text_score: float = 0.5
    y_tolerance_px: float = 10.0


class OcrModel:
    """A text detector, an optional angle classifier and a recogniser, run as one model.

    Made by :func:`edgeinfer.load_ocr`. Calls are serialised by the models' own locks.

    Attributes:
        detector: The DB text detector.
        recognizer: The CTC recogniser.
        classifier: The 0/180 degree angle classifier, or ``None``.
        vocabulary: The recogniser's classes as text.
        options: The chain's settings.
        card: A card with ``task: ocr`` (what ``edgeinfer predict`` shows).
    """

    task = "ocr"

    def __init__(self, detector: Model, recognizer: Model, classifier: Model | None = None, *,
                 vocabulary: CtcVocabulary, options: OcrOptions, card: ModelCard) -> None:
        self.detector = detector
        self.recognizer = recognizer
        self.classifier = classifier
        self.vocabulary = vocabulary
        self.options = options
        self.card = card
        self.name = f"{detector.name} + {recognizer.name}" + (f" + {classifier.name}" if classifier else "")
        self.accelerator = detector.accelerator

    def predict(self, frame: np.ndarray | str | Path | bytes) -> TextLines:
        """Find and read the text lines of one frame.

        Args:
            frame: A BGR ``uint8`` ``(H, W, 3)`` array, an image path, or encoded image bytes.

        Returns:
            :class:`~edgeinfer.results.TextLines` in frame pixels, in reading order.

        Raises:
            InputError: the frame cannot be decoded or has the wrong shape/dtype.
            ModelError: the chain was closed.
        """
        from edgeinfer.images import import_cv2, read_image

        cv2 = import_cv2("OCR")
        image = read_image(frame)
        boxes = self.detect(image)
        if not len(boxes):
            return TextLines.empty()
        crops = [crop_line(cv2, image, box) for box in boxes]
        if self.classifier is not None:
            crops = self._upright(cv2, crops)
        read = self.read(crops)
        keep = [i for i, (_, score) in enumerate(read) if score >= self.options.min_text_score]
        return TextLines(boxes[keep].astype(np.float32), tuple(read[i][0] for i in keep),
                         np.array([read[i][1] for i in keep], dtype=np.float32))

    def predict_batch(self, frames: Iterable[np.ndarray | str | Path | bytes]) -> list[TextLines]:
        """:meth:`predict` each frame (text crops are batched within a frame). Results in order."""
        return [self.predict(frame) for frame in frames]

    def detect(self, image: np.ndarray) -> np.ndarray:
        """Text boxes of a BGR frame, in reading order.

        Returns:
            ``(N, 4, 2)`` float32 corners tl, tr, br, bl in frame pixels.
        """
        frame_hw = (int(image.shape[0]), int(image.shape[1]))
        outputs = self.detector.run(detector_input(image, self.options.db))
        boxes, _ = boxes_from_probability(next(iter(outputs.values())), frame_hw, self.options.db)
        boxes = tidy_boxes(boxes, frame_hw)
        return boxes[reading_order(boxes, self.options.y_tolerance_px)]

    def _upright(self, cv2: Any, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Turn the crops the classifier finds upside down (label 1, "180")."""
        if self.classifier is None:
            return crops
        height, width = self.options.cls_size_hw
        out = list(crops)
        for indices in batches_by_aspect(crops, self.options.cls_batch):
            batch = line_batch(cv2, [crops[i] for i in indices], height, width, fixed_width=True)
            probs = next(iter(self.classifier.run(batch).values()))
            for i, row in zip(indices.tolist(), probs, strict=True):
                if int(row.argmax()) == 1 and float(row[1]) > self.options.cls_thresh:
                    out[i] = cv2.rotate(crops[i], _ROTATE_180)
        return out

    def read(self, crops: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """Recognise upright text-line crops.

        Args:
            crops: ``(h, w, 3)`` uint8 BGR crops.

        Returns:
            ``(text, confidence)`` per crop, in the crops' order.
        """
        from edgeinfer.images import import_cv2

        cv2 = import_cv2("OCR")
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for indices in batches_by_aspect(crops, self.options.rec_batch):
            batch = line_batch(cv2, [crops[i] for i in indices], self.options.rec_height,
                               self.options.rec_min_width)
            probs = next(iter(self.recognizer.run(batch).values()))
            for i, decoded in zip(indices.tolist(), decode_greedy(probs, self.vocabulary), strict=True):
                out[i] = decoded
        return out

    @property
    def inputs(self) -> list[TensorSpec]:
        """The detector's input specs: frames go in there (the server reads its batch axis)."""
        return self.detector.inputs

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: task, accelerator, the character count and each model's :meth:`Model.describe`."""
        models = {"det": self.detector, "rec": self.recognizer, "cls": self.classifier}
        return {"model": self.name, "task": self.task, "accelerator": self.accelerator,
                "characters": len(self.vocabulary.characters),
                "models": {role: m.describe() for role, m in models.items() if m is not None}}

    def close(self) -> None:
        """Release the three interpreters. Further calls raise ``ModelError``."""
        for model in (self.detector, self.recognizer, self.classifier):
            if model is not None:
                model.close()

    def __enter__(self) -> OcrModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<OcrModel {self.name} on {self.accelerator}, {len(self.vocabulary.characters)} characters>"
