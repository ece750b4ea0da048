"""Benchmark edgeinfer preprocessing against the usual ways of doing the same transform.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. 1920x1080 BGR -> 224x224 float32 NCHW, ImageNet mean/std, stretch with INTER_LINEAR,
   against ``cv2.dnn.blobFromImageWithParams`` doing the same transform. Goal: ratio <= 1.
2. 1920x1080 BGR -> 320x320 letterbox int8 NHWC (ImageNet normalisation folded into the
   input's quantization), INTER_LINEAR as in the usual YOLO letterbox, against naive
   numpy (float frame, normalise, quantize with round/clip). Goal: ratio <= 0.25.
3. As 2 but with the card default ``interpolation: auto`` (INTER_AREA when shrinking) on
   both sides. Informational (no goal): the identical ``cv2.resize`` call dominates both.

Both sides of a row are timed in the same run, interleaved, and the median of many
repetitions is reported. Both sides are checked to produce the same tensor first.

Run: ``python bench/bench_preprocess.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from edgeinfer.card import LetterboxSpec, PreprocessSpec
from edgeinfer.preprocess import build_preprocessor
from edgeinfer.types import TensorSpec

MEAN_RGB = (123.675, 116.28, 103.53)
STD_RGB = (58.395, 57.12, 57.375)
INT8_QUANT = (0.0187, -14)  # covers the ImageNet-normalised range [-2.1, 2.6]


def make_frame() -> np.ndarray:
    """A 1920x1080 BGR frame made from a real photo (scikit-image's coffee), else noise."""
    try:
        from skimage.data import coffee

        rgb = coffee()
    except ImportError:
        rgb = np.random.default_rng(0).integers(0, 256, (400, 600, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(rgb[:, :, ::-1], (1920, 1080), interpolation=cv2.INTER_LINEAR))


def time_pair(ours: Callable[[], Any], baseline: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median milliseconds of ``ours`` and ``baseline``, timed interleaved."""
    for _ in range(max(3, repeat // 10)):
        ours()
        baseline()
    ours_s, base_s = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        ours()
        mid = time.perf_counter()
        baseline()
        ours_s.append(mid - start)
        base_s.append(time.perf_counter() - mid)
    return float(np.median(ours_s) * 1e3), float(np.median(base_s) * 1e3)


def row(name: str, ours_ms: float, base_ms: float, goal: float | None) -> dict[str, Any]:
    """One result row; ``ratio`` is ours / baseline (lower is better)."""
    ratio = ours_ms / base_ms
    return {
        "name": name, "value": round(ours_ms, 4), "unit": "ms", "baseline": round(base_ms, 4),
        "ratio": round(ratio, 4), "goal": goal, "passed": None if goal is None else bool(ratio <= goal),
    }


def bench_blob(frame: np.ndarray, repeat: int) -> dict[str, Any]:
    """Row 1: 224x224 float NCHW normalised, against cv2.dnn.blobFromImageWithParams."""
    spec = PreprocessSpec(color="rgb", resize="stretch", mean=MEAN_RGB, std=STD_RGB, interpolation="linear")
    pre = build_preprocessor(spec, TensorSpec("input", (1, 3, 224, 224), np.dtype(np.float32)))
    params = cv2.dnn.Image2BlobParams()
    params.scalefactor = (*(1.0 / s for s in STD_RGB), 1.0)
    params.size = (224, 224)
    params.mean = (*MEAN_RGB, 0.0)
    params.swapRB = True
    params.ddepth = cv2.CV_32F

    def baseline() -> np.ndarray:
        return cv2.dnn.blobFromImageWithParams(frame, params)

    np.testing.assert_allclose(pre(frame)[0], baseline(), atol=1e-4)  # the same transform
    ours_ms, base_ms = time_pair(lambda: pre(frame), baseline, repeat)
    return row("1080p BGR -> 224x224 float32 NCHW imagenet (vs cv2.dnn.blobFromImage)", ours_ms, base_ms, 1.0)


def naive_letterbox_int8(frame: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    """The plain numpy way: colour, resize, pad, float, normalise, quantize."""
    rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    s = min(size / w, size / h)
    nw, nh = round(w * s), round(h * s)
    small = cv2.resize(rgb, (nw, nh), interpolation=interpolation)
    canvas = np.full((size, size, 3), 114, np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top:top + nh, left:left + nw] = small
    x = (canvas.astype(np.float32) - np.float32(MEAN_RGB)) / np.float32(STD_RGB)
    scale, zero_point = INT8_QUANT
    return np.clip(np.round(x / scale + zero_point), -128, 127).astype(np.int8)[None]


def bench_letterbox(frame: np.ndarray, repeat: int, interpolation: str) -> dict[str, Any]:
    """Rows 2 and 3: 320x320 letterbox int8 NHWC, against naive numpy float math."""
    spec = PreprocessSpec(color="rgb", resize="letterbox", letterbox=LetterboxSpec(pad_value=114),
                          mean=MEAN_RGB, std=STD_RGB, interpolation=interpolation)
    pre = build_preprocessor(spec, TensorSpec("images", (1, 320, 320, 3), np.dtype(np.int8), INT8_QUANT))
    flag = cv2.INTER_LINEAR if interpolation == "linear" else cv2.INTER_AREA

    def baseline() -> np.ndarray:
        return naive_letterbox_int8(frame, 320, flag)

    diff = np.abs(pre(frame)[0].astype(np.int16) - baseline().astype(np.int16))
    assert diff.max() <= 1, "not the same transform"  # rounding at .5 may differ by one step
    ours_ms, base_ms = time_pair(lambda: pre(frame), baseline, repeat)
    name = f"1080p BGR -> 320x320 letterbox int8 NHWC, {interpolation} (vs naive numpy float)"
    return row(name, ours_ms, base_ms, 0.25 if interpolation == "linear" else None)


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` uses fewer repetitions."""
    frame = make_frame()
    repeat = 30 if quick else 300
    return [
        bench_blob(frame, repeat),
        bench_letterbox(frame, repeat, "linear"),
        bench_letterbox(frame, max(10, repeat // 5), "auto"),
    ]


def main() -> None:
    """Print the rows as a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    print(f"{'benchmark':<82} {'ours':>9} {'baseline':>9} {'ratio':>7} {'goal':>6}  result")
    for r in run(args.quick):
        goal = "-" if r["goal"] is None else f"<={r['goal']}"
        result = "info" if r["passed"] is None else ("PASS" if r["passed"] else "FAIL")
        times = f"{r['value']:>7.3f}ms {r['baseline']:>7.3f}ms"
        print(f"{r['name']:<82} {times} {r['ratio']:>7.3f} {goal:>6}  {result}")


if __name__ == "__main__":
    main()
