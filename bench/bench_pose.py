"""Pose (task ``pose``) decoding cost at 640, against inference.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Milliseconds of :func:`edgeinfer.postprocess.decode` for an Ultralytics pose head at 640
   (``[1, 4 + 1 + 17 * 3, 8400]``, COCO person keypoints) on a 1280x720 frame: threshold,
   NMS of 120 candidates (20 people, 6 near-duplicate anchors each, the rest of the anchors
   under the threshold), box and keypoint frame mapping. Baseline: ``Model.run`` of a
   stand-in CNN of that output shape at 640x640 through ONNX Runtime, of about the compute
   of YOLO11n-pose at 640 (its GFLOPs are in the row name). Ultralytics cannot be installed
   here, so the real network is not measured. Goal (issue #17): decoding <= 15% of inference.
2. (info) The same decode against box-only decoding (``yolov8`` detection) of the same head
   without its keypoint channels: what the keypoints add.

Both sides of a row are timed in alternating blocks (:func:`common.interleaved_ms`).

Run: ``python bench/bench_pose.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
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
KPT = 17
CHANNELS = 4 + 1 + KPT * 3
PEOPLE = 20
DUPLICATES = 6
FRAME_WH = (1280, 720)
GOAL = 0.15
POST = {"decoder": "yolov8", "kpt_shape": [KPT, 3], "score_threshold": 0.25, "iou_threshold": 0.7,
        "max_detections": 300}


def synthetic_head(seed: int = 0) -> np.ndarray:
    """``[1, CHANNELS, 8400]``: PEOPLE people of DUPLICATES anchors each, the rest faint."""
    rng = np.random.default_rng(seed)
    anchors = (SIZE // 8) ** 2 + (SIZE // 16) ** 2 + (SIZE // 32) ** 2
    head = np.zeros((1, CHANNELS, anchors), np.float32)
    head[0, :2] = rng.uniform(0, SIZE, (2, anchors))
    head[0, 2:4] = rng.uniform(8, 60, (2, anchors))
    head[0, 4] = rng.uniform(0, 0.1, anchors)
    head[0, 5::3] = rng.uniform(0, SIZE, (KPT, anchors))
    head[0, 6::3] = rng.uniform(0, SIZE, (KPT, anchors))
    head[0, 7::3] = rng.uniform(0, 1, (KPT, anchors))
    slots = rng.choice(anchors, PEOPLE * DUPLICATES, replace=False).reshape(PEOPLE, DUPLICATES)
    for person in slots:
        centre, size = rng.uniform(60, SIZE - 60, 2), rng.uniform(30, 120, 2)
        head[0, :2, person] = centre + rng.normal(0, 1.5, (DUPLICATES, 2))
        head[0, 2:4, person] = size * rng.uniform(0.95, 1.05, (DUPLICATES, 2))
        head[0, 4, person] = rng.uniform(0.3, 0.95, DUPLICATES)
    return head


def stand_in_onnx() -> tuple[Path, float]:
    """Export (once) a YOLO-like CNN with the pose output shape at 640; returns its path and GFLOPs."""
    import torch

    def finish(out: torch.Tensor) -> torch.Tensor:  # only the shapes and the compute matter here
        return torch.cat([out[:, :5].sigmoid() * SIZE, out[:, 5:]], 1)

    return yolo_stand_in_onnx(CACHE / "pose" / "pose_stand_in_640.onnx", CHANNELS, finish, SIZE)


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the pose benchmarks; ``quick`` uses fewer rounds."""
    rounds, per_round = (4, 10) if quick else (8, 25)
    head = synthetic_head()
    geometry = plan_resize(FRAME_WH, (SIZE, SIZE), mode="letterbox").geometry
    card = parse({"task": "pose", "labels": ["person"], "postprocess": POST})
    outputs = {"output0": head}
    specs = [TensorSpec("output0", head.shape, np.dtype(np.float32))]
    found = len(decode(card, outputs, specs, geometry))

    def pose_decode() -> object:
        return decode(card, outputs, specs, geometry)

    path, gflops = stand_in_onnx()
    with edgeinfer.load(path, card={"task": "pose", "labels": ["person"], "postprocess": POST,
                                    "preprocess": {"layout": "nchw"}}) as model:
        tensor = np.random.default_rng(1).uniform(0, 1, (1, 3, SIZE, SIZE)).astype(np.float32)
        vs_inference = interleaved_ms(pose_decode, lambda: model.run(tensor), rounds=rounds, per_round=per_round)
    box_post = {k: v for k, v in POST.items() if k != "kpt_shape"}
    det_card = parse({"task": "detection", "labels": ["person"], "postprocess": box_post})
    det_outputs = {"output0": np.ascontiguousarray(head[:, :5])}
    det_specs = [TensorSpec("output0", det_outputs["output0"].shape, np.dtype(np.float32))]
    vs_boxes = interleaved_ms(pose_decode, lambda: decode(det_card, det_outputs, det_specs, geometry),
                              rounds=rounds, per_round=per_round)
    return [
        row(f"pose decode at 640 ({PEOPLE * DUPLICATES} candidates, {found} kept) vs inference of a "
            f"{gflops:.1f} GFLOPs stand-in CNN (ONNX Runtime)", vs_inference.candidate_ms, "ms",
            vs_inference.baseline_ms, f"ratio <= {GOAL}", vs_inference.ratio <= GOAL, ratio=vs_inference.ratio),
        row("pose decode vs box-only yolov8 decode of the same head", vs_boxes.candidate_ms, "ms",
            vs_boxes.baseline_ms, "info", None, ratio=vs_boxes.ratio),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
