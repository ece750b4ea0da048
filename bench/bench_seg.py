"""Instance segmentation decoding: its cost as a share of inference at 640.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Milliseconds of :func:`edgeinfer.postprocess.decode` for an Ultralytics ``-seg`` layout
   (head ``[1, 116, 8400]``: 4 box values, 80 classes, 32 mask coefficients; prototypes
   ``[1, 32, 160, 160]``), 20 objects on a 1280x720 frame letterboxed to 640 (threshold,
   NMS over 8 anchors per object, prototype masks cropped, upsampled and mapped to the
   frame), against ``Model.run`` of a 640 model with those two outputs, in alternating
   rounds. Goal: decode <= 15% of inference.
2. The same with 100 smaller objects (a crowd: 20-120 px; the card's default
   ``max_detections``), reported.
3. (info) ``to_dict()`` with polygons for the 20 objects (what MQTT would publish).

The model is built in torch (``ultralytics`` cannot be installed here): a plain strided CNN
(about 3 GMAC, half of YOLOv8n-seg's 6.3 GMAC or 12.6 GFLOPs, so a real model makes the
share smaller)
with a stride 8/16/32 head flattened to 8400 anchors and a prototype branch at stride 4,
exported with ``torch.onnx.export`` and run by ONNX Runtime through ``edgeinfer.load``. Its
random weights give meaningless detections, so the outputs decoded are made here with the
model's shapes: objects of 40-320 input px (80-640 frame px) with smooth random masks, duplicates for NMS, and
sub-threshold scores everywhere else.

Run: ``python bench/bench_seg.py [--quick]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import CACHE, interleaved_ms, row

import edgeinfer
from edgeinfer.postprocess import decode
from edgeinfer.types import Geometry

SIZE = 640
CLASSES = 80
MASKS = 32
FRAME_WH = (1280, 720)
CARD: dict[str, Any] = {
    "task": "instance_segmentation", "labels": [f"class{i}" for i in range(CLASSES)],
    "preprocess": {"resize": "letterbox", "mean": 0.0, "std": 255.0, "layout": "nchw", "size_wh": [SIZE, SIZE]},
    "postprocess": {"decoder": "yolov8", "score_threshold": 0.25, "iou_threshold": 0.7, "max_detections": 100},
}


def seg_onnx() -> Path:
    """Export (once) a 640 CNN with Ultralytics' seg outputs: head [1, 116, 8400], protos [1, 32, 160, 160]."""
    path = CACHE / "seg" / "seg640.onnx"
    if path.exists():
        return path
    import torch
    from torch import nn

    def block(c_in: int, c_out: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.SiLU())

    class Seg640(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s4 = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 32, 1))
            self.s8 = nn.Sequential(block(32, 64, 2), block(64, 64, 1))
            self.s16 = nn.Sequential(block(64, 128, 2), block(128, 128, 1))
            self.s32 = nn.Sequential(block(128, 256, 2), block(256, 256, 1))
            channels = 4 + CLASSES + MASKS
            self.heads = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in (64, 128, 256))
            self.proto = nn.Sequential(block(32, 64, 1), block(64, 64, 1), nn.Conv2d(64, MASKS, 1))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f4 = self.s4(x)
            f8 = self.s8(f4)
            f16 = self.s16(f8)
            f32 = self.s32(f16)
            head = torch.cat([h(f).flatten(2) for h, f in zip(self.heads, (f8, f16, f32), strict=True)], 2)
            return head, self.proto(f4)

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        torch.onnx.export(Seg640().eval(), (torch.zeros(1, 3, SIZE, SIZE),), str(path), dynamo=True,
                          external_data=False, opset_version=18, input_names=["images"],
                          output_names=["output0", "output1"])
    return path


def outputs(objects: int, sizes: tuple[float, float], seed: int = 0) -> dict[str, np.ndarray]:
    """Seg outputs with ``objects`` objects of ``sizes`` input px (8 anchors each, scores falling)."""
    rng = np.random.default_rng(seed)
    anchors = 8400
    rows = np.zeros((anchors, 4 + CLASSES + MASKS), np.float32)
    rows[:, :2] = rng.uniform(0, SIZE, (anchors, 2))
    rows[:, 2:4] = rng.uniform(8, 64, (anchors, 2))
    rows[:, 4 : 4 + CLASSES] = rng.uniform(0, 0.05, (anchors, CLASSES))
    rows[:, 4 + CLASSES :] = rng.normal(0, 1, (anchors, MASKS))
    picked = rng.choice(anchors, objects * 8, replace=False).reshape(objects, 8)
    for anchors_of in picked:
        size = rng.uniform(*sizes, 2)
        centre = rng.uniform(size / 2, SIZE - size / 2)
        cls = rng.integers(CLASSES)
        coeffs = rng.normal(0, 1, MASKS)
        for k, a in enumerate(anchors_of):
            rows[a, :2] = centre + rng.normal(0, 2, 2)
            rows[a, 2:4] = size * rng.uniform(0.95, 1.05, 2)
            rows[a, 4 + cls] = 0.9 - 0.05 * k
            rows[a, 4 + CLASSES :] = coeffs
    coarse = rng.normal(0, 1, (MASKS, 20, 20)).astype(np.float32)
    protos = np.stack([cv2.resize(c, (160, 160), interpolation=cv2.INTER_CUBIC) for c in coarse])
    return {"output0": rows.T[None].copy(), "output1": protos[None].astype(np.float32)}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Decode time against inference time at 640, for 20 and 100 objects."""
    rounds, per_round = (3, 5) if quick else (7, 10)
    w, h = FRAME_WH
    scale = SIZE / w
    geometry = Geometry(FRAME_WH, (SIZE, SIZE), (scale, scale), (0.0, (SIZE - h * scale) / 2))
    rows = []
    with edgeinfer.load(seg_onnx(), card=CARD) as model:
        x = np.random.default_rng(0).uniform(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
        specs = list(model.outputs)
        for objects, sizes in ((20, (40.0, 320.0)), (100, (20.0, 120.0))):
            outs = outputs(objects, sizes)
            result = decode(model.card, outs, specs, geometry)
            timed = interleaved_ms(lambda outs=outs: decode(model.card, outs, specs, geometry),
                                   lambda: model.run(x), rounds=rounds, per_round=per_round, warmup=2)
            goal = "<= 15% of inference" if objects == 20 else "reported"
            rows.append(row(
                f"seg decode, {len(result)} objects of {sizes[0]:.0f}-{sizes[1]:.0f} px at 640, 1280x720 frame, "
                f"vs Model.run of a 640 seg CNN (ONNX)",
                timed.candidate_ms, "ms", timed.baseline_ms, goal, timed.ratio <= 0.15 if objects == 20 else None,
                ratio=timed.ratio, objects=len(result),
            ))
            if objects == 20:
                payload = interleaved_ms(result.to_dict, lambda: None, rounds=rounds, per_round=per_round)
                rows.append(row(f"seg to_dict with polygons, {len(result)} objects", payload.candidate_ms, "ms",
                                None, "info", None, bytes=len(json.dumps(result.to_dict()))))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(r)
