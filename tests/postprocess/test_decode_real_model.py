"""decode() on what a real ONNX Runtime session returns through ``Model.run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.postprocess import Detections, decode
from tests.postprocess.helpers import letterbox_geometry

pytest.importorskip("onnxruntime")

# A YOLOv8-style head [1, 4 + 2 classes, 10 anchors] the graph emits for any image.
HEAD = np.zeros((1, 6, 10), np.float32)
HEAD[0, :4] = np.array([32.0, 32.0, 4.0, 4.0])[:, None]
HEAD[0, :, 0] = [20.0, 30.0, 16.0, 12.0, 0.9, 0.0]  # class 0
HEAD[0, :, 1] = [21.0, 30.0, 16.0, 12.0, 0.8, 0.0]  # duplicate of anchor 0
HEAD[0, :, 2] = [44.0, 40.0, 8.0, 8.0, 0.0, 0.6]  # class 1


def head_model(path: Path) -> Path:
    """ONNX graph: image [1, 3, 64, 64] -> HEAD + 0 * mean(image), so the input is really used."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Reshape", ["nothing", "shape111"], ["nothing3"]),
        helper.make_node("Add", ["head", "nothing3"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "head",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 10])],
        initializer=[
            numpy_helper.from_array(HEAD, "head"),
            numpy_helper.from_array(np.zeros(1, np.float32), "zero"),
            numpy_helper.from_array(np.array([1, 1, 1], np.int64), "shape111"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def test_decode_model_run_outputs(tmp_path: Path) -> None:
    import edgeinfer

    card = {"task": "detection", "labels": ["bolt", "nut"], "postprocess": {"decoder": "yolov8"}}
    with edgeinfer.load(head_model(tmp_path / "head.onnx"), card=card) as model:
        outputs = model.run(np.zeros((1, 3, 64, 64), np.float32))
        geometry = letterbox_geometry((128, 96), (64, 64))  # scale 0.5, 8 px padding top
        result = decode(model.card, outputs, model.outputs, geometry)
    assert isinstance(result, Detections)
    assert result.labels == ("bolt", "nut")
    np.testing.assert_allclose(result.scores, [0.9, 0.6], atol=1e-6)
    # Anchor 0: input x 12..28, y 24..36 -> frame x 24..56, y (24-8)*2..(36-8)*2.
    np.testing.assert_allclose(result.boxes_xyxy[0], [24.0, 32.0, 56.0, 56.0], atol=1e-3)
