"""Three real images with text for the OCR tests and bench (no pytest here: bench/bench_ocr.py uses it too).

``skimage.data.page()`` (a scanned page), a photo (``skimage.data.coffee()``) with a label
printed on it, and a rendered till receipt photographed upside down and slightly tilted.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["LABEL_LINES", "RECEIPT_LINES", "make_images"]

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
RECEIPT_LINES = ("CORNER CAFE", "Espresso 2 x 2.80", "Croissant 1 x 3.10", "Total EUR 8.70", "Thank you!")
LABEL_LINES = ("Single origin", "Arabica 250 g")



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
