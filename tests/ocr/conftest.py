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

cv2 = pytest.importorskip("cv2")
rapidocr = pytest.importorskip("rapidocr_onnxruntime", reason="pip install --no-deps rapidocr-onnxruntime==1.4.4")

MODELS = Path(rapidocr.__file__).parent / "models"
DET = MODELS / "ch_PP-OCRv4_det_infer.onnx"
REC = MODELS / "ch_PP-OCRv4_rec_infer.onnx"
CLS = MODELS / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
UNCLIP_RATIO = 1.5  # ours and PaddleOCR's default; RapidOCR's config says 1.6, so it is passed to it

RECEIPT_LINES = ("CORNER CAFE", "Espresso 2 x 2.80", "Croissant 1 x 3.10", "Total EUR 8.70", "Thank you!")
LABEL_LINES = ("Single origin", "Arabica 250 g")


@dataclass(frozen=True)
class Reference:
    """One test image and RapidOCR's reading of it (lines in its reading order)."""

    name: str
    image: np.ndarray
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _write_lines(canvas: np.ndarray, lines: tuple[str, ...], origin_xy: tuple[int, int], size_px: int,
                 color_rgb: tuple[int, int, int]) -> np.ndarray:
    """Draw text lines on a BGR image with a TrueType font (PIL), or OpenCV's when there is none."""
    x, y = origin_xy
    if FONT.exists():
        from PIL import Image, ImageDraw, ImageFont

        pil = Image.fromarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(pil)
        font = ImageFont.truetype(str(FONT), size_px)
        for i, line in enumerate(lines):
            draw.text((x, y + i * int(size_px * 1.6)), line, font=font, fill=color_rgb)
        return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)
    for i, line in enumerate(lines):
        cv2.putText(canvas, line, (x, y + size_px + i * int(size_px * 1.6)), cv2.FONT_HERSHEY_SIMPLEX,
                    size_px / 30, color_rgb[::-1], 2, cv2.LINE_AA)
    return canvas


def make_images() -> dict[str, np.ndarray]:
    """The three test images, BGR uint8."""
    import skimage.data

    page = cv2.cvtColor(skimage.data.page(), cv2.COLOR_GRAY2BGR)
    coffee = cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR)
    cv2.rectangle(coffee, (20, 20), (300, 120), (235, 240, 245), -1)
    coffee = _write_lines(coffee, LABEL_LINES, (32, 30), 26, (40, 30, 20))
    receipt = np.full((360, 420, 3), 246, np.uint8)
    receipt = _write_lines(receipt, RECEIPT_LINES, (30, 30), 28, (20, 20, 20))
    # A slight tilt (the detector's rotated boxes) and upside down (the angle classifier).
    tilt = cv2.getRotationMatrix2D((210, 180), 183.0, 1.0)
    receipt = cv2.warpAffine(receipt, tilt, (420, 360), borderValue=(246, 246, 246))
    return {"page": page, "coffee_label": coffee, "receipt_upside_down": receipt}


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


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(hypothesis: str, reference: str) -> float:
    """Character error rate of ``hypothesis`` against ``reference`` (0 = identical)."""
    return levenshtein(hypothesis, reference) / max(len(reference), 1)


@pytest.fixture(scope="session")
def cer_of() -> Callable[[str, str], float]:
    return cer
