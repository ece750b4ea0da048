"""End to end: a detector with the YOLOv8 output layout, run by ``predict`` on real photos.

A tiny detector is trained once per session (:mod:`tests.e2e.detector`) on scenes of real
photos (:mod:`tests.e2e.scenes`), exported through
``converters`` to ONNX (float) and TFLite (full int8, normalised boxes as Ultralytics
TFLite exports give them) with a detection card, and loaded with ``edgeinfer.load``. The
frames are real photographs the detector never saw in training, at their natural sizes
(square, wide and tall, so letterbox padding lies on either axis), with the objects pasted
at known boxes, plus the two source photos with the objects in their real context.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

import edgeinfer

if TYPE_CHECKING:
    from tests.e2e.detector import BuiltDetector

pytestmark = pytest.mark.slow

INPUT_SIZE = 128
LABELS = ("cat", "cup")  # as tests.e2e.scenes defines them
MIN_IOU = 0.5  # a detection is correct at IoU >= 0.5 (the PASCAL VOC rule)
Box = tuple[int, int, int, int]
# Objects pasted at known boxes (frame pixels) onto photos the detector never saw.
LAYOUTS: dict[str, tuple[tuple[str, Box], ...]] = {
    "astronaut": (("cat", (40, 300, 200, 445)), ("cup", (330, 60, 470, 230))),  # 512x512
    "motorcycle_wide": (("cup", (80, 150, 290, 400)), ("cat", (470, 210, 720, 440))),  # 500x741
    "motorcycle_tall": (("cat", (30, 40, 270, 260)), ("cup", (100, 290, 260, 480))),  # 500x300
}
# Scene names are fixed here so that collecting the tests imports neither torch nor skimage.
SCENE_NAMES = [f"{name}+pasted" for name in LAYOUTS] + ["chelsea", "coffee"]
PLAIN_NAMES = sorted(LAYOUTS)


@dataclass(frozen=True)
class Scene:
    """A BGR frame and the objects really in it: ``(label, box_xyxy)`` in frame pixels."""

    name: str
    frame: np.ndarray
    truth: tuple[tuple[str, Box], ...]


def make_scenes() -> dict[str, Scene]:
    """Held-out photos with objects pasted at known boxes, and the objects' own photos."""
    from tests.e2e import scenes as photos

    crops = dict(zip(photos.LABELS, photos.object_crops(), strict=True))
    backgrounds = photos.heldout_backgrounds()
    scenes = []
    for name, truth in LAYOUTS.items():
        frame = backgrounds[name].copy()
        for label, box in truth:
            photos.paste(frame, crops[label], box)
        scenes.append(Scene(f"{name}+pasted", frame, truth))
    scenes.append(Scene("chelsea", photos.photo_bgr("chelsea"), (("cat", photos.FACE_BOX_XYXY),)))
    scenes.append(Scene("coffee", photos.photo_bgr("coffee"), (("cup", photos.CUP_BOX_XYXY),)))
    return {scene.name: scene for scene in scenes}


@pytest.fixture(scope="session")
def scenes() -> dict[str, Scene]:
    pytest.importorskip("skimage")
    pytest.importorskip("cv2")
    return make_scenes()


@pytest.fixture(scope="session")
def plain() -> dict[str, np.ndarray]:
    from tests.e2e.scenes import heldout_backgrounds

    return heldout_backgrounds()


def iou(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...]) -> float:
    """IoU of two xyxy boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def best_iou(result: Any, label: str, box: Box) -> float:
    """Best IoU between ``box`` and the detections labelled ``label`` (0 when none)."""
    ious = [iou(b, box) for b, lab in zip(result.boxes_xyxy, result.labels, strict=True) if lab == label]
    return max(ious, default=0.0)


@pytest.fixture(scope="session")
def built(detector_built: BuiltDetector) -> BuiltDetector:
    """The session's detector (``detector_built`` in tests/conftest.py, shared with the events tests)."""
    return detector_built


@pytest.fixture(scope="module")
def onnx_model(built: BuiltDetector) -> Iterator[edgeinfer.Model]:
    with edgeinfer.load(built.onnx_path) as model:
        yield model


@pytest.fixture(scope="module")
def tflite_model(built: BuiltDetector) -> Iterator[edgeinfer.Model]:
    if built.tflite_path is None:
        pytest.skip("; ".join(built.notes))
    with edgeinfer.load(built.tflite_path) as model:
        yield model


def test_exports_have_the_yolov8_layout_and_card(onnx_model: edgeinfer.Model) -> None:
    (output,) = onnx_model.outputs
    assert output.shape[1:] == (4 + len(LABELS), (INPUT_SIZE // 16) ** 2)
    assert onnx_model.card.origin == "embedded"
    assert onnx_model.card.task == "detection"
    assert onnx_model.card.postprocess.decoder == "yolov8"
    assert onnx_model.card.labels == LABELS


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_predict_finds_each_object_in_frame_pixels(onnx_model: edgeinfer.Model, scenes: dict[str, Scene],
                                                   name: str) -> None:
    scene = scenes[name]

    result = onnx_model.predict(scene.frame)

    for label, box in scene.truth:
        assert best_iou(result, label, box) >= MIN_IOU, (label, box, result.to_dict())
    strays = [d for d in result.to_dict()["detections"]
              if all(iou(d["box_xyxy"], box) < 0.1 for _, box in scene.truth)]
    assert strays == [], f"detections where nothing was pasted: {strays}"


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_predict_finds_at_most_one_false_positive_on_a_plain_photo(
        onnx_model: edgeinfer.Model, plain: dict[str, np.ndarray], name: str) -> None:
    result = onnx_model.predict(plain[name])

    assert len(result.labels) <= 1, result.to_dict()
    assert float(result.scores.max(initial=0.0)) < 0.8, result.to_dict()


def reference_top_box(model: edgeinfer.Model, frame: np.ndarray, class_id: int) -> np.ndarray:
    """The best-scoring box of a class, by a plain letterbox and decode written here."""
    import cv2

    h, w = frame.shape[:2]
    scale = min(INPUT_SIZE / w, INPUT_SIZE / h)
    new_w, new_h = round(w * scale), round(h * scale)
    left, top = (INPUT_SIZE - new_w) // 2, (INPUT_SIZE - new_h) // 2
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), 114, np.uint8)
    canvas[top:top + new_h, left:left + new_w] = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    (head,) = model.run(x).values()
    anchor = int(head[0, 4 + class_id].argmax())
    cx, cy, bw, bh = head[0, :4, anchor]
    box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    return (box - [left, top, left, top]) / scale


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_predict_boxes_equal_a_reference_letterbox(onnx_model: edgeinfer.Model, scenes: dict[str, Scene],
                                                   name: str) -> None:
    scene = scenes[name]

    result = onnx_model.predict(scene.frame)

    for label, _ in scene.truth:
        top = result.labels.index(label)
        expected = reference_top_box(onnx_model, scene.frame, LABELS.index(label))
        np.testing.assert_allclose(result.boxes_xyxy[top], expected, atol=2.5)


def test_predict_batch_equals_predict_frame_by_frame(onnx_model: edgeinfer.Model,
                                                     scenes: dict[str, Scene]) -> None:
    frames = [scene.frame for scene in scenes.values()]  # five sizes in one batch
    assert onnx_model.inputs[0].shape[0] == -1  # dynamic batch: one inference for all

    batched = onnx_model.predict_batch(frames)

    for frame, result in zip(frames, batched, strict=True):
        single = onnx_model.predict(frame)
        assert result.labels == single.labels
        np.testing.assert_allclose(result.boxes_xyxy, single.boxes_xyxy, atol=1e-3)


def test_draw_marks_the_detections(onnx_model: edgeinfer.Model, scenes: dict[str, Scene], tmp_path: Path) -> None:
    import cv2

    scene = scenes["motorcycle_wide+pasted"]
    frame = scene.frame.copy()
    result = onnx_model.predict(frame)

    annotated = edgeinfer.draw(frame, result)

    cv2.imwrite(str(tmp_path / "annotated.png"), annotated)
    assert np.array_equal(frame, scene.frame), "draw must not change the frame it was given"
    assert annotated.shape == frame.shape and annotated.dtype == np.uint8
    assert len(result.labels) == len(scene.truth)
    corners = np.clip(result.boxes_xyxy.astype(int), 0, [frame.shape[1] - 1, frame.shape[0] - 1] * 2)
    for x1, y1, x2, y2 in corners:
        edge = np.concatenate([annotated[y1:y2, x1], annotated[y1:y2, x2]])
        original = np.concatenate([frame[y1:y2, x1], frame[y1:y2, x2]])
        assert (edge != original).any(axis=1).mean() > 0.9, "box sides are not drawn"


def test_cli_predict_json_lists_the_objects(built: BuiltDetector, onnx_model: edgeinfer.Model,
                                           scenes: dict[str, Scene], tmp_path: Path) -> None:
    import cv2
    from click.testing import CliRunner

    from edgeinfer.cli import cli

    chosen = [scenes[name] for name in SCENE_NAMES[:3]]
    paths = []
    for scene in chosen:
        path = tmp_path / f"{scene.name}.png"
        cv2.imwrite(str(path), scene.frame)
        paths.append(str(path))

    run = CliRunner().invoke(cli, ["predict", str(built.onnx_path), *paths, "--json"])

    assert run.exit_code == 0, run.output
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert [line["image"] for line in lines] == paths
    for line, scene in zip(lines, chosen, strict=True):
        assert line["task"] == "detection"
        for label, box in scene.truth:
            ious = [iou(d["box_xyxy"], box) for d in line["detections"] if d["label"] == label]
            assert max(ious, default=0.0) >= MIN_IOU, (label, line)
        # PNG is lossless, so the file gives exactly the in-memory result.
        assert line["detections"] == onnx_model.predict(scene.frame).to_dict()["detections"]


def test_int8_tflite_finds_the_same_objects_as_onnx(onnx_model: edgeinfer.Model, tflite_model: edgeinfer.Model,
                                                     scenes: dict[str, Scene]) -> None:
    assert tflite_model.inputs[0].shape == (1, INPUT_SIZE, INPUT_SIZE, 3)  # NHWC, as TFLite takes frames
    assert tflite_model.card.conversion is not None
    assert tflite_model.card.conversion.quantization["mode"] == "int8"
    for scene in scenes.values():
        from_onnx = onnx_model.predict(scene.frame)
        from_tflite = tflite_model.predict(scene.frame)
        for label, box in scene.truth:
            assert best_iou(from_tflite, label, box) >= MIN_IOU, (scene.name, label, from_tflite.to_dict())
            a = from_onnx.boxes_xyxy[from_onnx.labels.index(label)]
            b = from_tflite.boxes_xyxy[from_tflite.labels.index(label)]
            assert iou(a, b) >= 0.8, (scene.name, label, a, b)
