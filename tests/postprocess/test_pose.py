"""Pose: an Ultralytics-layout pose head built in torch, exported to ONNX, decoded end to end.

Ultralytics itself cannot be installed here, so its export layout is rebuilt in torch
(:mod:`tests.postprocess.pose_model`) and every result is compared with a plain reference
decoder written below: a loop over anchors, a greedy NMS and the letterbox arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import ConfigError
from edgeinfer.results import COCO_SKELETON, Detections, Poses
from tests.postprocess.pose_model import CHANNELS, IMGSZ_HW, NAMES, NUM_KPT, export_pose_onnx, with_metadata

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")

H, W = IMGSZ_HW
CARD: dict[str, Any] = {
    "task": "pose", "labels": list(NAMES),
    "preprocess": {"resize": "letterbox", "size_wh": [W, H], "std": 255.0, "layout": "nchw"},
    "postprocess": {"decoder": "yolov8", "kpt_shape": [NUM_KPT, 3], "score_threshold": 0.25,
                    "iou_threshold": 0.45},
}


@pytest.fixture(scope="session")
def pose_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_pose_onnx(tmp_path_factory.mktemp("pose") / "pose.onnx")


def frame(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def head_output(path: Path) -> np.ndarray:
    """The raw head for any input (the image moves it by < 1e-3), from onnxruntime directly."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"images": np.full((1, 3, H, W), 0.5, np.float32)})[0]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_decode(head: np.ndarray, frame_wh: tuple[int, int], score_min: float = 0.25,
                     iou_max: float = 0.45) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Straightforward pose decoding: ``(score, box xyxy, keypoints [K, 3])`` in frame pixels."""
    scale = min(W / frame_wh[0], H / frame_wh[1])
    pad = np.array([(W - frame_wh[0] * scale) / 2, (H - frame_wh[1] * scale) / 2])
    found = []
    for column in head[0].T:
        cx, cy, bw, bh, score = column[:5]
        if score < score_min:
            continue
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        kpts = column[5:].reshape(NUM_KPT, 3).astype(np.float64)
        found.append((float(score), box, kpts))
    found.sort(key=lambda item: -item[0])
    kept: list[tuple[float, np.ndarray, np.ndarray]] = []
    for score, box, kpts in found:
        if all(_iou(box, other) <= iou_max for _, other, _ in kept):
            kept.append((score, box, kpts))
    out = []
    for score, box, kpts in kept:
        fbox = ((box.reshape(2, 2) - pad) / scale).reshape(4)
        fbox[0::2] = fbox[0::2].clip(0, frame_wh[0])
        fbox[1::2] = fbox[1::2].clip(0, frame_wh[1])
        if fbox[2] <= fbox[0] or fbox[3] <= fbox[1]:
            continue  # wholly in the letterbox padding: no object in the frame
        xy = ((kpts[:, :2] - pad) / scale).clip(0, frame_wh)
        out.append((score, fbox, np.concatenate([xy, kpts[:, 2:]], axis=1)))
    return out


def assert_matches_reference(result: Poses, reference: list[tuple[float, np.ndarray, np.ndarray]]) -> None:
    assert len(result) == len(reference) >= 2
    for i, (score, box, kpts) in enumerate(reference):
        assert result.scores[i] == pytest.approx(score, abs=1e-3)
        np.testing.assert_allclose(result.boxes_xyxy[i], box, atol=1.0)
        np.testing.assert_allclose(result.keypoints[i, :, :2], kpts[:, :2], atol=1.0)
        np.testing.assert_allclose(result.keypoints[i, :, 2], kpts[:, 2], atol=1e-3)


@pytest.mark.parametrize("frame_wh", [(W, H), (200, 120), (90, 160)])
def test_pose_matches_reference_decoder(pose_onnx: Path, frame_wh: tuple[int, int]) -> None:
    with edgeinfer.load(pose_onnx, card=CARD) as model:
        result = model.predict(frame(*frame_wh))
    assert isinstance(result, Poses) and result.task == "pose"
    assert result.keypoints.shape == (len(result), NUM_KPT, 3) and result.keypoints.dtype == np.float32
    assert result.labels == ("person",) * len(result)
    assert result.skeleton == COCO_SKELETON  # the default for 17 keypoints
    assert_matches_reference(result, reference_decode(head_output(pose_onnx), frame_wh))


def test_transposed_head_decodes_the_same(pose_onnx: Path) -> None:
    from edgeinfer.card import parse
    from edgeinfer.postprocess import decode
    from tests.postprocess.helpers import letterbox_geometry, specs_for

    head = head_output(pose_onnx)
    card, geometry = parse(CARD), letterbox_geometry((200, 120), (W, H))
    straight = decode(card, {"output0": head}, specs_for({"output0": head}), geometry)
    flipped = head.transpose(0, 2, 1).copy()
    transposed = decode(card, {"output0": flipped}, specs_for({"output0": flipped}), geometry)
    np.testing.assert_array_equal(straight.keypoints, transposed.keypoints)


def test_zero_config_from_ultralytics_metadata(tmp_path: Path, pose_onnx: Path) -> None:
    meta = {"author": "Ultralytics", "task": "pose", "stride": 32, "batch": 1, "imgsz": list(IMGSZ_HW),
            "names": {0: "person"}, "kpt_shape": [NUM_KPT, 3], "args": {"batch": 1, "nms": False}}
    path = with_metadata(pose_onnx, tmp_path / "yolo11n-pose.onnx", meta)
    with edgeinfer.load(path) as model:
        card = model.card
        assert card.origin == "ultralytics" and card.task == "pose"
        assert card.postprocess.decoder == "yolov8" and card.postprocess.kpt_shape == (NUM_KPT, 3)
        result = model.predict(frame(200, 120))
    # Ultralytics' own NMS IoU (0.7) keeps both neighbouring people.
    assert_matches_reference(result, reference_decode(head_output(pose_onnx), (200, 120), iou_max=0.7))


@pytest.mark.parametrize(("kpt_shape", "labels"), [([16, 3], ["person"]), ([17, 2], ["person"]), ([18, 3], None)])
def test_kpt_shape_mismatch_is_a_load_error(pose_onnx: Path, kpt_shape: list[int],
                                            labels: list[str] | None) -> None:
    card = {**CARD, "postprocess": {**CARD["postprocess"], "kpt_shape": kpt_shape}}
    if labels is None:
        card.pop("labels")
    with pytest.raises(ConfigError) as info:
        edgeinfer.load(pose_onnx, card=card)
    message = str(info.value)
    assert "kpt_shape" in message and str(CHANNELS) in message and str(kpt_shape) in message


def test_zero_config_with_wrong_kpt_shape_fails_at_load(tmp_path: Path, pose_onnx: Path) -> None:
    meta = {"task": "pose", "imgsz": list(IMGSZ_HW), "names": {0: "person"}, "kpt_shape": [5, 3]}
    path = with_metadata(pose_onnx, tmp_path / "bad-pose.onnx", {"author": "Ultralytics", **meta})
    with pytest.raises(ConfigError, match=r"kpt_shape \[5, 3\].*= 20 channels.*\[1, 56, 126\].*kpt_shape \[17, 3\]"):
        edgeinfer.load(path)


def test_tracking_keeps_keypoints(pose_onnx: Path) -> None:
    image = frame(200, 120)
    with edgeinfer.load(pose_onnx, card=CARD) as model:
        plain = model.predict(image)
        model.track(image, timestamp=0.0)
        tracked = model.track(image, timestamp=0.1)
    assert isinstance(tracked, Poses) and tracked.track_ids is not None
    assert len(tracked) == len(plain) and tracked.skeleton == COCO_SKELETON
    order = [int(np.argmin(np.abs(plain.scores - s))) for s in tracked.scores]
    np.testing.assert_allclose(tracked.keypoints, plain.keypoints[order], atol=1e-4)
    payload = tracked.to_dict()
    assert all("track_id" in d and len(d["keypoints"]) == NUM_KPT for d in payload["detections"])


def test_draw_marks_visible_keypoints(pose_onnx: Path) -> None:
    image = np.full((120, 200, 3), 40, np.uint8)
    with edgeinfer.load(pose_onnx, card=CARD) as model:
        result = model.predict(image)
    boxes_only = Detections(result.boxes_xyxy, result.scores, result.class_ids, result.labels)
    drawn, plain = edgeinfer.draw(image, result), edgeinfer.draw(image, boxes_only)
    assert drawn.shape == image.shape and not np.shares_memory(drawn, image)
    points = result.keypoints.reshape(-1, 3)
    shown = points[points[:, 2] >= 0.5]
    hidden = points[points[:, 2] < 0.5]
    assert len(shown) and len(hidden)
    centres = np.rint(shown[:, :2]).astype(int).clip(0, [199, 119])
    assert all(not np.array_equal(drawn[y, x], image[y, x]) for x, y in centres)
    # Beyond the boxes: the dots and limbs change pixels around the keypoints.
    changed = [bool(np.any(drawn[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
                           != plain[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2])) for x, y in centres]
    assert sum(changed) >= 0.8 * len(changed)


def test_to_dict_json_shape(pose_onnx: Path) -> None:
    with edgeinfer.load(pose_onnx, card=CARD) as model:
        result = model.predict(frame(200, 120))
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["task"] == "pose" and len(payload["detections"]) == len(result)
    first = payload["detections"][0]
    assert set(first) == {"label", "class_id", "score", "box_xyxy", "keypoints"}
    assert len(first["keypoints"]) == NUM_KPT and all(len(k) == 3 for k in first["keypoints"])
    assert first["keypoints"][0][0] == pytest.approx(float(result.keypoints[0, 0, 0]), abs=0.05)


def test_predict_summary_counts_keypoints() -> None:
    from edgeinfer.cli.predict import summarize

    payload = {"task": "pose", "detections": [{"label": "person", "score": 0.9, "box_xyxy": [1, 2, 3, 4],
                                               "keypoints": [[1, 1, 0.9], [2, 2, 0.1]]}]}
    assert summarize(payload) == "1 found: person 0.90 [1, 2, 3, 4] 1/2 keypoints"


def test_normalised_head_scales_keypoints_like_boxes(pose_onnx: Path) -> None:
    """Ultralytics TFLite exports give boxes and keypoint x, y in 0..1 of the input."""
    from edgeinfer.card import parse
    from edgeinfer.postprocess import decode
    from tests.postprocess.helpers import letterbox_geometry, specs_for

    head = head_output(pose_onnx)
    head[0, 2:4] = np.minimum(head[0, 2:4], np.array([W, H], np.float32)[:, None])  # boxes within the input
    normalised = head.copy()
    normalised[0, 0:4] /= np.array([W, H, W, H], np.float32)[:, None]
    normalised[0, 5::3] /= W
    normalised[0, 6::3] /= H
    card, geometry = parse(CARD), letterbox_geometry((200, 120), (W, H))
    pixels = decode(card, {"output0": head}, specs_for({"output0": head}), geometry)
    scaled = decode(card, {"output0": normalised}, specs_for({"output0": normalised}), geometry)
    np.testing.assert_allclose(scaled.keypoints, pixels.keypoints, atol=1e-3)
    np.testing.assert_allclose(scaled.boxes_xyxy, pixels.boxes_xyxy, atol=1e-3)
    assert len(scaled) >= 2


def test_no_people_gives_an_empty_result(pose_onnx: Path) -> None:
    from edgeinfer.card import parse
    from edgeinfer.postprocess import decode
    from tests.postprocess.helpers import letterbox_geometry, specs_for

    head = head_output(pose_onnx)
    head[0, 4] = 0.0
    geometry = letterbox_geometry((200, 120), (W, H))
    result = decode(parse(CARD), {"output0": head}, specs_for({"output0": head}), geometry)
    assert isinstance(result, Poses) and len(result) == 0 and result.keypoints.shape == (0, NUM_KPT, 3)
    assert result.to_dict() == {"task": "pose", "detections": []}


def test_card_skeleton_is_used_and_checked(pose_onnx: Path) -> None:
    card = {**CARD, "postprocess": {**CARD["postprocess"], "skeleton": [[0, 1], [5, 6]]}}
    with edgeinfer.load(pose_onnx, card=card) as model:
        assert model.predict(frame(200, 120)).skeleton == ((0, 1), (5, 6))
    card["postprocess"]["skeleton"] = [[0, 17]]
    with pytest.raises(ConfigError, match=r"skeleton edges \[\[0, 17\]\] name keypoints outside 0..16"):
        edgeinfer.load(pose_onnx, card=card)
