"""Detection decoders on hand-built head tensors with known boxes."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.errors import InputError
from edgeinfer.postprocess import Detections, decode
from edgeinfer.types import Geometry
from tests.postprocess.helpers import crop_geometry, letterbox_geometry, make_card, specs_for

LABELS = ("person", "car", "dog")
INPUT_WH = (320, 320)
# (cx, cy, w, h) in input pixels, class, score
A = ((100.0, 100.0, 40.0, 40.0), 0, 0.9)
A_DUPLICATE = ((102.0, 101.0, 40.0, 40.0), 0, 0.8)  # IoU with A ~0.9, same class: removed
A_OTHER_CLASS = ((101.0, 100.0, 40.0, 40.0), 1, 0.7)  # same place, other class: kept
FAINT = ((250.0, 200.0, 30.0, 30.0), 2, 0.2)  # under the 0.25 threshold: dropped
OBJECTS = (A, A_DUPLICATE, A_OTHER_CLASS, FAINT)


def yolov8_head(objects, n_anchors: int = 50, n_classes: int = 3) -> np.ndarray:
    """[1, 4 + classes, anchors], objects first, the other anchors scoring zero."""
    head = np.zeros((1, 4 + n_classes, n_anchors), np.float32)
    head[0, :4, :] = np.array([160.0, 160.0, 10.0, 10.0])[:, None]
    for i, (box, cls, score) in enumerate(objects):
        head[0, :4, i] = box
        head[0, 4 + cls, i] = score
    return head


def yolo_card(decoder: str = "yolov8", **post) -> object:
    return make_card("detection", labels=list(LABELS), postprocess={"decoder": decoder, **post})


def xyxy(cxcywh) -> np.ndarray:
    cx, cy, w, h = cxcywh
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def run_decode(card, outputs: dict[str, np.ndarray], geometry: Geometry) -> Detections:
    result = decode(card, outputs, specs_for(outputs), geometry)
    assert isinstance(result, Detections)
    return result


def test_yolov8_nms_threshold_and_class_awareness() -> None:
    geometry = Geometry(INPUT_WH, INPUT_WH)
    det = run_decode(yolo_card(), {"output0": yolov8_head(OBJECTS)}, geometry)
    assert det.labels == ("person", "car")
    np.testing.assert_array_equal(det.class_ids, [0, 1])
    np.testing.assert_allclose(det.scores, [0.9, 0.7], atol=1e-6)
    np.testing.assert_allclose(det.boxes_xyxy[0], xyxy(A[0]), atol=1e-4)
    np.testing.assert_allclose(det.boxes_xyxy[1], xyxy(A_OTHER_CLASS[0]), atol=1e-4)
    assert det.boxes_xyxy.dtype == np.float32 and det.boxes_xyxy.shape == (2, 4)


def test_agnostic_nms_keeps_one_box_per_object_whatever_its_label() -> None:
    geometry = Geometry(INPUT_WH, INPUT_WH)
    det = run_decode(yolo_card(agnostic_nms=True), {"output0": yolov8_head(OBJECTS)}, geometry)
    assert det.labels == ("person",)  # A's other-class twin goes; the faint box stays under threshold
    np.testing.assert_allclose(det.boxes_xyxy[0], xyxy(A[0]), atol=1e-4)


def test_iou_threshold_decides_suppression() -> None:
    geometry = Geometry(INPUT_WH, INPUT_WH)
    # Two class-0 boxes overlapping with IoU 1/3 exactly.
    objects = (((100.0, 100.0, 40.0, 40.0), 0, 0.9), ((120.0, 100.0, 40.0, 40.0), 0, 0.8))
    head = {"output0": yolov8_head(objects)}
    assert len(run_decode(yolo_card(iou_threshold=0.3), head, geometry)) == 1
    assert len(run_decode(yolo_card(iou_threshold=0.4), head, geometry)) == 2


def test_yolov8_transposed_layout_gives_same_result() -> None:
    geometry = Geometry(INPUT_WH, INPUT_WH)
    head = yolov8_head(OBJECTS)
    straight = run_decode(yolo_card(), {"out": head}, geometry)
    transposed = run_decode(yolo_card(), {"out": head.transpose(0, 2, 1).copy()}, geometry)
    np.testing.assert_array_equal(straight.boxes_xyxy, transposed.boxes_xyxy)
    assert straight.labels == transposed.labels


def test_yolov8_layout_found_without_labels() -> None:
    card = make_card("detection", postprocess={"decoder": "yolov8"})
    det = run_decode(card, {"out": yolov8_head(OBJECTS)}, Geometry(INPUT_WH, INPUT_WH))
    assert det.labels == ("0", "1")


def test_yolov8_normalised_boxes_are_scaled_to_input() -> None:
    geometry = Geometry(INPUT_WH, INPUT_WH)
    pixel = yolov8_head(OBJECTS)
    normalised = pixel.copy()
    normalised[0, :4] /= 320.0
    a = run_decode(yolo_card(), {"out": pixel}, geometry)
    b = run_decode(yolo_card(), {"out": normalised}, geometry)
    np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=1e-3)


def test_max_detections_keeps_the_best() -> None:
    objects = [((20.0 + 30 * i, 50.0, 20.0, 20.0), 0, 0.3 + 0.05 * i) for i in range(9)]
    det = run_decode(
        yolo_card(max_detections=3), {"out": yolov8_head(objects)}, Geometry(INPUT_WH, INPUT_WH)
    )
    np.testing.assert_allclose(det.scores, [0.7, 0.65, 0.6], atol=1e-6)
    np.testing.assert_allclose(det.boxes_xyxy[0], xyxy(objects[8][0]), atol=1e-4)


def test_boxes_map_through_letterbox_to_frame_pixels() -> None:
    geometry = letterbox_geometry((640, 480), INPUT_WH)  # scale 0.5, padding 40 px top
    det = run_decode(yolo_card(), {"out": yolov8_head([A])}, geometry)
    x1, y1, x2, y2 = xyxy(A[0])
    expected = [x1 / 0.5, (y1 - 40) / 0.5, x2 / 0.5, (y2 - 40) / 0.5]
    np.testing.assert_allclose(det.boxes_xyxy[0], expected, atol=1e-3)


def test_boxes_map_through_centre_crop_and_are_clipped() -> None:
    geometry = crop_geometry((480, 320), INPUT_WH)  # scale 1, 80 px cut on each side
    objects = [((10.0, 100.0, 40.0, 40.0), 0, 0.9)]  # input x -10..30 -> frame 70..110
    det = run_decode(yolo_card(), {"out": yolov8_head(objects)}, geometry)
    np.testing.assert_allclose(det.boxes_xyxy[0], [70.0, 80.0, 110.0, 120.0], atol=1e-3)
    letterbox = letterbox_geometry((640, 480), INPUT_WH)  # input y 0..40 is padding
    objects = [((100.0, 45.0, 40.0, 30.0), 0, 0.9), ((200.0, 15.0, 40.0, 20.0), 1, 0.8)]
    det = run_decode(yolo_card(), {"out": yolov8_head(objects)}, letterbox)
    # The first box reaches into the padding and is clipped at y=0; the second lies
    # wholly in the padding and is dropped.
    assert det.labels == ("person",)
    np.testing.assert_allclose(det.boxes_xyxy[0], [160.0, 0.0, 240.0, 40.0], atol=1e-3)


def test_yolov5_score_is_objectness_times_class() -> None:
    n_classes = 3
    head = np.zeros((1, 40, 5 + n_classes), np.float32)
    head[0, :, :4] = [160.0, 160.0, 10.0, 10.0]
    head[0, 0, :5] = [*A[0], 0.5]
    head[0, 0, 5 + 2] = 0.9  # 0.45: kept
    head[0, 1, :5] = [250.0, 250.0, 30.0, 30.0, 0.9]
    head[0, 1, 5 + 1] = 0.3  # 0.27: under 0.3, dropped
    head[0, 2, :5] = [*A_DUPLICATE[0], 0.4]
    head[0, 2, 5 + 2] = 0.9  # 0.36, same class overlapping the first: suppressed
    det = run_decode(
        yolo_card("yolov5", score_threshold=0.3), {"out": head}, Geometry(INPUT_WH, INPUT_WH)
    )
    assert det.labels == ("dog",)
    np.testing.assert_allclose(det.scores, [0.45], atol=1e-6)
    np.testing.assert_allclose(det.boxes_xyxy[0], xyxy(A[0]), atol=1e-4)


def ssd_outputs(count: int) -> dict[str, np.ndarray]:
    """The postprocess op's four outputs, in the scrambled TF2 order (scores first)."""
    n = 10
    boxes = np.zeros((1, n, 4), np.float32)
    classes = np.zeros((1, n), np.float32)
    scores = np.zeros((1, n), np.float32)
    boxes[0, 0] = [0.25, 0.125, 0.5, 0.375]  # ymin, xmin, ymax, xmax
    classes[0, 0], scores[0, 0] = 2, 0.8
    boxes[0, 1] = [0.5, 0.5, 0.75, 0.75]
    classes[0, 1], scores[0, 1] = 0, 0.6
    boxes[0, 2] = [0.1, 0.1, 0.2, 0.2]
    classes[0, 2], scores[0, 2] = 1, 0.1  # under threshold
    # Past count the op leaves uninitialised memory (values measured on LiteRT): a huge
    # "score" and a fractional "class" that would swap the two vectors if they were read.
    boxes[0, 5] = [0.0, 0.0, 1.0, 1.0]
    classes[0, 5], scores[0, 5] = 3.1e-41, 1.3e11
    return {
        "StatefulPartitionedCall:1": scores,
        "StatefulPartitionedCall:3": boxes,
        "StatefulPartitionedCall:0": np.array([count], np.float32),
        "StatefulPartitionedCall:2": classes,
    }


def test_ssd_outputs_identified_by_shape_and_content() -> None:
    card = yolo_card("ssd")
    geometry = Geometry((640, 480), INPUT_WH, (0.5, 2 / 3))  # stretch
    det = run_decode(card, ssd_outputs(count=3), geometry)
    assert det.labels == ("dog", "person")
    np.testing.assert_allclose(det.scores, [0.8, 0.6], atol=1e-6)
    # Normalised boxes cover the frame the same way under stretch.
    np.testing.assert_allclose(det.boxes_xyxy[0], [0.125 * 640, 0.25 * 480, 0.375 * 640, 0.5 * 480],
                               atol=1e-2)


def test_ssd_count_limits_rows() -> None:
    det = run_decode(yolo_card("ssd"), ssd_outputs(count=1), Geometry(INPUT_WH, INPUT_WH))
    assert det.labels == ("dog",)


def test_wrong_output_shape_names_the_decoder() -> None:
    with pytest.raises(InputError, match="ssd decoder"):
        run_decode(yolo_card("ssd"), {"out": yolov8_head(OBJECTS)}, Geometry(INPUT_WH, INPUT_WH))
    with pytest.raises(InputError, match="yolov8 decoder"):
        run_decode(yolo_card(), {"out": np.zeros((1, 10), np.float32)}, Geometry(INPUT_WH, INPUT_WH))


def test_no_candidates_gives_empty_detections() -> None:
    det = run_decode(yolo_card(), {"out": yolov8_head([])}, Geometry(INPUT_WH, INPUT_WH))
    assert len(det) == 0 and det.boxes_xyxy.shape == (0, 4)
    assert det.to_dict() == {"task": "detection", "detections": []}
