"""A tiny real detector with the Ultralytics YOLOv8 output layout, trained in the test.

No model hub is reachable from the tests, so the end-to-end detection tests train their
own detector on the real-photo scenes of :mod:`tests.e2e.scenes`. A small CNN learns to
find the pasted ``cat`` and ``cup``; its export wrapper returns exactly what an
Ultralytics YOLOv8 detect export returns: ``[1, 4 + classes, anchors]`` with centre-size
boxes in model-input pixels and sigmoid class scores, no objectness. ``build_detector``
writes it as ONNX and as int8 TFLite through ``converters`` with a detection card.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tests.e2e.scenes import INPUT_SIZE, LABELS, SceneSampler

__all__ = [
    "CARD",
    "BuiltDetector",
    "TinyDetector",
    "YoloV8Head",
    "build_detector",
    "train_detector",
]

STRIDE = 16
GRID = INPUT_SIZE // STRIDE
CARD: dict[str, Any] = {
    "task": "detection",
    "labels": list(LABELS),
    "preprocess": {"color": "rgb", "resize": "letterbox", "size_wh": [INPUT_SIZE, INPUT_SIZE],
                   "mean": 0.0, "std": 255.0},
    "postprocess": {"decoder": "yolov8", "score_threshold": 0.5, "iou_threshold": 0.45},
}


# -- the network ---------------------------------------------------------------------------


def _block(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, kernel, stride, dilation * (kernel - 1) // 2, dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU())


class TinyDetector(nn.Module):
    """Stride-16 anchor-free detector: per grid cell, 4 box logits and one logit per class.

    Input ``(B, 3, 128, 128)`` float32 RGB in 0..1; output ``(B, 4 + classes, 8, 8)`` logits.
    About 9 M multiply-adds per image (a 4x4 patch stem, then 3x3 convolutions, the last
    one dilated so a cell sees about 100 pixels), so it trains in a minute on two CPU cores.
    """

    def __init__(self, num_classes: int = len(LABELS)) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _block(3, 24, kernel=4, stride=4), _block(24, 48, stride=2), _block(48, 64, stride=2),
            _block(64, 96, dilation=2),
        )
        self.head = nn.Conv2d(96, 4 + num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def decode_boxes(raw: torch.Tensor) -> torch.Tensor:
    """Box logits ``(B, 4, G, G)`` to centre-size boxes ``(B, 4, G*G)`` in input pixels.

    The centre may move two cells from its cell's centre; the size is ``128 * sigmoid(t)``
    pixels. Sigmoid rather than the usual ``exp``: bounded outputs survive int8 calibration
    (the int8 TFLite export saturated ``exp`` at 3.5, so no box grew past 55 pixels).
    """
    g = raw.shape[-1]
    steps = torch.arange(g, dtype=raw.dtype, device=raw.device) + 0.5
    grid_x = steps.view(1, g).expand(g, g).reshape(1, -1)
    grid_y = steps.view(g, 1).expand(g, g).reshape(1, -1)
    flat = raw.flatten(2)
    cx = (grid_x + 4 * torch.sigmoid(flat[:, 0]) - 2) * STRIDE
    cy = (grid_y + 4 * torch.sigmoid(flat[:, 1]) - 2) * STRIDE
    wh = torch.sigmoid(flat[:, 2:4]) * INPUT_SIZE
    return torch.cat([cx[:, None], cy[:, None], wh], dim=1)


class YoloV8Head(nn.Module):
    """Export wrapper: ``(1, 3, 128, 128)`` 0..1 RGB -> ``(1, 4 + classes, 64)`` YOLOv8 layout.

    Rows 0-3 are ``cx, cy, w, h`` in input pixels (``normalised=True``: in 0..1 of the input
    size, as Ultralytics TFLite exports give them); the rest are sigmoid class scores.
    """

    def __init__(self, detector: TinyDetector, *, normalised: bool = False) -> None:
        super().__init__()
        self.detector = detector
        self.normalised = normalised

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw = self.detector(x)
        boxes = decode_boxes(raw[:, :4])
        if self.normalised:
            boxes = torch.clamp(boxes / INPUT_SIZE, 0.0, 1.0)
        scores = torch.sigmoid(raw[:, 4:].flatten(2))
        return torch.cat([boxes, scores], dim=1)


# -- training ------------------------------------------------------------------------------


def to_tensor(scenes_bgr: np.ndarray) -> torch.Tensor:
    """``(B, H, W, 3)`` BGR uint8 to ``(B, 3, H, W)`` RGB float32 in 0..1, as the card says."""
    rgb = np.ascontiguousarray(scenes_bgr[..., ::-1].transpose(0, 3, 1, 2))
    return torch.from_numpy(rgb).float().div_(255.0)


def _assign(targets: list[np.ndarray], num_classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per cell: class targets ``(B, C, G*G)``, a positive mask ``(B, G*G)`` and boxes ``(B, 4, G*G)`` xyxy.

    A cell is positive for a box when its centre lies within one stride of the box centre
    and inside the box; the cell holding the centre always is. Smaller boxes win ties.
    """
    n = len(targets)
    cls = torch.zeros(n, num_classes, GRID * GRID)
    pos = torch.zeros(n, GRID * GRID, dtype=torch.bool)
    boxes = torch.zeros(n, 4, GRID * GRID)
    centres = (np.arange(GRID) + 0.5) * STRIDE
    for i, target in enumerate(targets):
        for c, x1, y1, x2, y2 in sorted(target.tolist(), key=lambda t: -(t[3] - t[1]) * (t[4] - t[2])):
            bx, by = (x1 + x2) / 2, (y1 + y2) / 2
            near_x = (np.abs(centres - bx) < STRIDE) & (centres > x1) & (centres < x2)
            near_y = (np.abs(centres - by) < STRIDE) & (centres > y1) & (centres < y2)
            near_x[min(int(bx // STRIDE), GRID - 1)] = True
            near_y[min(int(by // STRIDE), GRID - 1)] = True
            cells = torch.from_numpy((near_y[:, None] & near_x[None, :]).reshape(-1))
            cls[i, :, cells] = 0.0
            cls[i, int(c), cells] = 1.0
            pos[i, cells] = True
            boxes[i, :, cells] = torch.tensor([x1, y1, x2, y2])[:, None]
    return cls, pos, boxes


def _giou(pred_cxcywh: torch.Tensor, gt_xyxy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """GIoU and IoU of ``(N, 4)`` centre-size predictions against ``(N, 4)`` xyxy boxes."""
    p = torch.cat([pred_cxcywh[:, :2] - pred_cxcywh[:, 2:] / 2, pred_cxcywh[:, :2] + pred_cxcywh[:, 2:] / 2], 1)
    lt, rb = torch.max(p[:, :2], gt_xyxy[:, :2]), torch.min(p[:, 2:], gt_xyxy[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area_p = (p[:, 2:] - p[:, :2]).prod(1)
    area_g = (gt_xyxy[:, 2:] - gt_xyxy[:, :2]).prod(1)
    union = area_p + area_g - inter
    hull = (torch.max(p[:, 2:], gt_xyxy[:, 2:]) - torch.min(p[:, :2], gt_xyxy[:, :2])).prod(1)
    iou = inter / union
    return iou - (hull - union) / hull, iou


def _loss(model: TinyDetector, scenes: np.ndarray, targets: list[np.ndarray]) -> torch.Tensor:
    """Class BCE + box GIoU + L1. A positive cell's class target is the IoU of its own box
    (as YOLOv8's task-aligned targets), so the score ranks boxes by quality for NMS."""
    raw = model(to_tensor(scenes))
    cls_t, pos, gt = _assign(targets, raw.shape[1] - 4)
    logits = raw[:, 4:].flatten(2)
    n_pos = max(int(pos.sum()), 1)
    if not pos.any():
        return F.binary_cross_entropy_with_logits(logits, cls_t, reduction="sum") / n_pos
    pred = decode_boxes(raw[:, :4]).permute(0, 2, 1)[pos]
    gt_pos = gt.permute(0, 2, 1)[pos]
    giou, iou = _giou(pred, gt_pos)
    quality = torch.zeros_like(pos, dtype=cls_t.dtype)
    quality[pos] = iou.detach().clamp(min=0.0)
    loss_cls = F.binary_cross_entropy_with_logits(logits, cls_t * quality[:, None], reduction="sum") / n_pos
    gt_cxcywh = torch.cat([(gt_pos[:, :2] + gt_pos[:, 2:]) / 2, gt_pos[:, 2:] - gt_pos[:, :2]], 1)
    loss_l1 = F.l1_loss(pred / STRIDE, gt_cxcywh / STRIDE)
    return loss_cls + 2.0 * (1 - giou).mean() + 0.5 * loss_l1


def train_detector(steps: int = 800, batch: int = 32, seed: int = 0, lr: float = 6e-3) -> TinyDetector:
    """Train a :class:`TinyDetector` on synthetic scenes of real photos, deterministically.

    Runs on one CPU thread: with two OpenMP threads on two cores shared with other work, a
    step took 20 times longer (threads spin at barriers while the other is descheduled).
    The caller restores ``torch.get_num_threads()`` if it cares.

    Args:
        steps: Optimiser steps.
        batch: Scenes per step.
        seed: Seed of torch and of the scene sampler.
        lr: Peak learning rate of the one-cycle schedule.

    Returns:
        The trained detector in eval mode.
    """
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    sampler = SceneSampler(seed)
    model = TinyDetector()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.15)
    model.train()
    for _ in range(steps):
        scenes, targets = sampler.batch(batch)
        loss = _loss(model, scenes, targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
    return model.eval()


# -- artifacts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltDetector:
    """What :func:`build_detector` made: model files and how long each stage took."""

    onnx_path: Path
    tflite_path: Path | None
    train_seconds: float
    export_seconds: float
    notes: list[str] = field(default_factory=list)


def build_detector(out_dir: Path, *, steps: int = 800, seed: int = 0) -> BuiltDetector:
    """Train the detector and write ``detector.onnx`` and ``detector.tflite`` with their cards.

    Both go through ``converters.convert`` (so the e2e tests also prove that path); without
    the ``converters`` package the ONNX file is written with ``torch.onnx.export`` and
    ``tflite_path`` is ``None``. A conversion that fails raises.

    Returns:
        The paths, training and export seconds, and notes on how each file was made.
    """
    started = time.perf_counter()
    detector = train_detector(steps=steps, seed=seed)
    trained = time.perf_counter()
    notes: list[str] = []
    onnx_path = out_dir / "detector.onnx"
    tflite_path: Path | None = out_dir / "detector.tflite"
    try:
        import converters  # noqa: F401
    except ImportError as exc:
        notes.append(f"converters not importable ({exc}): ONNX by torch.onnx.export, no TFLite")
        export_onnx_directly(YoloV8Head(detector), onnx_path)
        tflite_path = None
    else:
        export_onnx(YoloV8Head(detector), onnx_path)
        export_tflite(YoloV8Head(detector, normalised=True), tflite_path)  # type: ignore[arg-type]
    return BuiltDetector(onnx_path, tflite_path, trained - started, time.perf_counter() - trained, notes)


def calibration_inputs(count: int = 64, seed: int = 1) -> list[np.ndarray]:
    """Return ``count`` preprocessed scenes, ``(1, 3, 128, 128)`` float32, for int8 calibration."""
    scenes, _ = SceneSampler(seed).batch(count)
    return [t[None].numpy() for t in to_tensor(scenes)]


def export_onnx(head: YoloV8Head, path: Path) -> None:
    """Write ``head`` as float32 ONNX (NCHW input) with the detection card, via ``converters``."""
    import converters

    converters.convert(head, to="onnx", input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE), out=path,
                       card=CARD, verbose=False)


def export_onnx_directly(head: YoloV8Head, path: Path) -> None:
    """Write ``head`` as ONNX with ``torch.onnx.export`` and embed the card."""
    from edgeinfer.card import write

    example = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(head, (example,), str(path), dynamo=True, external_data=False, opset_version=18,
                      input_names=["images"], output_names=["output0"], verbose=False)
    write(path, {**CARD, "preprocess": {**CARD["preprocess"], "layout": "nchw"}})


def export_tflite(head: YoloV8Head, path: Path) -> None:
    """Write ``head`` as full-int8 TFLite (float32 I/O, NHWC input) with the card, via ``converters``.

    Boxes must be normalised here: one int8 scale cannot carry both 0..128 pixel
    coordinates and 0..1 scores (scores would keep about two bits), which is why
    Ultralytics TFLite exports normalise boxes too.
    """
    import converters

    converters.convert(head, to="tflite", quantize="int8", calibration=calibration_inputs(),
                       input_shape=(1, 3, INPUT_SIZE, INPUT_SIZE), out=path, card=CARD, verbose=False)
