"""Instance segmentation: an Ultralytics-layout seg model built in torch, against a reference decoder.

``ultralytics`` cannot be installed here, so the model is a torch module with the two
outputs of an Ultralytics ``-seg`` ONNX export: ``output0`` ``[1, 4 + classes + 32, anchors]``
(chosen boxes, scores and mask coefficients) and ``output1`` prototypes ``[1, 32, h/4, w/4]``
computed from the input by a pooling and a 1x1 convolution, so the masks follow the image.
The reference decoder below is the straightforward one: letterbox with OpenCV, run ONNX
Runtime, greedy NMS, full-resolution ``sigmoid(coefficients @ prototypes)``, Ultralytics'
``crop_mask`` at prototype resolution, ``F.interpolate`` to the input, padding cut away and
``cv2.resize`` to the frame. The same model is also built in Keras and converted to TFLite
the way Ultralytics' TFLite export lays it out (NHWC prototypes, boxes in 0..1).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import ConfigError
from edgeinfer.postprocess import decode
from edgeinfer.results import InstanceMasks
from tests.postprocess.helpers import letterbox_geometry, make_card, specs_for

INPUT = 160  # square input; prototypes 40 x 40
N_MASKS = 32
LABELS = ["person", "car", "dog"]
ANCHORS = 60
FRAME_WH = (400, 250)  # letterboxed: scale 0.4, 30 rows of padding above and below
# Chosen objects: (cx, cy, w, h) input pixels, class, score, mask: bright (+) or dark (-) pixels.
OBJECTS = [
    ((60.0, 70.0, 70.0, 60.0), 0, 0.92, +1.0),
    ((118.0, 86.0, 60.0, 50.0), 1, 0.81, -1.0),
]
CARD = {
    "task": "instance_segmentation", "labels": LABELS,
    "preprocess": {"color": "rgb", "resize": "letterbox", "letterbox": {"align": "center", "pad_value": 114},
                   "mean": 0.0, "std": 255.0, "layout": "nchw", "size_wh": [INPUT, INPUT]},
    "postprocess": {"decoder": "yolov8", "score_threshold": 0.25, "iou_threshold": 0.7},
}


def head_values() -> np.ndarray:
    """``[1, 4 + classes + 32, anchors]``: the chosen objects, a duplicate NMS must drop, and noise."""
    rng = np.random.default_rng(0)
    channels = 4 + len(LABELS) + N_MASKS
    rows = np.zeros((ANCHORS, channels), np.float32)
    rows[:, :4] = rng.uniform(10, 150, (ANCHORS, 4)) * [1, 1, 0.2, 0.2]
    rows[:, 4 : 4 + len(LABELS)] = rng.uniform(0, 0.1, (ANCHORS, len(LABELS)))
    rows[:, 4 + len(LABELS) :] = rng.normal(0, 0.3, (ANCHORS, N_MASKS))
    for i, (box, cls, score, sign) in enumerate(OBJECTS):
        rows[i * 7, :4] = box
        rows[i * 7, 4 + cls] = score
        coeffs = np.zeros(N_MASKS, np.float32)
        coeffs[0], coeffs[1] = sign, -2.0  # on where brightness > 0.7 (+) or < 0.3 (-)
        rows[i * 7, 4 + len(LABELS) :] = coeffs
    dup = rows[0].copy()
    dup[:4] += [2, 1, 0, 0]
    dup[4] = 0.6  # overlaps object 0 with a lower score: NMS removes it
    rows[ANCHORS - 1] = dup
    return rows.T[None].copy()


def build_torch_model():
    import torch
    from torch import nn

    class SegHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("head", torch.from_numpy(head_values()))
            self.proto = nn.Conv2d(3, N_MASKS, 1)
            with torch.no_grad():
                gen = torch.Generator().manual_seed(0)
                self.proto.weight.copy_(torch.randn(N_MASKS, 3, 1, 1, generator=gen) * 0.3)
                self.proto.bias.copy_(torch.randn(N_MASKS, generator=gen) * 0.3)
                # Channel 0: 10 * (brightness - 0.5), so a bright object is +, a dark one -;
                # channel 1: 1 everywhere (a bias), so grey background is in neither mask.
                self.proto.weight[0] = 10.0 / 3
                self.proto.bias[0] = -5.0
                self.proto.weight[1] = 0.0
                self.proto.bias[1] = 1.0

        def forward(self, images):
            pooled = nn.functional.avg_pool2d(images, 4)
            return self.head + 0.0 * images.mean(), self.proto(pooled)

    return SegHead().eval()


def export(module, path: Path, size: int, outputs: tuple[str, ...] = ("output0", "output1")) -> Path:
    """``torch.onnx.export`` (dynamo) with Ultralytics' I/O names; the exporter's own warnings muted."""
    import contextlib
    import io
    import logging
    import warnings

    import torch

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        torch.onnx.export(module, (torch.zeros(1, 3, size, size),), str(path), dynamo=True,
                          external_data=False, opset_version=18, input_names=["images"],
                          output_names=list(outputs), verbose=False)
    return path


@pytest.fixture(scope="session")
def seg_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(build_torch_model(), tmp_path_factory.mktemp("seg") / "seg.onnx", INPUT)


def scene() -> np.ndarray:
    """A BGR frame: grey background, a bright ellipse under object 0, a dark one under object 1."""
    frame = np.full((FRAME_WH[1], FRAME_WH[0], 3), 128, np.uint8)
    cv2.ellipse(frame, (150, 100), (70, 55), 20, 0, 360, (250, 250, 250), -1)
    cv2.ellipse(frame, (295, 140), (60, 45), -15, 0, 360, (10, 10, 10), -1)
    return frame


# -- the reference decoder ------------------------------------------------------------------


def reference(path: Path, frame: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Boxes in frame pixels and full-frame masks (cropped to the box), Ultralytics' order."""
    import onnxruntime as ort
    import torch

    h, w = frame.shape[:2]
    scale = min(INPUT / w, INPUT / h)
    nw, nh = round(w * scale), round(h * scale)
    left, top = (INPUT - nw) // 2, (INPUT - nh) // 2
    canvas = np.full((INPUT, INPUT, 3), 114, np.uint8)
    canvas[top : top + nh, left : left + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
    head, protos = ort.InferenceSession(str(path)).run(None, {"images": x})
    rows = head[0].T
    nc = len(LABELS)
    scores, classes = rows[:, 4 : 4 + nc].max(1), rows[:, 4 : 4 + nc].argmax(1)
    xyxy = np.concatenate([rows[:, :2] - rows[:, 2:4] / 2, rows[:, :2] + rows[:, 2:4] / 2], 1)
    keep = []
    for i in np.argsort(-scores):
        if scores[i] < 0.25:
            break
        if all(classes[j] != classes[i] or iou(xyxy[i], xyxy[j]) <= 0.7 for j in keep):
            keep.append(i)
    boxes, masks = [], []
    c, mh, mw = protos.shape[1:]
    for i in keep:
        m = 1 / (1 + np.exp(-(rows[i, 4 + nc :] @ protos[0].reshape(c, -1)))).reshape(mh, mw)
        bx = xyxy[i] * np.array([mw / INPUT, mh / INPUT] * 2)
        r, col = np.arange(mw)[None, :], np.arange(mh)[:, None]
        m = m * ((r >= bx[0]) & (r < bx[2]) & (col >= bx[1]) & (col < bx[3]))
        up = torch.nn.functional.interpolate(torch.from_numpy(m[None, None]).float(), (INPUT, INPUT),
                                             mode="bilinear", align_corners=False)[0, 0].numpy()
        full = cv2.resize(up[top : top + nh, left : left + nw], (w, h), interpolation=cv2.INTER_LINEAR) > 0.5
        box = ((xyxy[i] - [left, top] * 2) / scale).clip(0, [w, h] * 2)
        inside = np.zeros_like(full)
        x0, y0, x1, y1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
        inside[y0:y1, x0:x1] = True
        boxes.append(box)
        masks.append(full & inside)
    return np.asarray(boxes), masks


def iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def rle_decode(rle: dict) -> np.ndarray:
    h, w = rle["size"]
    flat = np.zeros(h * w, bool)
    pos, value = 0, False
    for count in rle["counts"]:
        flat[pos : pos + count] = value
        pos, value = pos + count, not value
    assert pos == h * w
    return flat.reshape(w, h).T  # column-major


# -- tests ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def decoded(seg_onnx: Path) -> InstanceMasks:
    with edgeinfer.load(seg_onnx, card=CARD) as model:
        result = model.predict(scene())
    assert isinstance(result, InstanceMasks)
    return result


def test_boxes_and_masks_match_the_reference_decoder(seg_onnx: Path, decoded: InstanceMasks) -> None:
    ref_boxes, ref_masks = reference(seg_onnx, scene())
    assert decoded.labels == ("person", "car")  # the duplicate of object 0 was suppressed
    np.testing.assert_allclose(decoded.boxes_xyxy, ref_boxes, atol=1.0)
    for i, ref in enumerate(ref_masks):
        mask = decoded.frame_mask(i)
        assert mask.shape == (FRAME_WH[1], FRAME_WH[0])
        assert ref.sum() > 2000  # a real object, not an empty mask agreeing with an empty one
        assert mask_iou(mask, ref) >= 0.98, i
    # Object 0 is the bright ellipse within its box, object 1 the dark one.
    frame = scene()
    assert frame[decoded.frame_mask(0)].mean() > 220 and frame[decoded.frame_mask(1)].mean() < 40


def test_masks_are_stored_cropped_to_their_boxes(decoded: InstanceMasks) -> None:
    for crop, (x, y), box in zip(decoded.masks, decoded.mask_origins, decoded.boxes_xyxy, strict=True):
        assert crop.dtype == bool
        assert (x, y) == (int(np.floor(box[0])), int(np.floor(box[1])))
        assert crop.shape == (int(np.ceil(box[3])) - y, int(np.ceil(box[2])) - x)


def test_polygon_rle_and_none_formats(decoded: InstanceMasks) -> None:
    from dataclasses import replace

    polygons = decoded.to_dict()["detections"]
    assert decoded.mask_format == "polygon"
    for i, det in enumerate(polygons):
        filled = np.zeros((FRAME_WH[1], FRAME_WH[0]), np.uint8)
        cv2.fillPoly(filled, [np.asarray(p, np.int32) for p in det["polygons"]], 1)
        assert mask_iou(filled.astype(bool), decoded.frame_mask(i)) >= 0.9
        assert 3 <= len(det["polygons"][0]) < 100  # simplified, not every boundary pixel
    rle = replace(decoded, mask_format="rle").to_dict()["detections"]
    for i, det in enumerate(rle):
        assert det["rle"]["size"] == [FRAME_WH[1], FRAME_WH[0]]
        np.testing.assert_array_equal(rle_decode(det["rle"]), decoded.frame_mask(i))
        assert "polygons" not in det
    bare = replace(decoded, mask_format="none").to_dict()
    assert bare["task"] == "instance_segmentation"
    assert all(set(d) == {"label", "class_id", "score", "box_xyxy"} for d in bare["detections"])


def test_mask_format_comes_from_the_card(seg_onnx: Path) -> None:
    card = {**CARD, "postprocess": {**CARD["postprocess"], "mask_format": "rle"}}
    with edgeinfer.load(seg_onnx, card=card) as model:
        payload = model.predict(scene()).to_dict()
    assert all("rle" in d for d in payload["detections"]) and payload["detections"]


def test_nhwc_prototypes_and_transposed_head_decode_the_same(seg_onnx: Path, decoded: InstanceMasks) -> None:
    import onnxruntime as ort

    x = np.random.default_rng(0).uniform(0, 1, (1, 3, INPUT, INPUT)).astype(np.float32)
    head, protos = ort.InferenceSession(str(seg_onnx)).run(None, {"images": x})
    geometry = letterbox_geometry(FRAME_WH, (INPUT, INPUT))
    card = make_card(**CARD)  # type: ignore[arg-type]
    nchw = {"output0": head, "output1": protos}
    tflite_like = {"protos": protos.transpose(0, 2, 3, 1).copy(), "head": head.transpose(0, 2, 1).copy()}
    a = decode(card, nchw, specs_for(nchw), geometry)
    b = decode(card, tflite_like, specs_for(tflite_like), geometry)
    assert isinstance(a, InstanceMasks) and isinstance(b, InstanceMasks) and len(a) == 2
    np.testing.assert_array_equal(a.boxes_xyxy, b.boxes_xyxy)
    for ma, mb in zip(a.masks, b.masks, strict=True):
        np.testing.assert_array_equal(ma, mb)


def test_mask_threshold_grows_and_shrinks_masks(seg_onnx: Path) -> None:
    areas = []
    for threshold in (0.2, 0.8):
        card = {**CARD, "postprocess": {**CARD["postprocess"], "mask_threshold": threshold}}
        with edgeinfer.load(seg_onnx, card=card) as model:
            areas.append(model.predict(scene()).areas())
    assert (areas[0] > areas[1]).all()


def test_zero_config_from_ultralytics_metadata(seg_onnx: Path, decoded: InstanceMasks, tmp_path: Path) -> None:
    import onnx

    from tests.test_card_derive import ultralytics_metadata

    model = onnx.load(str(seg_onnx))
    meta = ultralytics_metadata("segment", imgsz=[INPUT, INPUT], names=dict(enumerate(LABELS)))
    for key, value in meta.items():  # exactly as Ultralytics' Exporter.export_onnx
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    path = tmp_path / "yolo11n-seg.onnx"
    onnx.save(model, str(path))
    with edgeinfer.load(path) as loaded:
        assert loaded.card.origin == "ultralytics" and loaded.card.task == "instance_segmentation"
        result = loaded.predict(scene())
    assert isinstance(result, InstanceMasks) and result.labels == decoded.labels
    for i in range(len(result)):
        assert mask_iou(result.frame_mask(i), decoded.frame_mask(i)) >= 0.99


def test_one_output_model_is_a_load_time_error(tmp_path: Path) -> None:
    import torch
    from torch import nn

    class BoxesOnly(nn.Module):
        def forward(self, images):
            return torch.from_numpy(head_values()) + 0.0 * images.mean()

    path = export(BoxesOnly(), tmp_path / "boxes_only.onnx", 64, outputs=("output0",))
    with pytest.raises(ConfigError) as err:
        edgeinfer.load(path, card=CARD)
    message = str(err.value)
    assert "output0 [1, 39, 60]" in message and "prototype" in message and "task: detection" in message


def test_coefficients_must_match_prototype_channels(seg_onnx: Path) -> None:
    card = {**CARD, "labels": ["person", "car"]}  # 4 + 2 classes leaves 33 coefficients for 32 prototypes
    with pytest.raises(ConfigError, match=r"33 mask coefficients.*32 channels"):
        edgeinfer.load(seg_onnx, card=card)


def test_tracking_keeps_masks(seg_onnx: Path, decoded: InstanceMasks) -> None:
    with edgeinfer.load(seg_onnx, card=CARD) as model:
        tracked = [model.track(scene(), timestamp=i / 30) for i in range(3)][-1]
    assert isinstance(tracked, InstanceMasks) and tracked.track_ids is not None
    assert len(tracked.masks) == len(tracked) == 2
    by_label = {label: i for i, label in enumerate(decoded.labels)}
    for i, label in enumerate(tracked.labels):
        np.testing.assert_array_equal(tracked.masks[i], decoded.masks[by_label[label]])
    assert all("track_id" in d and "polygons" in d for d in tracked.to_dict()["detections"])


def test_draw_paints_inside_the_mask(decoded: InstanceMasks) -> None:
    frame = scene()
    drawn = edgeinfer.draw(frame, decoded)
    mask = decoded.frame_mask(1)  # the dark ellipse: painted in the car's colour
    interior = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(drawn[interior].astype(int) - frame[interior]).mean() > 30
    assert decoded.boxes_xyxy[:, 2].max() + 8 < FRAME_WH[0] - 15
    assert (drawn[:20, -15:] == frame[:20, -15:]).all()  # right of every box: untouched


def test_predict_cli_prints_masks_and_saves_the_drawing(seg_onnx: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from edgeinfer.card import write
    from edgeinfer.cli import cli

    model = tmp_path / "seg_with_card.onnx"
    model.write_bytes(seg_onnx.read_bytes())
    write(model, CARD)
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), scene())
    out = tmp_path / "drawn.jpg"
    result = CliRunner().invoke(cli, ["predict", str(model), str(image), "--save", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 found: person 0.92" in result.output and "mask: 1 polygon(s)" in result.output
    drawn = cv2.imread(str(out))
    assert drawn.shape == scene().shape and np.abs(drawn.astype(int) - scene()).mean() > 1


@pytest.mark.parametrize(("start", "step"), [
    ((3.05, 2.45), (0.1, 0.1)),  # on cv2.resize's grid (whole-pixel letterbox): the resize path
    ((3.0537, 2.41), (0.1, 0.1)),  # off it (fractional padding): the warpAffine path
    ((0.3, -0.2), (0.37, 0.29)),  # another scale, starting before the grid's edge (clamped)
])
def test_resampling_is_bilinear_with_clamped_edges(start: tuple[float, float], step: tuple[float, float]) -> None:
    from edgeinfer.postprocess.instance_seg import _resample

    grid = cv2.resize(np.random.default_rng(0).uniform(0, 1, (8, 8)).astype(np.float32), (30, 25),
                      interpolation=cv2.INTER_CUBIC)
    size_wh = (150, 80)
    u = start[0] + step[0] * np.arange(size_wh[0])
    v = start[1] + step[1] * np.arange(size_wh[1])

    def neighbours(c: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = np.clip(c, 0, n - 1)
        low = np.floor(c).astype(int)
        return low, np.minimum(low + 1, n - 1), c - low

    v0, v1, wv = neighbours(v, grid.shape[0])
    u0, u1, wu = neighbours(u, grid.shape[1])
    by_row = grid[v0] * (1 - wv)[:, None] + grid[v1] * wv[:, None]
    expected = by_row[:, u0] * (1 - wu) + by_row[:, u1] * wu
    got = _resample(cv2, grid, start, step, size_wh)
    assert got.shape == (size_wh[1], size_wh[0])
    np.testing.assert_allclose(got, expected, atol=1e-4)


def seg_tflite_bytes() -> bytes:
    """The same model as Ultralytics' TFLite export lays it out: NHWC prototypes, boxes in 0..1."""
    import warnings

    import keras
    import tensorflow as tf

    torch_model = build_torch_model()
    head = head_values()
    head[:, :4] /= INPUT  # Ultralytics TFLite exports normalise the boxes
    inputs = keras.Input(shape=(INPUT, INPUT, 3), batch_size=1)
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)  # the head is a constant: zero kernel, bias
    flat = keras.layers.Dense(head.size, kernel_initializer="zeros",
                              bias_initializer=keras.initializers.Constant(head.reshape(-1)))(pooled)
    out0 = keras.layers.Reshape(head.shape[1:])(flat)
    conv = keras.layers.Conv2D(N_MASKS, 1)
    out1 = conv(keras.layers.AveragePooling2D(4)(inputs))
    conv.set_weights([torch_model.proto.weight.detach().numpy().transpose(2, 3, 1, 0),
                      torch_model.proto.bias.detach().numpy()])
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, [out0, out1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bytes(converter.convert())


def test_ultralytics_tflite_layout_decodes_like_onnx(decoded: InstanceMasks, tmp_path: Path) -> None:
    import json

    from tests.test_card_derive import append_zip_member, ultralytics_metadata

    path = tmp_path / "yolo11n-seg_float32.tflite"
    path.write_bytes(seg_tflite_bytes())
    meta = ultralytics_metadata("segment", imgsz=[INPUT, INPUT], names=dict(enumerate(LABELS)))
    append_zip_member(path, "metadata.json", json.dumps(meta))
    with edgeinfer.load(path) as model:
        assert model.card.task == "instance_segmentation" and model.card.preprocess.layout == "nhwc"
        assert sorted(len(spec.shape) for spec in model.outputs) == [3, 4]
        assert next(s for s in model.outputs if len(s.shape) == 4).shape[-1] == N_MASKS  # NHWC
        result = model.predict(scene())
    assert isinstance(result, InstanceMasks) and result.labels == decoded.labels
    np.testing.assert_allclose(result.boxes_xyxy, decoded.boxes_xyxy, atol=1.0)
    for i in range(len(result)):
        assert mask_iou(result.frame_mask(i), decoded.frame_mask(i)) >= 0.98


def test_nothing_above_threshold_is_an_empty_result_in_every_format() -> None:
    head = head_values()
    head[:, 4 : 4 + len(LABELS)] = 0.0
    protos = np.zeros((1, N_MASKS, INPUT // 4, INPUT // 4), np.float32)
    outputs = {"output0": head, "output1": protos}
    result = decode(make_card(**CARD), outputs, specs_for(outputs), letterbox_geometry(FRAME_WH, (INPUT, INPUT)))
    assert isinstance(result, InstanceMasks) and len(result) == 0 and result.masks == ()
    assert result.mask_origins.shape == (0, 2)
    assert result.to_dict() == {"task": "instance_segmentation", "detections": []}
    frame = scene()
    np.testing.assert_array_equal(edgeinfer.draw(frame, result), frame)


@pytest.mark.parametrize(("origin", "shape"), [((0, 0), (3, 4)), ((5, 2), (4, 3)), ((0, 3), (3, 8))])
def test_rle_round_trips_at_the_frame_edges(origin: tuple[int, int], shape: tuple[int, int]) -> None:
    from edgeinfer.results.masks import mask_rle

    crop = np.random.default_rng(sum(origin)).uniform(0, 1, shape) > 0.4
    crop[0, 0] = crop[-1, -1] = True  # set pixels on the crop's (and here the frame's) corners
    frame = np.zeros((6, 8), bool)  # 8 wide, 6 high
    frame[origin[1] : origin[1] + shape[0], origin[0] : origin[0] + shape[1]] = crop
    rle = mask_rle(crop, origin, (8, 6))
    assert rle["size"] == [6, 8] and sum(rle["counts"]) == 48
    np.testing.assert_array_equal(rle_decode(rle), frame)
