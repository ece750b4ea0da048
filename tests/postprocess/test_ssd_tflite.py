"""The ssd decoder on the outputs of a real ``TFLite_Detection_PostProcess`` op run by LiteRT."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.postprocess import Detections, decode
from edgeinfer.types import Geometry

# Anchors (y centre, x centre, h, w), normalised; zero box encodings decode to the anchors.
ANCHORS = np.array(
    [[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.7, 0.6, 0.2, 0.4], [0.5, 0.5, 0.1, 0.1]], np.float32
)
# Per-anchor class scores; column 0 is the background the op leaves out.
CLASS_SCORES = np.array([[[0, 0.9, 0], [0, 0.8, 0], [0, 0, 0.6], [0, 0.05, 0]]], np.float32)
OP_ATTRS = " ".join([
    'name: "TFLite_Detection_PostProcess"',
    'attr { key: "max_detections" value { i: 5 } }',
    'attr { key: "max_classes_per_detection" value { i: 1 } }',
    'attr { key: "detections_per_class" value { i: 5 } }',
    'attr { key: "use_regular_nms" value { b: false } }',
    'attr { key: "nms_score_threshold" value { f: 0.1 } }',
    'attr { key: "nms_iou_threshold" value { f: 0.5 } }',
    'attr { key: "num_classes" value { i: 2 } }',
    'attr { key: "y_scale" value { f: 10.0 } }',
    'attr { key: "x_scale" value { f: 10.0 } }',
    'attr { key: "h_scale" value { f: 5.0 } }',
    'attr { key: "w_scale" value { f: 5.0 } }',
])


def ssd_tflite(path: Path) -> Path:
    """A TFLite model: image [1, 16, 16, 3] -> the detection postprocess op's four outputs."""
    tf = pytest.importorskip("tensorflow")

    @tf.function(experimental_implements=OP_ATTRS)
    def detection_postprocess(box_encodings, class_predictions, anchors):
        # The converter replaces this body with the fused op; these are placeholders.
        return (tf.constant(0.0, name="boxes"), tf.constant(0.0, name="classes"),
                tf.constant(0.0, name="scores"), tf.constant(0.0, name="num_detections"))

    class Detector(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32)])
        def __call__(self, image):
            used = tf.reduce_mean(image) * 0.0
            encodings = tf.zeros([1, len(ANCHORS), 4]) + used
            return detection_postprocess(encodings, tf.constant(CLASS_SCORES) + used, tf.constant(ANCHORS))

    detector = Detector()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [detector.__call__.get_concrete_function()], detector
    )
    converter.allow_custom_ops = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        path.write_bytes(converter.convert())
    return path


def test_ssd_decodes_real_postprocess_op(tmp_path: Path) -> None:
    import edgeinfer

    card = {"task": "detection", "labels": ["bolt", "nut"],
            "postprocess": {"decoder": "ssd", "score_threshold": 0.3}}
    with edgeinfer.load(ssd_tflite(tmp_path / "ssd.tflite"), card=card) as model:
        assert len(model.outputs) == 4
        outputs = model.run(np.zeros((1, 16, 16, 3), np.float32))
        geometry = Geometry((320, 160), (16, 16), (16 / 320, 16 / 160))  # stretch
        result = decode(model.card, outputs, model.outputs, geometry)
    assert isinstance(result, Detections)
    # Anchor 1 duplicates anchor 0 (the op's NMS removes it); anchor 3 is under threshold.
    assert result.labels == ("bolt", "nut")
    np.testing.assert_allclose(result.scores, [0.9, 0.6], atol=1e-6)
    # Anchor 0: x 0.2..0.4, y 0.2..0.4 of the frame; anchor 2: x 0.4..0.8, y 0.6..0.8.
    np.testing.assert_allclose(result.boxes_xyxy, [[64, 32, 128, 64], [128, 96, 256, 128]], atol=0.1)
