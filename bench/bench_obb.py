"""Oriented-box (task ``obb``) decoding cost at 640, against inference and axis-aligned decoding.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Milliseconds of :func:`edgeinfer.postprocess.decode` for an Ultralytics OBB head at 640
   (``[1, 4 + 15 + 1, 8400]``, DOTA's 15 classes) on a 1280x720 frame: threshold,
   rotated-IoU NMS of 240 candidates (40 objects, 6 near-duplicate anchors each, the rest
   of the anchors under the threshold), frame mapping. Baseline: ``Model.run`` of a
   stand-in CNN of that output shape at 640x640 through ONNX Runtime, of about the
   compute of YOLO11n-obb at 640 (its GFLOPs are in the row name). Ultralytics cannot be
   installed here, so the real network is not measured. Informational (the issue's 15%
   goal is for pose and seg); the ratio is the share decoding adds to inference.
2. (info) The same decode against axis-aligned detection decoding (``yolov8`` decoder,
   class-aware NMS) of the same head without its angle channel.

Both sides of a row are timed in alternating blocks (:func:`common.interleaved_ms`).

Run: ``python bench/bench_obb.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, interleaved_ms, row, yolo_stand_in_onnx

import edgeinfer
from edgeinfer.card import parse
from edgeinfer.postprocess import decode
from edgeinfer.preprocess.resize import plan_resize
from edgeinfer.types import TensorSpec

SIZE = 640
CLASSES = 15
OBJECTS = 40
DUPLICATES = 6
FRAME_WH = (1280, 720)
POST = {"decoder": "yolov8", "score_threshold": 0.25, "iou_threshold": 0.7, "max_detections": 300}


def synthetic_head(seed: int = 0) -> np.ndarray:
    """``[1, 4 + CLASSES + 1, 8400]``: OBJECTS objects of DUPLICATES anchors each, the rest faint."""
    rng = np.random.default_rng(seed)
    anchors = (SIZE // 8) ** 2 + (SIZE // 16) ** 2 + (SIZE // 32) ** 2
    head = np.zeros((1, 4 + CLASSES + 1, anchors), np.float32)
    head[0, :2] = rng.uniform(0, SIZE, (2, anchors))
    head[0, 2:4] = rng.uniform(8, 60, (2, anchors))
    head[0, 4:-1] = rng.uniform(0, 0.1, (CLASSES, anchors))
    head[0, -1] = rng.uniform(-math.pi / 4, 3 * math.pi / 4, anchors)
    slots = rng.choice(anchors, OBJECTS * DUPLICATES, replace=False).reshape(OBJECTS, DUPLICATES)
    for obj in slots:
        centre, size = rng.uniform(40, SIZE - 40, 2), rng.uniform(10, 80, 2)
        head[0, :2, obj] = centre + rng.normal(0, 1.5, (DUPLICATES, 2))
        head[0, 2:4, obj] = size * rng.uniform(0.95, 1.05, (DUPLICATES, 2))
        head[0, -1, obj] = rng.uniform(-math.pi / 4, 3 * math.pi / 4) + rng.normal(0, 0.03, DUPLICATES)
        head[0, 4 + rng.integers(CLASSES), obj] = rng.uniform(0.3, 0.95, DUPLICATES)
    return head


def stand_in_onnx() -> tuple[Path, float]:
    """Export (once) a YOLO-like CNN with the OBB output shape at 640; returns its path and GFLOPs."""
    import torch

    def finish(out: torch.Tensor) -> torch.Tensor:  # boxes in pixels, class scores, angle (radians) last
        return torch.cat([out[:, :4].sigmoid() * SIZE, out[:, 4:-1].sigmoid(),
                          (out[:, -1:].sigmoid() - 0.25) * math.pi], 1)

    return yolo_stand_in_onnx(CACHE / "obb" / "obb_stand_in_640_v2.onnx", 4 + CLASSES + 1, finish, SIZE)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the OBB benchmarks; ``quick`` uses fewer rounds."""
    rounds, per_round = (4, 10) if quick else (8, 25)
    head = synthetic_head()
    geometry = plan_resize(FRAME_WH, (SIZE, SIZE), mode="letterbox").geometry
    card = parse({"task": "obb", "labels": [f"c{i}" for i in range(CLASSES)], "postprocess": POST})
    outputs = {"output0": head}
    specs = [TensorSpec("output0", head.shape, np.dtype(np.float32))]
    found = len(decode(card, outputs, specs, geometry))

    def obb_decode() -> object:
        return decode(card, outputs, specs, geometry)

    path, gflops = stand_in_onnx()
    with edgeinfer.load(path, card={"task": "obb", "labels": list(card.labels or ()), "postprocess": POST,
                                    "preprocess": {"layout": "nchw"}}) as model:
        tensor = np.random.default_rng(1).uniform(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
        vs_inference = interleaved_ms(obb_decode, lambda: model.run(tensor), rounds=rounds, per_round=per_round)
    det_card = parse({"task": "detection", "labels": list(card.labels or ()), "postprocess": POST})
    det_outputs = {"output0": np.ascontiguousarray(head[:, :-1])}
    det_specs = [TensorSpec("output0", det_outputs["output0"].shape, np.dtype(np.float32))]
    vs_detection = interleaved_ms(obb_decode, lambda: decode(det_card, det_outputs, det_specs, geometry),
                                  rounds=rounds, per_round=per_round)
    return [
        row(f"OBB decode at 640 ({OBJECTS * DUPLICATES} candidates, {found} kept) vs inference of a "
            f"{gflops:.1f} GFLOPs stand-in CNN (ONNX Runtime)", vs_inference.candidate_ms, "ms",
            vs_inference.baseline_ms, "info", None, ratio=vs_inference.ratio),
        row("OBB decode vs axis-aligned yolov8 decode of the same head", vs_detection.candidate_ms, "ms",
            vs_detection.baseline_ms, "info", None, ratio=vs_detection.ratio),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
