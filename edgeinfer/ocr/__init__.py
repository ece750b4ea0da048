"""OCR: a DB text detector, an optional angle classifier and a CTC recogniser, as one model.

A composition of :class:`edgeinfer.model.Model` objects, not a backend::

    import edgeinfer
    with edgeinfer.load_ocr("det.onnx", "rec.onnx", "cls.onnx") as ocr:
        lines = ocr.predict(frame_bgr)          # edgeinfer.results.TextLines
        print(lines.text)
"""

from __future__ import annotations

from edgeinfer.ocr.chain import OcrModel, OcrOptions
from edgeinfer.ocr.ctc import CtcVocabulary
from edgeinfer.ocr.db import DbOptions
from edgeinfer.ocr.load import load_ocr
from edgeinfer.ocr.metrics import character_error_rate, edit_distance

__all__ = [
    "CtcVocabulary", "DbOptions", "OcrModel", "OcrOptions", "character_error_rate", "edit_distance", "load_ocr",
]
