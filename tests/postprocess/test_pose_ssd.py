"""Pose with decoder ssd: BlazeFace-style raw anchors (MediaPipe anchor grid) with keypoints.

The model is a real ONNX graph (onnx.helper) emitting fixed regressors ``[1, N, 4 + 2K]``
and score logits ``[1, N, 1]`` (plus 0 x the image, so it reads its input); the result is
compared with a reference decoder written below, over an anchor grid also built below.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.card_schema import SsdAnchorsSpec
from edgeinfer.errors import ConfigError
from edgeinfer.postprocess.ssd_anchors import ssd_anchors
from edgeinfer.results import Poses

pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")

SIZE = 32
K = 3
ANCHORS: dict[str, Any] = {"num_layers": 2, "strides": [8, 16], "min_scale": 0.2, "max_scale": 0.6}
CARD: dict[str, Any] = {
    "task": "pose", "labels": ["face"],
    "preprocess": {"resize": "letterbox", "size_wh": [SIZE, SIZE], "std": 255.0, "layout": "nchw"},
    "postprocess": {"decoder": "ssd", "kpt_shape": [K, 2], "score_threshold": 0.5, "iou_threshold": 0.3,
                    "anchors": ANCHORS},
}


def reference_anchors() -> np.ndarray:
    """Fixed-size anchors of ANCHORS: per cell of each stride, 2 anchors (ratio 1 + interpolated)."""
    out = []
    for stride in (8, 16):
        cells = SIZE // stride
        for y in range(cells):
            for x in range(cells):
                out += [((x + 0.5) / cells, (y + 0.5) / cells)] * 2
    return np.asarray(out)


def outputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(reference_anchors())
    regressors = rng.normal(0, 2.0, (1, n, 4 + 2 * K)).astype(np.float32)
    regressors[0, :, 2:4] = rng.uniform(6, 12, (n, 2))  # box sizes 6..12 input pixels
    logits = np.full((1, n, 1), -5.0, np.float32)
    logits[0, [5, 6, 21, 33], 0] = [3.0, 1.0, 2.0, 0.5]  # 5 and 6 share a cell: NMS keeps 5
    return regressors, logits


def reference_decode(regressors: np.ndarray, logits: np.ndarray, frame_wh: tuple[int, int]) -> list[Any]:
    scale = min(SIZE / frame_wh[0], SIZE / frame_wh[1])
    pad = np.array([(SIZE - frame_wh[0] * scale) / 2, (SIZE - frame_wh[1] * scale) / 2])
    found = []
    for (ax, ay), raw, logit in zip(reference_anchors(), regressors[0], logits[0, :, 0], strict=True):
        score = 1 / (1 + math.exp(-logit))
        if score < 0.5:
            continue
        cx, cy = raw[0] + ax * SIZE, raw[1] + ay * SIZE  # x_scale = input size, anchor w = 1
        box = np.array([cx - raw[2] / 2, cy - raw[3] / 2, cx + raw[2] / 2, cy + raw[3] / 2])
        kpts = raw[4:].reshape(K, 2) + np.array([ax, ay]) * SIZE
        found.append((score, box, kpts))
    found.sort(key=lambda f: -f[0])
    kept: list[Any] = []
    for item in found:
        if all(_iou(item[1], other[1]) <= 0.3 for other in kept):
            kept.append(item)
    return [(s, ((b.reshape(2, 2) - pad) / scale).reshape(4).clip(0, [*frame_wh, *frame_wh]),
             ((k - pad) / scale).clip(0, frame_wh)) for s, b, k in kept]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def ssd_model(path: Path, regressors: np.ndarray, logits: np.ndarray) -> Path:
    """ONNX graph: image [1, 3, 32, 32] -> (regressors, classificators) + 0 * mean(image)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["reg_c", "nothing"], ["regressors"]),
             helper.make_node("Add", ["cls_c", "nothing"], ["classificators"])]
    graph = helper.make_graph(
        nodes, "blaze",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("regressors", TensorProto.FLOAT, list(regressors.shape)),
         helper.make_tensor_value_info("classificators", TensorProto.FLOAT, list(logits.shape))],
        initializer=[numpy_helper.from_array(regressors, "reg_c"), numpy_helper.from_array(logits, "cls_c"),
                     numpy_helper.from_array(np.zeros(1, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize(("options", "size", "count"), [
    ({}, 128, 896),  # the defaults: BlazeFace short range, as in the README's card
    ({"num_layers": 4, "strides": [8, 16, 16, 16]}, 128, 896),
    ({"num_layers": 4, "strides": [16, 32, 32, 32]}, 256, 896),  # BlazeFace back camera
    ({"num_layers": 1, "strides": [4], "interpolated_scale_aspect_ratio": 0.0}, 192, 2304),  # full range
])
def test_mediapipe_anchor_counts(options: dict[str, Any], size: int, count: int) -> None:
    grid = ssd_anchors(SsdAnchorsSpec(**options), (size, size))
    assert grid.shape == (count, 4)
    first_stride = options.get("strides", [8])[0]
    np.testing.assert_allclose(grid[0], [first_stride / 2 / size] * 2 + [1.0, 1.0])


def test_anchor_sizes_when_not_fixed() -> None:
    spec = SsdAnchorsSpec(num_layers=2, strides=(8, 16), min_scale=0.2, max_scale=0.6, aspect_ratios=(1.0, 2.0),
                          fixed_anchor_size=False)
    grid = ssd_anchors(spec, (SIZE, SIZE))
    r2 = math.sqrt(2.0)
    np.testing.assert_allclose(grid[:3, 2:], [[0.2, 0.2], [0.2 * r2, 0.2 / r2], [math.sqrt(0.12)] * 2], rtol=1e-6)
    np.testing.assert_allclose(grid[16 * 3, 2:], [0.6, 0.6], rtol=1e-6)  # first anchor of the stride-16 layer
    np.testing.assert_allclose(grid[16 * 3 + 2, 2:], [math.sqrt(0.6)] * 2, rtol=1e-6)  # interpolated to 1.0
    assert len(grid) == 16 * 3 + 4 * 3


@pytest.mark.parametrize("frame_wh", [(SIZE, SIZE), (80, 40)])
def test_ssd_keypoints_match_reference(tmp_path: Path, frame_wh: tuple[int, int]) -> None:
    regressors, logits = outputs()
    image = np.random.default_rng(1).integers(0, 256, (frame_wh[1], frame_wh[0], 3), dtype=np.uint8)
    with edgeinfer.load(ssd_model(tmp_path / "blaze.onnx", regressors, logits), card=CARD) as model:
        result = model.predict(image)
    reference = [r for r in reference_decode(regressors, logits, frame_wh) if r[1][2] > r[1][0] and r[1][3] > r[1][1]]
    assert isinstance(result, Poses) and len(result) == len(reference) >= 2
    assert result.keypoints.shape == (len(result), K, 3) and result.skeleton is None
    for i, (score, box, kpts) in enumerate(reference):
        assert result.scores[i] == pytest.approx(score, abs=1e-5)
        np.testing.assert_allclose(result.boxes_xyxy[i], box, atol=1e-3)
        np.testing.assert_allclose(result.keypoints[i, :, :2], kpts, atol=1e-3)
        np.testing.assert_allclose(result.keypoints[i, :, 2], score, atol=1e-5)  # keypoint score = detection's
    assert edgeinfer.draw(image, result).shape == image.shape


@pytest.mark.parametrize(("change", "message"), [
    ({"anchors": {**ANCHORS, "num_layers": 1, "strides": [8]}}, r"32 anchors .* has 40"),
    ({"kpt_shape": [4, 2]}, r"kpt_shape \[4, 2\] needs 4 \+ 4\*2 = 12 values"),
    ({"anchors": None}, r"needs postprocess.anchors"),
    ({"decoder": "yolov5"}, r"no 'yolov5' decoder"),
])
def test_bad_ssd_card_fails_at_load(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    regressors, logits = outputs()
    postprocess = {k: v for k, v in {**CARD["postprocess"], **change}.items() if v is not None}
    path = ssd_model(tmp_path / "blaze.onnx", regressors, logits)
    with pytest.raises(ConfigError, match=message):
        edgeinfer.load(path, card={**CARD, "postprocess": postprocess})
