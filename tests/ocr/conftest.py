"""OCR fixtures: RapidOCR's PP-OCR models, three real images, and RapidOCR's own reading of them.

Images: ``skimage.data.page()`` (a scanned page), a photo (``skimage.data.coffee()``) with
a label printed on it, and a rendered till receipt photographed upside down (so the angle
classifier has work to do). RapidOCR runs once per image per session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.ocr.metrics import character_error_rate, edit_distance
from tests.ocr.images import make_images

rapidocr = pytest.importorskip("rapidocr_onnxruntime", reason="pip install --no-deps rapidocr-onnxruntime==1.4.4")

MODELS = Path(rapidocr.__file__).parent / "models"
DET = MODELS / "ch_PP-OCRv4_det_infer.onnx"
REC = MODELS / "ch_PP-OCRv4_rec_infer.onnx"
CLS = MODELS / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
UNCLIP_RATIO = 1.5  # ours and PaddleOCR's default; RapidOCR's config says 1.6, so it is passed to it


@dataclass(frozen=True)
class Reference:
    """One test image and RapidOCR's reading of it (lines in its reading order)."""

    name: str
    image: np.ndarray
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="session")
def references() -> list[Reference]:
    """RapidOCR's pipeline on each image, with the chain settings ours uses."""
    engine = rapidocr.RapidOCR()
    out = []
    for name, image in make_images().items():
        result, _ = engine(image, unclip_ratio=UNCLIP_RATIO)
        out.append(Reference(name, image, tuple(str(r[1]) for r in (result or []))))
    return out


@pytest.fixture(scope="session")
def ocr_float() -> Any:
    import edgeinfer

    with edgeinfer.load_ocr(DET, REC, CLS) as ocr:
        yield ocr


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate of ``hypothesis`` against ``reference`` (0 = identical)."""
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "ab") == 2  # the metric itself
    return character_error_rate(hypothesis, reference)


@pytest.fixture(scope="session")
def cer_of() -> Callable[[str, str], float]:
    return cer
