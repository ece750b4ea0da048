"""Drawing OCR results (:class:`~edgeinfer.results.TextLines`): each line's outline, its text beside it.

Text is written with a TrueType font found on the system (CJK-capable fonts first, then
DejaVu and other sans fonts under the usual font folders) through Pillow, so any script the
font covers is drawn. Without Pillow or a font it falls back to OpenCV's built-in font,
which has ASCII only: other characters become ``?``, and a warning says so once.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.results.text import TextLines

__all__ = ["draw_text_lines", "find_font"]

log = logging.getLogger("edgeinfer")

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
# Preferred first: fonts with CJK glyphs (the PP-OCR character set), then wide-coverage sans fonts.
_FONT_NAMES = ("NotoSansCJK", "NotoSansSC", "wqy-microhei", "wqy-zenhei", "DroidSansFallback", "ArialUnicode",
               "DejaVuSans.ttf", "NotoSans-Regular", "LiberationSans-Regular", "FreeSans", "Arial")
_OUTLINE_BGR = (0, 200, 0)
_TAB_BGR = (0, 120, 0)
_TEXT_RGB = (255, 255, 255)
_warned: set[str] = set()  # warnings given once per process


@functools.lru_cache(maxsize=1)
def find_font() -> Path | None:
    """The best TrueType/OpenType font on this system for drawing text, or ``None``."""
    found: list[Path] = []
    for folder in _FONT_DIRS:
        root = Path(folder)
        if root.is_dir():
            found.extend(p for p in root.rglob("*") if p.suffix.lower() in (".ttf", ".ttc", ".otf"))
    for name in _FONT_NAMES:
        match = sorted(p for p in found if name.lower() in p.name.lower())
        if match:
            return match[0]
    return sorted(found)[0] if found else None


def draw_text_lines(cv2: Any, canvas: np.ndarray, result: TextLines) -> None:
    """Draw each line's polygon and its text on a tab just above it (below at the top edge), in place.

    Args:
        cv2: The OpenCV module.
        canvas: ``(H, W, 3)`` uint8 BGR image, changed in place.
        result: Lines in this image's pixels.
    """
    if not len(result):
        return
    thick = max(1, round(min(canvas.shape[:2]) / 500))
    for polygon in result.polygons:
        cv2.polylines(canvas, [np.round(polygon).astype(np.int32)], True, _OUTLINE_BGR, thick, cv2.LINE_AA)
    size_px = max(12, round(min(canvas.shape[:2]) / 40))
    font = _pil_font(size_px)
    if font is None:
        _draw_ascii(cv2, canvas, result, size_px)
        return
    from PIL import Image, ImageDraw

    image = Image.fromarray(canvas[:, :, ::-1])
    pen = ImageDraw.Draw(image)
    for polygon, text in zip(result.polygons, result.texts, strict=True):
        left, top, right, bottom = pen.textbbox((0, 0), text, font=font)
        x, y = _tab_origin(polygon, int(bottom - top) + 4)
        pen.rectangle((x, y, x + right - left + 4, y + bottom - top + 4), fill=_TAB_BGR[::-1])
        pen.text((x + 2 - left, y + 2 - top), text, font=font, fill=_TEXT_RGB)
    canvas[:] = np.asarray(image)[:, :, ::-1]


def _tab_origin(polygon: np.ndarray, tab_h: int) -> tuple[int, int]:
    """Top-left of a label tab for a line: just above its box, or just below it when there is no room."""
    x = max(0, int(polygon[:, 0].min()))
    top = int(polygon[:, 1].min())
    return x, top - tab_h - 1 if top - tab_h - 1 >= 0 else int(polygon[:, 1].max()) + 1


@functools.lru_cache(maxsize=8)
def _pil_font(size_px: int) -> Any:
    font_path = find_font()
    if font_path is None:
        return None
    try:
        from PIL import ImageFont

        return ImageFont.truetype(str(font_path), size_px)
    except (ImportError, OSError):
        return None


def _draw_ascii(cv2: Any, canvas: np.ndarray, result: TextLines, size_px: int) -> None:
    """OpenCV's Hershey font: ASCII only, every other character drawn as ``?``."""
    texts = [text.encode("ascii", "replace").decode("ascii") for text in result.texts]
    if "ascii" not in _warned and texts != list(result.texts):
        _warned.add("ascii")
        log.warning("No TrueType font (or Pillow) found: OCR text is drawn in ASCII, other characters as '?'. "
                    "Install Pillow and a font (fonts-noto-cjk or fonts-dejavu) to draw them.")
    scale = size_px / 30
    for polygon, text in zip(result.polygons, texts, strict=True):
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        x, y = _tab_origin(polygon, th + base + 4)
        cv2.rectangle(canvas, (x, y), (x + tw + 4, y + th + base + 4), _TAB_BGR, -1)
        cv2.putText(canvas, text, (x + 2, y + 2 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, _TEXT_RGB, 1, cv2.LINE_AA)
