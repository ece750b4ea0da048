"""A straightforward float reference of preprocessing, written independently of edgeinfer.

It does everything the obvious way: colour conversion on the full frame, ``cv2.resize``,
``np.full`` padding, float32 ``(x - mean) / std``, ``np.round``/``np.clip`` quantization
and ``transpose`` for NCHW. The fast preprocessor must agree with it.
"""

from __future__ import annotations

import cv2
import numpy as np

COLOR_CODES = {"rgb": cv2.COLOR_BGR2RGB, "bgr": None, "gray": cv2.COLOR_BGR2GRAY}
FLAGS = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST_EXACT}


def _flag(name: str, frame_wh: tuple[int, int], new_wh: tuple[int, int]) -> int:
    if name != "auto":
        return FLAGS[name]
    shrinking = new_wh[0] <= frame_wh[0] and new_wh[1] <= frame_wh[1]
    return cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR


def resize_reference(img: np.ndarray, size_wh: tuple[int, int], *, mode: str, align: str = "center",
                     pad_value: int = 114, crop_fraction: float = 0.875,
                     interpolation: str = "auto") -> np.ndarray:
    """Resize a uint8 image the plain way; returns uint8 ``(H, W[, C])``."""
    h, w = img.shape[:2]
    W, H = size_wh
    if mode == "stretch":
        return cv2.resize(img, (W, H), interpolation=_flag(interpolation, (w, h), (W, H)))
    if mode == "letterbox":
        s = min(W / w, H / h)
        nw, nh = round(w * s), round(h * s)
        small = cv2.resize(img, (nw, nh), interpolation=_flag(interpolation, (w, h), (nw, nh)))
        left, top = ((W - nw) // 2, (H - nh) // 2) if align == "center" else (0, 0)
        canvas = np.full((H, W, *img.shape[2:]), pad_value, np.uint8)
        canvas[top:top + nh, left:left + nw] = small
        return canvas
    s = max(W / w, H / h) / crop_fraction
    rw, rh = round(w * s), round(h * s)
    big = cv2.resize(img, (rw, rh), interpolation=_flag(interpolation, (w, h), (rw, rh)))
    x0, y0 = (rw - W) // 2, (rh - H) // 2
    return big[y0:y0 + H, x0:x0 + W]


def preprocess_reference(frame_bgr: np.ndarray, size_wh: tuple[int, int], *, color: str, mode: str,
                         layout: str, dtype: np.dtype, mean: tuple[float, ...], std: tuple[float, ...],
                         quant: tuple[float, int] | None = None, **resize_kw: object) -> np.ndarray:
    """Return the batch-1 model input computed with float math."""
    code = COLOR_CODES[color]
    img = frame_bgr if code is None else cv2.cvtColor(frame_bgr, code)
    img = resize_reference(img, size_wh, mode=mode, **resize_kw)  # type: ignore[arg-type]
    x = img.astype(np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        scale, zero_point = quant if quant is not None else (1.0, 0)
        info = np.iinfo(dtype)
        x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
    x = x.astype(dtype)
    if layout == "nchw":
        x = x.transpose(2, 0, 1)
    return x[None]
