"""Oriented boxes (task ``obb``): a torch OBB head in Ultralytics' export layout, through ONNX.

Ultralytics cannot be installed here, so the head is built in torch exactly as its ``OBB``
module computes the export output: per anchor, ``ltrb`` distances and an angle logit go
through ``dist2rbox`` (angle ``(sigmoid - 0.25) * pi``), class logits through a sigmoid,
concatenated as ``[1, 4 + classes + 1, anchors]``. The content is fixed (seeded), so a
reference decoder written here (threshold, greedy NMS by polygon-clipping IoU, letterbox
undone on the corners) gives the expected polygons.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.cli.predict import summarize
from edgeinfer.errors import ConfigError
from edgeinfer.postprocess import decode
from edgeinfer.postprocess.nms import nms_per_class
from edgeinfer.postprocess.nms_rotated import nms_rotated
from edgeinfer.postprocess.obb import rboxes_to_frame, regularize_rboxes
from edgeinfer.results import OrientedBoxes
from edgeinfer.results.obb import rbox_polygons
from edgeinfer.types import Geometry
from tests.postprocess.helpers import make_card, specs_for

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

LABELS = ("plane", "ship", "car")
INPUT = 96  # square input, strides 8, 16, 32: 189 anchors
FRAME_WH = (200, 120)  # letterboxed: 96 x 58 px (scales 0.48 and 0.483), 19 px of padding above
CARD: dict[str, Any] = {
    "task": "obb",
    "labels": list(LABELS),
    "preprocess": {"color": "rgb", "resize": "letterbox", "letterbox": {"align": "center", "pad_value": 114},
                   "mean": 0.0, "std": 255.0, "layout": "nchw", "size_wh": [INPUT, INPUT]},
    "postprocess": {"decoder": "yolov8", "score_threshold": 0.25, "iou_threshold": 0.5, "max_detections": 300},
}


# -- the model ---------------------------------------------------------------------------------


def anchors_and_strides() -> tuple[np.ndarray, np.ndarray]:
    """Ultralytics ``make_anchors``: cell centres (offset 0.5) per level, and each anchor's stride."""
    points, strides = [], []
    for stride in (8, 16, 32):
        n = INPUT // stride
        ys, xs = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full(n * n, stride, np.float32))
    return np.concatenate(points).astype(np.float32), np.concatenate(strides)


class OBBHead(torch.nn.Module):
    """Fixed raw predictions decoded as Ultralytics' ``OBB.forward`` does in export mode."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        points, strides = anchors_and_strides()
        n = len(points)
        self.register_buffer("anchors", torch.from_numpy(points.T.copy()))  # (2, N) grid units
        self.register_buffer("strides", torch.from_numpy(strides[None]))  # (1, N)
        self.register_buffer("ltrb", torch.from_numpy(rng.uniform(0.4, 2.5, (4, n)).astype(np.float32)))
        self.register_buffer("angle_logit", torch.from_numpy(rng.normal(0, 1.5, (1, n)).astype(np.float32)))
        cls = rng.normal(-5.0, 1.0, (len(LABELS), n)).astype(np.float32)
        cls[rng.integers(0, len(LABELS), 40), rng.choice(n, 40, replace=False)] = rng.uniform(-1, 3, 40)
        self.register_buffer("cls_logit", torch.from_numpy(cls))

    def forward(self, images: Any) -> Any:
        angle = (self.angle_logit.sigmoid() - 0.25) * math.pi  # [-pi/4, 3pi/4]
        lt, rb = self.ltrb[:2], self.ltrb[2:]
        cos, sin = torch.cos(angle), torch.sin(angle)
        xf, yf = ((rb - lt) / 2).split(1, dim=0)
        xy = torch.cat([xf * cos - yf * sin, xf * sin + yf * cos], dim=0) + self.anchors  # dist2rbox
        box = torch.cat([xy, lt + rb], dim=0) * self.strides
        head = torch.cat([box, self.cls_logit.sigmoid(), angle], dim=0)[None]
        return head + images.mean() * 0.0  # the input is used, the content stays fixed


def export(head: Any, path: Path, metadata: dict[str, str] | None = None) -> Path:
    import onnx

    example = torch.zeros(1, 3, INPUT, INPUT)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter's own deprecation notices
        torch.onnx.export(head, (example,), str(path), dynamo=True, external_data=False, opset_version=18,
                          input_names=["images"], output_names=["output0"], verbose=False)
    if metadata is not None:  # as Ultralytics' Exporter writes it: str(value) per key
        model = onnx.load(str(path))
        for key, value in metadata.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def obb_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("obb")
    head = OBBHead().eval()
    meta = {"task": "obb", "stride": "32", "batch": "1", "imgsz": str([INPUT, INPUT]),
            "names": str(dict(enumerate(LABELS))), "args": str({"batch": 1, "nms": False}), "channels": "3",
            "author": "Ultralytics", "description": "Ultralytics YOLO11n-obb model"}
    with torch.no_grad():
        expected = head(torch.zeros(1, 3, INPUT, INPUT)).numpy()
    np.save(folder / "head.npy", expected)
    return {"plain": export(head, folder / "obb.onnx"),
            "ultralytics": export(head, folder / "yolo11n-obb.onnx", meta),
            "head": folder / "head.npy"}


def frame() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 255, (FRAME_WH[1], FRAME_WH[0], 3), dtype=np.uint8)


# -- a reference decoder -----------------------------------------------------------------------


def cross(a: np.ndarray, b: np.ndarray) -> float:
    """The z component of the cross product of two 2-D vectors."""
    return float(a[0] * b[1] - a[1] * b[0])


def clip_polygon(subject: list[np.ndarray], clipper: np.ndarray) -> list[np.ndarray]:
    """Sutherland-Hodgman: ``subject`` clipped by the convex polygon ``clipper`` (either winding)."""
    orientation = np.sign(cross(clipper[1] - clipper[0], clipper[2] - clipper[1]))
    out = subject
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]

        def inside(p: np.ndarray, a: np.ndarray = a, b: np.ndarray = b) -> bool:
            return bool(orientation * cross(b - a, p - a) >= 0)

        points, out = out, []
        for j in range(len(points)):
            p, q = points[j], points[(j + 1) % len(points)]
            if inside(q):
                if not inside(p):
                    out.append(intersect(p, q, a, b))
                out.append(q)
            elif inside(p):
                out.append(intersect(p, q, a, b))
        if not out:
            return []
    return out


def intersect(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d1, d2 = q - p, b - a
    t = cross(a - p, d2) / cross(d1, d2)
    return p + t * d1


def area(poly: list[np.ndarray] | np.ndarray) -> float:
    pts = np.asarray(poly, dtype=np.float64)
    if len(pts) < 3:
        return 0.0
    x, y = pts[:, 0], pts[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def rotated_iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = area(clip_polygon(list(a.astype(np.float64)), b.astype(np.float64)))
    return inter / (area(a) + area(b) - inter)


def corners(cx: float, cy: float, w: float, h: float, t: float) -> np.ndarray:
    u = np.array([math.cos(t), math.sin(t)]) * w / 2
    v = np.array([-math.sin(t), math.cos(t)]) * h / 2
    c = np.array([cx, cy])
    return np.array([c + u + v, c + u - v, c - u - v, c - u + v])


def reference_decode(head: np.ndarray, geometry: Geometry, threshold: float, iou: float) -> list[tuple]:
    """(class id, score, frame polygon) per kept box, best first; NMS per class, letterbox undone."""
    rows = head[0].T
    candidates = []
    for row in rows:
        cls = int(np.argmax(row[4:-1]))
        score = float(row[4 + cls])
        if score >= threshold:
            candidates.append((cls, score, corners(*row[:4], row[-1])))
    candidates.sort(key=lambda c: -c[1])
    kept: list[tuple] = []
    for cand in candidates:
        if all(k[0] != cand[0] or rotated_iou(k[2], cand[2]) <= iou for k in kept):
            kept.append(cand)
    scale, offset = np.asarray(geometry.scale_xy), np.asarray(geometry.offset_xy)
    return [(c, s, (poly - offset) / scale) for c, s, poly in kept]


def corner_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Largest corner distance between two quadrilaterals, whichever corner each starts at."""
    return min(float(np.abs(np.roll(a, k, axis=0) - b).max()) for k in range(4))


# -- tests -------------------------------------------------------------------------------------


def letterbox_as_resized(frame_wh: tuple[int, int], size: int) -> Geometry:
    """Centre letterbox with the resized size rounded to whole pixels, as the frame really is."""
    scale = min(size / frame_wh[0], size / frame_wh[1])
    rw, rh = round(frame_wh[0] * scale), round(frame_wh[1] * scale)
    return Geometry(frame_wh, (size, size), (rw / frame_wh[0], rh / frame_wh[1]),
                    ((size - rw) // 2, (size - rh) // 2))


def test_decoded_polygons_match_the_reference_on_a_letterboxed_frame(obb_files: dict[str, Path]) -> None:
    geometry = letterbox_as_resized(FRAME_WH, INPUT)
    reference = reference_decode(np.load(obb_files["head"]), geometry, 0.25, 0.5)
    # Boxes lying wholly in the padding are dropped by the decoder (no area inside the frame).
    reference = [r for r in reference if r[2][:, 1].max() > 0 and r[2][:, 1].min() < FRAME_WH[1]]
    with edgeinfer.load(obb_files["plain"], card=CARD) as model:
        result = model.predict(frame())
    assert isinstance(result, OrientedBoxes)
    assert len(reference) >= 5  # the content has real overlaps and survivors
    assert len(result) == len(reference)
    np.testing.assert_array_equal(result.class_ids, [r[0] for r in reference])
    np.testing.assert_allclose(result.scores, [r[1] for r in reference], atol=1e-5)
    for polygon, (_, _, want) in zip(result.polygons, reference, strict=True):
        assert corner_distance(polygon, want) < 1.0
    assert result.rboxes.shape == (len(result), 5) and result.rboxes.dtype == np.float32
    assert ((result.rboxes[:, 4] >= 0) & (result.rboxes[:, 4] < math.pi / 2)).all()  # regularised
    bounds = np.concatenate([result.polygons.min(axis=1), result.polygons.max(axis=1)], axis=1)
    np.testing.assert_allclose(result.boxes_xyxy, bounds.clip(0, [*FRAME_WH, *FRAME_WH]), atol=1e-3)


def test_rotated_nms_keeps_crossing_boxes_that_axis_aligned_nms_merges() -> None:
    # Two long thin boxes crossing in an X: identical axis-aligned bounds (IoU 1), rotated IoU ~0.05.
    cross = np.array([[50, 50, 80, 8, math.pi / 4], [50, 50, 80, 8, -math.pi / 4]], np.float32)
    twin = np.array([[50, 50, 80, 8, math.pi / 4], [51, 50, 80, 8, math.pi / 4 + 0.02]], np.float32)
    scores, ids = np.array([0.9, 0.8], np.float32), np.zeros(2, np.int64)
    polys = rbox_polygons(cross)
    aligned = np.concatenate([polys.min(axis=1), polys.max(axis=1)], axis=1)
    assert len(nms_per_class(aligned, scores, ids, iou_threshold=0.5, max_detections=10)) == 1
    np.testing.assert_array_equal(nms_rotated(cross, scores, ids, iou_threshold=0.5, max_detections=10), [0, 1])
    np.testing.assert_array_equal(nms_rotated(twin, scores, ids, iou_threshold=0.5, max_detections=10), [0])
    # A small box wholly inside a large one: rotated IoU 0.016, so both stay (OpenCV's own
    # NMSBoxesRotated calls this IoU 1.0 and drops the small box).
    nested = np.array([[50, 50, 80, 80, 0.3], [45, 52, 10, 10, 0.3]], np.float32)
    np.testing.assert_array_equal(nms_rotated(nested, scores, ids, iou_threshold=0.5, max_detections=10), [0, 1])
    other_class = np.array([0, 1], np.int64)
    assert len(nms_rotated(twin, scores, other_class, iou_threshold=0.5, max_detections=10)) == 2
    assert len(nms_rotated(twin, scores, other_class, iou_threshold=0.5, max_detections=10, agnostic=True)) == 1

    # Through the decoder: the same pair as a head, as Ultralytics lays it out.
    head = np.zeros((1, 4 + len(LABELS) + 1, 2), np.float32)
    head[0, :4] = cross[:, :4].T
    head[0, 4] = scores
    head[0, -1] = cross[:, 4]
    outputs = {"output0": head}
    card = make_card("obb", labels=list(LABELS), postprocess={"decoder": "yolov8", "iou_threshold": 0.5})
    result = decode(card, outputs, specs_for(outputs), Geometry((100, 100), (100, 100)))
    assert isinstance(result, OrientedBoxes) and len(result) == 2


@pytest.mark.parametrize("layout", ["pixels", "normalised", "transposed", "no_labels"])
def test_head_layouts_decode_alike(obb_files: dict[str, Path], layout: str) -> None:
    head = np.load(obb_files["head"])
    geometry = letterbox_as_resized(FRAME_WH, INPUT)
    card = make_card("obb", labels=list(LABELS), postprocess=CARD["postprocess"])
    want = decode(card, {"output0": head}, specs_for({"output0": head}), geometry)
    if layout == "normalised":  # Ultralytics TFLite exports: boxes in 0..1 of the input size
        head = head.copy()
        head[0, :4] /= INPUT
    elif layout == "transposed":
        head = np.ascontiguousarray(head.transpose(0, 2, 1))
    elif layout == "no_labels":
        card = make_card("obb", postprocess=CARD["postprocess"])
    got = decode(card, {"output0": head}, specs_for({"output0": head}), geometry)
    assert isinstance(got, OrientedBoxes) and len(got) == len(want) > 0
    np.testing.assert_allclose(got.rboxes, want.rboxes, atol=1e-3)
    np.testing.assert_array_equal(got.class_ids, want.class_ids)
    if layout == "no_labels":
        assert got.labels == tuple(str(int(i)) for i in got.class_ids)


def test_nothing_found_gives_empty_arrays_of_the_right_shape() -> None:
    head = np.zeros((1, 4 + len(LABELS) + 1, 10), np.float32)
    card = make_card("obb", labels=list(LABELS), postprocess={"decoder": "yolov8"})
    result = decode(card, {"output0": head}, specs_for({"output0": head}), Geometry((64, 48), (64, 64)))
    assert isinstance(result, OrientedBoxes) and len(result) == 0
    assert result.rboxes.shape == (0, 5) and result.boxes_xyxy.shape == (0, 4) and result.polygons.shape == (0, 4, 2)
    assert result.to_dict() == {"task": "obb", "detections": []}


def test_regularize_and_stretch_mapping() -> None:
    boxes = np.array([[10, 20, 30, 6, 2.0], [10, 20, 30, 6, -0.5]], np.float32)
    regular = regularize_rboxes(boxes)
    assert ((regular[:, 4] >= 0) & (regular[:, 4] < math.pi / 2)).all()
    for before, after in zip(rbox_polygons(boxes), rbox_polygons(regular), strict=True):
        assert corner_distance(before, after) < 1e-4  # the same rectangle
    stretch = Geometry((200, 100), (100, 100), (0.5, 1.0), (0.0, 0.0))
    upright = rboxes_to_frame(np.array([[50, 50, 20, 10, 0.0]], np.float32), stretch)
    assert corner_distance(rbox_polygons(upright)[0], corners(100, 50, 40, 10, 0.0)) < 1e-3
    tilted = np.array([[50, 50, 40, 10, 0.6]], np.float32)
    fitted = rbox_polygons(rboxes_to_frame(tilted, stretch))[0]
    mapped = stretch.to_frame(rbox_polygons(tilted)[0])
    inside = [cv2.pointPolygonTest(fitted.astype(np.float32), tuple(map(float, p)), True) for p in mapped]
    assert min(inside) > -0.01  # the fitted rectangle holds the mapped parallelogram


def test_zero_config_from_ultralytics_metadata(obb_files: dict[str, Path]) -> None:
    with edgeinfer.load(obb_files["ultralytics"]) as model:
        card = model.card
        assert card.origin == "ultralytics" and card.task == "obb"
        assert card.postprocess.decoder == "yolov8" and card.labels == LABELS
        assert card.preprocess.resize == "letterbox"
        derived = model.predict(frame())
    with edgeinfer.load(obb_files["plain"], card={**CARD, "postprocess": {**CARD["postprocess"],
                                                   "iou_threshold": 0.7}}) as model:
        explicit = model.predict(frame())
    assert isinstance(derived, OrientedBoxes) and len(derived) == len(explicit) > 0
    np.testing.assert_allclose(derived.rboxes, explicit.rboxes, atol=1e-3)


@pytest.mark.parametrize("labels", [["plane", "ship"], ["a", "b", "c", "d"]])
def test_load_rejects_labels_that_disagree_with_the_head(obb_files: dict[str, Path], labels: list[str]) -> None:
    with pytest.raises(ConfigError, match=r"channels.*4 box values.*angle = " + str(4 + len(labels) + 1)):
        edgeinfer.load(obb_files["plain"], card={**CARD, "labels": labels})


def test_load_rejects_a_decoder_other_than_yolov8(obb_files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="decoder: yolov8"):
        edgeinfer.load(obb_files["plain"], card={**CARD, "postprocess": {"decoder": "yolov5"}})


def test_to_dict_draw_and_tracking(obb_files: dict[str, Path]) -> None:
    image = frame()
    with edgeinfer.load(obb_files["plain"], card=CARD) as model:
        result = model.predict(image)
        tracked = [model.track(image, timestamp=t / 10) for t in range(3)]
    payload = result.to_dict()
    assert payload["task"] == "obb" and len(payload["detections"]) == len(result)
    first = payload["detections"][0]
    assert set(first) == {"label", "class_id", "score", "box_xyxy", "rbox", "polygon"}
    assert len(first["rbox"]) == 5 and np.shape(first["polygon"]) == (4, 2)
    assert corner_distance(np.asarray(first["polygon"]), result.polygons[0]) < 0.06
    line = summarize(payload)
    assert line.startswith(f"{len(result)} found: {result.labels[0]} ") and "deg]" in line

    drawn = edgeinfer.draw(image, result)
    assert drawn.shape == image.shape and (drawn != image).any()
    assert (edgeinfer.draw(image, result.take(np.zeros(0, np.int64))) == image).all()

    last = tracked[-1]
    assert isinstance(last, OrientedBoxes) and last.track_ids is not None and len(last) > 0
    np.testing.assert_array_equal(tracked[1].track_ids, last.track_ids)  # same objects, same ids
    for rbox, box in zip(last.rboxes, last.boxes_xyxy, strict=True):  # rboxes follow their own rows
        poly = rbox_polygons(rbox[None])[0]
        np.testing.assert_allclose(box[:2], poly.min(axis=0).clip(0), atol=1e-3)
    assert "track_id" in last.to_dict()["detections"][0]
