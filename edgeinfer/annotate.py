"""Drawing results onto frames, for ``edgeinfer predict --save``, the image sinks and demos.

:func:`draw` returns an annotated copy of a BGR frame and never changes the frame it is
given::

    annotated = edgeinfer.draw(frame_bgr, model.predict(frame_bgr))

Boxes get a colour per class (per track when tracked, with ``#id`` before the label) and a
label with its score on a filled tab (rotated boxes are drawn as polygons; instance masks are
filled translucently in the box's colour); class maps are alpha-blended over the frame;
classification, regression and raw results are written as lines of text on a dark panel in
the top-left corner. Text size follows the frame size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import InputError, MissingDependencyError

if TYPE_CHECKING:
    from edgeinfer.results import (
        Classification,
        Detections,
        InstanceMasks,
        OrientedBoxes,
        Poses,
        RawResult,
        Regression,
        Result,
        Segmentation,
        TextLines,
    )

__all__ = ["MASK_ALPHA", "PALETTE_BGR", "color_for", "draw"]

# Twenty well-separated colours (BGR), as in common detection tools. Class i takes entry
# (7 * i) % 20: neighbouring entries are similar hues, and 7 is coprime with 20, so classes
# 0, 1, 2 ... land far apart on the palette while all twenty are still used.
PALETTE_BGR: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
    (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
    (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)
_PALETTE_STRIDE = 7
MASK_ALPHA = 0.5
TOP_CLASSES_SHOWN = 3
_WHITE = (255, 255, 255)
_BLACK = (0, 0, 0)
_PANEL = (32, 32, 32)


def color_for(class_id: int) -> tuple[int, int, int]:
    """BGR colour of a class id, or of a track id for tracked boxes (stable across frames and runs)."""
    return PALETTE_BGR[(_PALETTE_STRIDE * int(class_id)) % len(PALETTE_BGR)]


def draw(frame: np.ndarray, result: Result) -> np.ndarray:
    """Return a copy of ``frame`` with ``result`` drawn on it.

    Args:
        frame: ``(H, W, 3)`` uint8 BGR image; left unchanged.
        result: Any result of :func:`edgeinfer.postprocess.decode`, in this frame's pixels.

    Returns:
        ``(H, W, 3)`` uint8 BGR annotated copy.

    Raises:
        InputError: ``frame`` is not an ``(H, W, 3)`` uint8 image, or a segmentation mask
            does not match its size.
        MissingDependencyError: OpenCV is not installed.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(
            f"draw needs an (H, W, 3) uint8 BGR frame; got shape {frame.shape} dtype {frame.dtype}"
        )
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError("opencv-python-headless", "camera", "drawing results") from exc
    canvas = np.ascontiguousarray(frame).copy()
    _DRAWERS[result.task](cv2, canvas, result)
    return canvas


def _text_style(canvas: np.ndarray) -> tuple[float, int]:
    """Font scale and stroke thickness readable on this frame size."""
    scale = max(0.4, min(canvas.shape[:2]) / 900)
    return scale, max(1, round(scale * 1.6))


def _put_tab(cv2: Any, canvas: np.ndarray, text: str, origin_xy: tuple[int, int],
             color: tuple[int, int, int]) -> int:
    """Write ``text`` on a filled tab whose top-left is ``origin_xy``; return the tab height."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale, thick = _text_style(canvas)
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, thick + 1)
    x, y = origin_xy
    tab_h = th + base + 2 * pad
    cv2.rectangle(canvas, (x, y), (x + tw + 2 * pad, y + tab_h), color, -1)
    # Dark text on light tabs, white on dark ones (ITU-R BT.601 luma of the BGR colour).
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    text_color = _BLACK if luma > 140 else _WHITE
    cv2.putText(canvas, text, (x + pad, y + pad + th), font, scale, text_color, thick, cv2.LINE_AA)
    return int(tab_h)


def _put_lines(cv2: Any, canvas: np.ndarray, lines: Sequence[str],
               colors: Sequence[tuple[int, int, int]] | None = None) -> None:
    """Stack text lines in the top-left corner, each on its own tab."""
    y = 0
    for i, line in enumerate(lines):
        if y >= canvas.shape[0]:
            break  # the rest would be off the frame
        color = colors[i] if colors is not None else _PANEL
        y += _put_tab(cv2, canvas, line, (0, y), color)


def _draw_detections(cv2: Any, canvas: np.ndarray, result: Detections) -> None:
    _, thick = _text_style(canvas)
    box_thick = thick + 1
    # Tracked boxes take their track's colour, so one object keeps one colour across frames.
    track_ids = [None] * len(result) if result.track_ids is None else result.track_ids.tolist()
    for box, score, cid, label, track_id in zip(
        result.boxes_xyxy, result.scores, result.class_ids, result.labels, track_ids, strict=True
    ):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        color = color_for(int(cid) if track_id is None else int(track_id))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, box_thick)
        text = f"{label} {float(score):.2f}" if track_id is None else f"#{track_id} {label} {float(score):.2f}"
        scale, tthick = _text_style(canvas)
        (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, tthick)
        tab_h = th + base + 2 * max(2, tthick + 1)
        # Tab above the box, or inside it when the box touches the top edge.
        tab_y = y1 - tab_h if y1 - tab_h >= 0 else y1
        _put_tab(cv2, canvas, text, (x1, tab_y), color)


def _draw_poses(cv2: Any, canvas: np.ndarray, result: Poses) -> None:
    from edgeinfer.overlay_pose import draw_keypoints

    _draw_detections(cv2, canvas, result)
    ids = result.class_ids if result.track_ids is None else result.track_ids
    _, thick = _text_style(canvas)
    draw_keypoints(cv2, canvas, result.keypoints, skeleton=result.skeleton,
                   colors=[color_for(int(i)) for i in ids], thickness=thick + 1)


def _draw_oriented_boxes(cv2: Any, canvas: np.ndarray, result: OrientedBoxes) -> None:
    _, thick = _text_style(canvas)
    track_ids = [None] * len(result) if result.track_ids is None else result.track_ids.tolist()
    for polygon, score, cid, label, track_id in zip(
        result.polygons, result.scores, result.class_ids, result.labels, track_ids, strict=True
    ):
        color = color_for(int(cid) if track_id is None else int(track_id))
        cv2.polylines(canvas, [np.round(polygon).astype(np.int32)], True, color, thick + 1, cv2.LINE_AA)
        text = f"{label} {float(score):.2f}" if track_id is None else f"#{track_id} {label} {float(score):.2f}"
        x, y = polygon[int(np.argmin(polygon[:, 1]))]  # tab at the topmost corner
        _put_tab(cv2, canvas, text, (max(0, round(float(x))), max(0, round(float(y)))), color)


def _draw_instance_masks(cv2: Any, canvas: np.ndarray, result: InstanceMasks) -> None:
    if (result.frame_height, result.frame_width) != canvas.shape[:2]:
        raise InputError(
            f"The instance masks are for a {result.frame_width}x{result.frame_height} frame but this one "
            f"is {canvas.shape[1]}x{canvas.shape[0]}; draw the result on the frame it was decoded for."
        )
    track_ids = [None] * len(result) if result.track_ids is None else result.track_ids.tolist()
    for crop, (x, y), cid, track_id in zip(result.masks, result.mask_origins.tolist(), result.class_ids,
                                           track_ids, strict=True):
        color = np.asarray(color_for(int(cid) if track_id is None else int(track_id)), np.float32)
        region = canvas[y : y + crop.shape[0], x : x + crop.shape[1]]  # a view: painted in place
        region[crop] = np.clip(region[crop] * (1 - MASK_ALPHA) + color * MASK_ALPHA, 0, 255).astype(np.uint8)
    _draw_detections(cv2, canvas, result)


def _draw_classification(cv2: Any, canvas: np.ndarray, result: Classification) -> None:
    shown = zip(result.labels, result.scores, result.class_ids, strict=True)
    lines, colors = [], []
    for label, score, cid in list(shown)[:TOP_CLASSES_SHOWN]:
        lines.append(f"{label} {float(score):.2f}")
        colors.append(color_for(int(cid)))
    _put_lines(cv2, canvas, lines, colors)


def _draw_segmentation(cv2: Any, canvas: np.ndarray, result: Segmentation) -> None:
    mask = result.mask
    if mask.shape != canvas.shape[:2]:
        raise InputError(
            f"The segmentation mask is {list(mask.shape)} but the frame is "
            f"{list(canvas.shape[:2])}; draw the result on the frame it was decoded for."
        )
    ids = (mask.astype(np.int64) * _PALETTE_STRIDE) % len(PALETTE_BGR)  # as color_for
    colors = np.asarray(PALETTE_BGR, dtype=np.float32)[ids]
    # Class 0 (background) and False stay unpainted.
    painted = mask.astype(bool)
    blended = canvas[painted] * (1 - MASK_ALPHA) + colors[painted] * MASK_ALPHA
    canvas[painted] = np.clip(blended, 0, 255).astype(np.uint8)
    names = list(result.classes)
    lines = [f"{name} {result.classes[name] * 100:.0f}%" for name in names]
    ids_shown = result.class_ids if len(result.class_ids) == len(names) else range(len(names))
    # Class 0 is left unpainted, so its legend tab is neutral rather than a palette colour.
    _put_lines(cv2, canvas, lines, [color_for(int(i)) if i else _PANEL for i in ids_shown])


def _draw_regression(cv2: Any, canvas: np.ndarray, result: Regression) -> None:
    names = result.names or tuple(f"value[{i}]" for i in range(len(result.values)))
    _put_lines(cv2, canvas, [f"{n}: {float(v):.4g}" for n, v in zip(names, result.values, strict=True)])


def _draw_raw(cv2: Any, canvas: np.ndarray, result: RawResult) -> None:
    _put_lines(cv2, canvas, [f"{name}: {list(np.shape(a))}" for name, a in result.outputs.items()])


def _draw_ocr(cv2: Any, canvas: np.ndarray, result: TextLines) -> None:
    from edgeinfer.overlay_text import draw_text_lines

    draw_text_lines(cv2, canvas, result)


_DRAWERS: dict[str, Callable[[Any, np.ndarray, Any], None]] = {
    "detection": _draw_detections,
    "instance_segmentation": _draw_instance_masks,
    "pose": _draw_poses,
    "obb": _draw_oriented_boxes,
    "classification": _draw_classification,
    "segmentation": _draw_segmentation,
    "regression": _draw_regression,
    "raw": _draw_raw,
    "ocr": _draw_ocr,
}
