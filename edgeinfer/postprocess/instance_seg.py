"""Instance segmentation: Ultralytics ``-seg`` heads to boxes with one mask per object.

An Ultralytics segmentation export has two outputs, told apart by shape, never by name:

- the head, 3-D: ``[1, 4 + classes + M, anchors]`` (or transposed): boxes, class scores and
  ``M`` mask coefficients per anchor (the ``yolov8`` layout plus coefficients);
- the prototypes, 4-D: ``[1, M, h, w]`` (ONNX, NCHW) or ``[1, h, w, M]`` (TFLite, NHWC), at
  a quarter of the input size (``M = 32``, ``160 x 160`` at 640). The channel axis is the
  shorter of axes 1 and 3.

Boxes are read as the ``yolov8`` decoder reads them (normalised boxes scaled up alike) and go
through the same threshold, class-aware NMS and cap as detection. Each kept
object's mask follows Ultralytics' ``process_mask``: ``sigmoid(coefficients @ prototypes)``
at prototype resolution, zeroed outside the box (in prototype coordinates), bilinearly
upsampled (half-pixel centres, ``align_corners=False``) and kept where it is above
``postprocess.mask_threshold``. The upsampling to the input and the mapping back to the frame
(undoing letterbox through :class:`~edgeinfer.types.Geometry`) are one bilinear sampling
step (``cv2.warpAffine``; the map is a scale and an offset per axis): each frame pixel
centre is mapped into prototype coordinates and reads the two rows and columns around it.
Only the prototype window under the box is multiplied out and only frame pixels inside the
box are sampled, so decoding costs the boxes' area, not the frame's.
The masks are stored cropped to their boxes (:class:`~edgeinfer.results.InstanceMasks`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.images import import_cv2
from edgeinfer.postprocess.nms import nms_per_class
from edgeinfer.postprocess.yolo import NORMALISED_MAX
from edgeinfer.results import InstanceMasks

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["check_instance_segmentation", "decode_instance_segmentation", "instance_masks"]

_ON_GRID = 1e-3  # output pixels: how close samples must sit to cv2.resize's grid to use it


def decode_instance_segmentation(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> InstanceMasks:
    """Decode an Ultralytics segmentation head and its prototypes into boxes with masks.

    Args:
        card: Model card: labels, and ``postprocess`` thresholds, cap, ``mask_threshold``
            and ``mask_format``.
        outputs: Output name to dequantized float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        Detections in frame pixels, best score first, each with its mask cropped to its box.

    Raises:
        InputError: the outputs are not a 3-D head and a 4-D prototype tensor that agree.
    """
    head, protos = _split([np.asarray(outputs[spec.name]) for spec in output_specs])
    channels_first = protos.shape[1] <= protos.shape[3]
    grid = np.asarray(protos[0], dtype=np.float32)  # (M, h, w) or (h, w, M), never transposed
    n_masks = grid.shape[0] if channels_first else grid.shape[2]
    columns = _head_columns(head, n_masks, card.labels)
    n_classes = columns.shape[0] - 4 - n_masks
    spec = card.postprocess
    # Best class per anchor, reduced along the channel axis (contiguous in the usual layout);
    # the argmax and boxes only for anchors above the threshold.
    class_scores = columns[4 : 4 + n_classes]
    best = class_scores.max(axis=0)
    passed = np.flatnonzero(best >= spec.score_threshold)
    scores = best[passed].astype(np.float32)
    class_ids = class_scores[:, passed].argmax(axis=0).astype(np.int64)
    boxes = _cxcywh_to_xyxy(columns[:4, passed].T, columns[:4], geometry.input_size_wh)
    keep = nms_per_class(boxes, scores, class_ids, iou_threshold=spec.iou_threshold,
                         max_detections=spec.max_detections, agnostic=spec.agnostic_nms)
    frame_boxes = geometry.boxes_to_frame(boxes[keep], clip=True)
    has_area = (frame_boxes[:, 2] > frame_boxes[:, 0]) & (frame_boxes[:, 3] > frame_boxes[:, 1])
    keep, frame_boxes = keep[has_area], frame_boxes[has_area]
    masks, origins = instance_masks(
        grid, columns[4 + n_classes :, passed[keep]].T, boxes[keep], frame_boxes,
        geometry=geometry, threshold=spec.mask_threshold, channels_first=channels_first,
    )
    ids = class_ids[keep]
    width, height = geometry.frame_size_wh
    return InstanceMasks(
        boxes_xyxy=frame_boxes,
        scores=scores[keep],
        class_ids=ids,
        labels=tuple(card.label(int(i)) for i in ids),
        masks=masks,
        mask_origins=origins,
        frame_width=int(width),
        frame_height=int(height),
        mask_format=spec.mask_format,
    )


def instance_masks(
    protos: np.ndarray,
    coefficients: np.ndarray,
    input_boxes: np.ndarray,
    frame_boxes: np.ndarray,
    *,
    geometry: Geometry,
    threshold: float,
    channels_first: bool = True,
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Masks of kept objects, each over the frame pixels of its box.

    Args:
        protos: ``(M, h, w)`` float32 prototypes, or ``(h, w, M)`` when not ``channels_first``.
        coefficients: ``(N, M)`` mask coefficients of the kept objects.
        input_boxes: ``(N, 4)`` their boxes in model-input pixels (as decoded).
        frame_boxes: ``(N, 4)`` the same boxes in frame pixels, clipped to the frame.
        geometry: How frame pixels map to model-input pixels.
        threshold: A pixel is on the object where the mask probability is above it.
        channels_first: ``protos`` is ``(M, h, w)`` (ONNX) rather than ``(h, w, M)`` (TFLite).

    Returns:
        ``N`` bool crops and ``(N, 2)`` int64 ``x, y`` frame origins of the crops.

    Raises:
        MissingDependencyError: OpenCV is not installed.
    """
    cv2 = import_cv2("instance mask resampling")
    n_masks, proto_h, proto_w = (int(d) for d in (protos.shape if channels_first else np.roll(protos.shape, 1)))
    flat = protos.reshape(n_masks, -1) if channels_first else protos
    in_w, in_h = geometry.input_size_wh
    ratio = (proto_w / in_w, proto_h / in_h)
    # Prototype cells per frame pixel, and the prototype coordinate of frame pixel 0's centre.
    step = (geometry.scale_xy[0] * ratio[0], geometry.scale_xy[1] * ratio[1])
    first = tuple((0.5 * geometry.scale_xy[k] + geometry.offset_xy[k]) * ratio[k] - 0.5 for k in (0, 1))
    frame_w, frame_h = geometry.frame_size_wh
    crops: list[np.ndarray] = []
    origins = np.zeros((len(coefficients), 2), np.int64)
    coefficients = np.asarray(coefficients, dtype=np.float32)
    proto_boxes = (np.asarray(input_boxes, np.float64).reshape(-1, 4) * (ratio * 2)).tolist()
    for i, (coeffs, (px1, py1, px2, py2), frame_box) in enumerate(
        zip(coefficients, proto_boxes, np.asarray(frame_boxes).tolist(), strict=True)
    ):
        x0, x1 = _span(frame_box[0], frame_box[2], frame_w)
        y0, y1 = _span(frame_box[1], frame_box[3], frame_h)
        origins[i] = (x0, y0)
        if x1 == x0 or y1 == y0:
            crops.append(np.zeros((y1 - y0, x1 - x0), bool))
            continue
        # Prototype coordinates of the first and last sampled pixel centres, per axis.
        u0, u1 = first[0] + step[0] * x0, first[0] + step[0] * (x1 - 1)
        v0, v1 = first[1] + step[1] * y0, first[1] + step[1] * (y1 - 1)
        c0, c1 = _window(min(px1, u0), max(px2, u1), proto_w)
        r0, r1 = _window(min(py1, v0), max(py2, v1), proto_h)
        if channels_first:
            # Whole rows of the grid: a view of the flat prototypes, so nothing is copied first.
            band = coeffs @ flat[:, r0 * proto_w : r1 * proto_w]
            logits = np.ascontiguousarray(band.reshape(r1 - r0, proto_w)[:, c0:c1])
        else:
            logits = protos[r0:r1, c0:c1] @ coeffs
        probs = _sigmoid(logits)
        # Ultralytics' crop_mask: cells whose index lies outside [x1, x2) x [y1, y2) are zeroed.
        probs[:, : max(math.ceil(px1) - c0, 0)] = 0.0
        probs[:, max(math.ceil(px2) - c0, 0) :] = 0.0
        probs[: max(math.ceil(py1) - r0, 0)] = 0.0
        probs[max(math.ceil(py2) - r0, 0) :] = 0.0
        crops.append(_resample(cv2, probs, (u0 - c0, v0 - r0), step, (x1 - x0, y1 - y0)) > threshold)
    return tuple(crops), origins


def _resample(cv2: Any, grid: np.ndarray, start_uv: tuple[float, float], step: tuple[float, float],
              size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear samples of ``grid`` at ``start + step * (j, i)`` for a ``size_wh`` output.

    One bilinear step from prototype cells to frame pixels (an affine map per axis);
    replicated borders are PyTorch's clamping at the grid's edge. When the samples fall
    on ``cv2.resize``'s own half-pixel grid for a scale of ``1 / step`` (whole-pixel
    letterbox padding: the usual case), the faster resize is used and cut to size;
    otherwise ``cv2.warpAffine`` samples the same points directly.
    """
    w, h = size_wh
    (su, sv), (du, dv) = start_uv, step
    # Index of the first sample on resize's grid: resize puts output j at (j + 0.5) * step - 0.5.
    skip_x, skip_y = (su + 0.5) / du - 0.5, (sv + 0.5) / dv - 0.5
    jx, jy = round(skip_x), round(skip_y)
    if du < 1 and dv < 1 and abs(skip_x - jx) < _ON_GRID and abs(skip_y - jy) < _ON_GRID and min(jx, jy) >= 0:
        up = cv2.resize(grid, None, fx=1 / du, fy=1 / dv, interpolation=cv2.INTER_LINEAR)
        if up.shape[0] >= jy + h and up.shape[1] >= jx + w:
            return up[jy : jy + h, jx : jx + w]
    to_grid = np.asarray([[du, 0.0, su], [0.0, dv, sv]])
    return cv2.warpAffine(grid, to_grid, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` as float32, in place on ``logits``, clipped so ``exp`` cannot overflow."""
    out = np.clip(logits, -30.0, 30.0, out=logits).astype(np.float32, copy=False)
    np.negative(out, out=out)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def _span(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Whole frame pixels covered by ``lo..hi``: ``floor(lo) .. ceil(hi)`` within ``0..size``."""
    start = min(max(math.floor(lo), 0), size)
    return start, min(max(math.ceil(hi), start), size)


def _window(lo: float, hi: float, size: int) -> tuple[int, int]:
    """Prototype index range holding ``lo..hi`` and one more cell each side, inside the grid."""
    start = min(max(math.floor(lo) - 1, 0), size - 1)
    return start, max(min(math.ceil(hi) + 2, size), start + 1)


def _split(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The 3-D head and the 4-D prototypes, whichever order the model gives them in."""
    heads = [a for a in arrays if a.ndim == 3 and a.shape[0] == 1]
    protos = [a for a in arrays if a.ndim == 4 and a.shape[0] == 1]
    if len(heads) != 1 or len(protos) != 1:
        shapes = [list(a.shape) for a in arrays]
        raise InputError(
            f"Instance segmentation needs a head [1, 4 + classes + masks, anchors] and prototypes "
            f"[1, masks, h, w]; the model gives {shapes}. Check the card's task."
        )
    return heads[0], protos[0]


def _head_columns(head: np.ndarray, n_masks: int, labels: tuple[str, ...] | None) -> np.ndarray:
    """The head as ``(4 + classes + M, anchors)`` float32, whichever way it was exported (a view)."""
    a, b = head.shape[1:]
    channels = None if labels is None else 4 + len(labels) + n_masks
    channels_first = a == channels if channels in (a, b) else a < b
    columns = np.asarray(head[0] if channels_first else head[0].T, dtype=np.float32)
    needed = channels if channels is not None else 5 + n_masks
    if columns.shape[0] < needed or (channels is not None and columns.shape[0] != channels):
        raise InputError(
            f"The instance segmentation head {list(head.shape)} has {columns.shape[0]} channels; it "
            f"needs 4 box values + {len(labels) if labels else 'at least 1'} class scores + "
            f"{n_masks} mask coefficients (one per prototype channel)."
        )
    return columns


def _cxcywh_to_xyxy(cxcywh: np.ndarray, all_boxes: np.ndarray, input_size_wh: tuple[int, int]) -> np.ndarray:
    """Centre-size boxes to corners in input pixels; normalised heads (as yolo.py tells them) scaled up."""
    boxes = cxcywh.astype(np.float32)
    if all_boxes.size and float(np.abs(all_boxes).max()) <= NORMALISED_MAX:
        boxes = boxes * np.asarray([*input_size_wh, *input_size_wh], dtype=np.float32)
    half = boxes[:, 2:] / 2
    return np.concatenate([boxes[:, :2] - half, boxes[:, :2] + half], axis=1)


def check_instance_segmentation(card: ModelCard, output_specs: list[TensorSpec]) -> None:
    """Load-time check: the model has a head and prototypes whose channel counts agree.

    Args:
        card: The effective card (task ``instance_segmentation``).
        output_specs: The model's outputs.

    Raises:
        ConfigError: the decoder is not ``yolov8``, the prototype output is missing, or the
            head's mask coefficients do not match the prototype channels.
    """
    described = ", ".join(f"{s.name} {list(s.shape)}" for s in output_specs)
    if card.postprocess.decoder != "yolov8":
        raise ConfigError(
            f"task instance_segmentation decodes Ultralytics -seg heads: set postprocess.decoder "
            f"to yolov8 (got {card.postprocess.decoder!r})."
        )
    heads = [s for s in output_specs if len(s.shape) == 3]
    protos = [s for s in output_specs if len(s.shape) == 4]
    if len(heads) != 1 or len(protos) != 1:
        raise ConfigError(
            f"task instance_segmentation needs two outputs, a head [1, 4 + classes + masks, anchors] "
            f"and mask prototypes [1, masks, h, w]; this model has {len(output_specs)}: {described}. "
            f"Export the segmentation model with its prototype output (Ultralytics' output1), or set "
            f"task: detection to decode the boxes only."
        )
    p1, p3 = protos[0].shape[1], protos[0].shape[3]
    a, b = heads[0].shape[1:]
    if min(p1, p3, a, b) < 0:
        return  # dynamic sizes: the decoder checks them on the first frame
    n_masks = min(p1, p3)
    n_classes = len(card.labels) if card.labels else None
    channels = min(a, b) if n_classes is None or 4 + n_classes + n_masks not in (a, b) else 4 + n_classes + n_masks
    coefficients = channels - 4 - (n_classes if n_classes is not None else 1)
    if (n_classes is None and coefficients < n_masks) or (n_classes is not None and coefficients != n_masks):
        classes = f"{n_classes} classes (the card's labels)" if n_classes is not None else "at least 1 class"
        raise ConfigError(
            f"The head {heads[0].name} {list(heads[0].shape)} has {channels} channels: 4 box values + "
            f"{classes} leaves {coefficients} mask coefficients, but the prototypes {protos[0].name} "
            f"{list(protos[0].shape)} have {n_masks} channels. Fix the card's labels (one per class) or "
            f"re-export the model."
        )
