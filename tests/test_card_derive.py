"""Cards derived from what models exported by others carry: Ultralytics and TFLite Metadata.

Every model is real and built here: ONNX graphs with onnx.helper carrying metadata_props
written exactly as Ultralytics' exporter writes them (``str(value)`` of each metadata
entry), Keras models converted with TFLiteConverter with Ultralytics' ``metadata.json``
appended as a zip member, and TFLite classifiers carrying a ``TFLITE_METADATA``
flatbuffer built with ``flatbuffers.Builder`` field by field from metadata_schema.fbs,
with the label file packed as a zip the way the TFLite metadata populator packs it.
"""

from __future__ import annotations

import json
import logging
import warnings
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.card import read, write
from edgeinfer.formats import open_model_file
from edgeinfer.formats.tflite_metadata import parse_metadata
from tests.model_factory import tflite_bytes

NAMES = {0: "person", 1: "bicycle", 2: "car"}
IMGSZ_HW = [64, 96]  # Ultralytics imgsz is [height, width]


def ultralytics_metadata(task: str = "detect", **extra: Any) -> dict[str, Any]:
    """The metadata dict Ultralytics' Exporter builds (engine/exporter.py)."""
    return {
        "description": f"Ultralytics YOLO11n-{task} model trained on coco.yaml",
        "author": "Ultralytics",
        "date": "2026-11-25T10:00:00.000000",
        "version": "8.3.200",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": 32,
        "task": task,
        "batch": 1,
        "imgsz": IMGSZ_HW,
        "names": dict(NAMES),
        "args": {"batch": 1, "half": False, "dynamic": False, "simplify": True, "opset": None, "nms": False},
        "channels": 3,
        **extra,
    }


def yolo_onnx(path: Path, metadata: dict[str, Any] | None, *, head: str = "detect") -> Path:
    """A real ONNX model with Ultralytics' I/O names; ``metadata`` written as the exporter does."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    h, w = IMGSZ_HW
    nc = len(NAMES)
    rng = np.random.default_rng(0)
    if head == "classify":
        weight = numpy_helper.from_array(rng.normal(0, 0.3, (3, nc)).astype(np.float32), "w")
        nodes = [helper.make_node("GlobalAveragePool", ["images"], ["g"]),
                 helper.make_node("Flatten", ["g"], ["f"]),
                 helper.make_node("MatMul", ["f", "w"], ["logits"]),
                 helper.make_node("Softmax", ["logits"], ["output0"], axis=1)]
        out_shape = [1, nc]
    else:  # yolov8 head [1, 4 + nc, anchors]; yolov5 head [1, anchors, 5 + nc]
        ch = 5 + nc if head == "yolov5" else 4 + nc
        weight = numpy_helper.from_array(rng.normal(0, 0.3, (ch, 3, 1, 1)).astype(np.float32), "w")
        shape = numpy_helper.from_array(np.array([1, ch, -1], np.int64), "shape")
        nodes = [helper.make_node("Conv", ["images", "w"], ["c"], strides=[32, 32]),
                 helper.make_node("Reshape", ["c", "shape"], ["head" if head == "yolov5" else "output0"])]
        out_shape = [1, ch, (h // 32) * (w // 32)]
        if head == "yolov5":
            nodes.append(helper.make_node("Transpose", ["head"], ["output0"], perm=[0, 2, 1]))
            out_shape = [1, (h // 32) * (w // 32), ch]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=[weight] + ([] if head == "classify" else [shape]),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    for key, value in (metadata or {}).items():  # exactly as Exporter.export_onnx
        meta = model.metadata_props.add()
        meta.key, meta.value = key, str(value)
    path.write_bytes(model.SerializeToString())
    return path


@cache
def yolo_tflite_bytes() -> bytes:
    """A Keras model with a ``[1, 4 + nc, anchors]`` output, converted to TFLite (NHWC input)."""
    import keras
    import tensorflow as tf

    h, w = IMGSZ_HW
    nc = len(NAMES)
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(h, w, 3), batch_size=1)
    x = keras.layers.Conv2D(4 + nc, 1, strides=32)(inputs)
    x = keras.layers.Reshape(((h // 32) * (w // 32), 4 + nc))(x)
    outputs = keras.layers.Permute((2, 1))(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bytes(converter.convert())


def append_zip_member(path: Path, name: str, text: str) -> None:
    """Append a file the way Ultralytics' ``_add_tflite_metadata`` does (zip in append mode)."""
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)


def yolo_tflite(path: Path, metadata: dict[str, Any]) -> Path:
    path.write_bytes(yolo_tflite_bytes())
    append_zip_member(path, "metadata.json", json.dumps(metadata, indent=2))
    return path


def assert_ultralytics_detection(model: Any, layout: str) -> None:
    card = model.card
    assert card.origin == "ultralytics"
    assert card.task == "detection" and card.postprocess.decoder == "yolov8"
    assert card.labels == ("person", "bicycle", "car")
    pre = card.preprocess
    assert (pre.resize, pre.letterbox.align, pre.letterbox.pad_value) == ("letterbox", "center", 114)
    assert pre.color == "rgb" and pre.mean == (0.0,) * 3 and pre.std == (255.0,) * 3
    assert pre.layout == layout
    assert pre.size_wh == (IMGSZ_HW[1], IMGSZ_HW[0])
    spec = model.inputs[0]
    out = next(iter(model.run(np.zeros(spec.shape, np.float32)).values()))
    assert out.shape[1] == 4 + len(card.labels)  # the layout the yolov8 decoder reads


# -- Ultralytics ---------------------------------------------------------------------------


def test_ultralytics_onnx_detect(tmp_path: Path) -> None:
    shuffled = {2: "car", 0: "person", 1: "bicycle"}  # written out of order: labels follow ids
    path = yolo_onnx(tmp_path / "yolo11n.onnx", ultralytics_metadata(names=shuffled))
    with edgeinfer.load(path) as model:
        assert_ultralytics_detection(model, "nchw")
        assert model.card.postprocess.iou_threshold == 0.7  # yolo predict's default


def test_derived_card_drives_predict(tmp_path: Path) -> None:
    """A head with one known box: predict() with only the derived card maps it to the frame."""
    from onnx import TensorProto, helper, numpy_helper

    h, w = IMGSZ_HW
    box_cxcywh = [48.0, 32.0, 24.0, 16.0]  # input pixels
    head = np.array([[[*box_cxcywh, 0.05, 0.9, 0.1], [10, 10, 4, 4, 0.01, 0.02, 0.01]]], np.float32)
    nodes = [helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"]),
             helper.make_node("Add", ["head", "z"], ["output0"])]
    graph = helper.make_graph(
        nodes, "main_graph",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 7, 2])],
        initializer=[numpy_helper.from_array(head.transpose(0, 2, 1).copy(), "head"),
                     numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    for key, value in ultralytics_metadata().items():
        meta = model.metadata_props.add()
        meta.key, meta.value = key, str(value)
    path = tmp_path / "one_box.onnx"
    path.write_bytes(model.SerializeToString())

    frame = np.full((100, 300, 3), 80, np.uint8)  # wider than the 96x64 input: padded top/bottom
    scale = min(w / 300, h / 100)
    pad_y = (h - 100 * scale) / 2
    cx, cy, bw, bh = box_cxcywh
    expected = [(cx - bw / 2) / scale, (cy - bh / 2 - pad_y) / scale,
                (cx + bw / 2) / scale, (cy + bh / 2 - pad_y) / scale]
    with edgeinfer.load(path) as loaded:
        result = loaded.predict(frame).to_dict()
    assert [d["label"] for d in result["detections"]] == ["bicycle"]
    assert result["detections"][0]["box_xyxy"] == pytest.approx(expected, abs=1.0)


def test_ultralytics_tflite_detect(tmp_path: Path) -> None:
    path = yolo_tflite(tmp_path / "yolo11n_float32.tflite", ultralytics_metadata())
    assert json.loads(open_model_file(path).zip_members()["metadata.json"])["names"]["0"] == "person"
    with edgeinfer.load(path) as model:
        assert_ultralytics_detection(model, "nhwc")


def test_ultralytics_onnx_classify(tmp_path: Path) -> None:
    path = yolo_onnx(tmp_path / "yolo11n-cls.onnx", ultralytics_metadata("classify"), head="classify")
    with edgeinfer.load(path) as model:
        card = model.card
        assert card.origin == "ultralytics" and card.task == "classification"
        assert card.preprocess.resize == "center_crop" and card.preprocess.crop_fraction == 1.0
        assert card.postprocess.activation == "none"  # the export ends in softmax already
        assert card.labels == tuple(NAMES.values())
        scores = next(iter(model.run(np.zeros(model.inputs[0].shape, np.float32)).values()))
        assert scores.shape == (1, len(card.labels))


@pytest.mark.parametrize(("task", "extra", "want_task", "want_decoder"), [
    ("segment", {}, "instance_segmentation", "yolov8"),
    ("pose", {"kpt_shape": [17, 3]}, "pose", "yolov8"),
    ("obb", {}, "obb", "yolov8"),
    ("detect", {"args": {"batch": 1, "nms": True}}, "raw", None),  # NMS inside the graph
    ("detect", {"end2end": True}, "raw", None),
])
def test_ultralytics_tasks(tmp_path: Path, task: str, extra: dict[str, Any], want_task: str,
                           want_decoder: str | None) -> None:
    path = yolo_onnx(tmp_path / f"yolo-{task}.onnx", ultralytics_metadata(task, **extra))
    card = read(path)
    assert card.origin == "ultralytics"
    assert (card.task, card.postprocess.decoder) == (want_task, want_decoder)
    assert card.labels == tuple(NAMES.values())
    assert card.preprocess.resize == "letterbox"


@pytest.mark.parametrize("head", ["yolov5", "classify"])
def test_yolov5_repository_export(tmp_path: Path, head: str) -> None:
    path = yolo_onnx(tmp_path / "yolov5s.onnx", {"stride": 32, "names": NAMES}, head=head)  # all it writes
    with edgeinfer.load(path) as model:
        card = model.card
        assert card.origin == "ultralytics" and card.labels == tuple(NAMES.values())
        assert card.preprocess.size_wh is None  # from the input shape
        out = next(iter(model.run(np.zeros(model.inputs[0].shape, np.float32)).values()))
    if head == "yolov5":
        assert card.task == "detection" and card.postprocess.decoder == "yolov5"
        assert card.preprocess.resize == "letterbox" and out.shape[-1] == 5 + len(NAMES)
    else:
        assert card.task == "classification" and card.postprocess.activation == "softmax"
        assert card.preprocess.mean == pytest.approx((123.675, 116.28, 103.53))


def test_ultralytics_single_channel(tmp_path: Path) -> None:
    card = read(yolo_onnx(tmp_path / "gray.onnx", ultralytics_metadata(channels=1)))
    assert card.preprocess.color == "gray"
    assert card.preprocess.mean == (0.0,) and card.preprocess.std == (255.0,)


def test_malformed_ultralytics_metadata_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "evaluated"
    meta = ultralytics_metadata(names=f"__import__('pathlib').Path({str(marker)!r}).touch()")
    path = yolo_onnx(tmp_path / "bad.onnx", meta)
    # str() of a str is the text itself: a call, which literal_eval refuses and eval would run.
    with caplog.at_level(logging.WARNING, logger="edgeinfer"):
        card = read(path)
    assert not marker.exists()
    assert card.origin == "ultralytics" and card.labels is None and card.task == "detection"
    assert "names" in caplog.text

    truncated = yolo_onnx(tmp_path / "cut.onnx", ultralytics_metadata(imgsz="[64, ", names="{0: 'person',"))
    card = read(truncated)
    assert card.origin == "ultralytics" and card.labels is None and card.preprocess.size_wh is None

    gaps = yolo_onnx(tmp_path / "gaps.onnx", ultralytics_metadata(names={0: "a", 5: "b"}))
    assert read(gaps).labels is None

    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(yolo_tflite_bytes())
    append_zip_member(garbage, "metadata.json", "{not json")
    with caplog.at_level(logging.WARNING, logger="edgeinfer"), edgeinfer.load(garbage) as model:
        assert model.card.origin == "default" and model.card.task == "raw"
    assert "metadata.json" in caplog.text


def test_plain_models_get_no_derived_card(tmp_path: Path) -> None:
    path = yolo_onnx(tmp_path / "plain.onnx", {"producer": "someone", "names": "{0: 'x'}"})
    assert read(path).origin == "default"


def test_card_argument_sidecar_and_embedded_win_over_derived(tmp_path: Path) -> None:
    path = yolo_onnx(tmp_path / "yolo11n.onnx", ultralytics_metadata())
    assert read(path).origin == "ultralytics"
    override = {"task": "detection", "labels": ["a", "b", "c"], "postprocess": {"decoder": "yolov5"}}
    with edgeinfer.load(path, card=override) as model:
        assert model.card.origin == "argument" and model.card.postprocess.decoder == "yolov5"
    sidecar = Path(str(path) + ".yaml")
    sidecar.write_text("task: raw\n")
    assert read(path).origin.startswith("sidecar:")
    sidecar.unlink()
    write(path, {"task": "classification", "labels": ["x", "y", "z"]})
    card = read(path)
    assert card.origin == "embedded" and card.labels == ("x", "y", "z")


# -- TFLite Metadata -----------------------------------------------------------------------


def model_metadata_flatbuffer(*, mean: list[float], std: list[float], labels_file: str,
                              threshold: float | None = None, file_type: int = 2) -> bytes:
    """A ``ModelMetadata`` flatbuffer built field by field in metadata_schema.fbs order."""
    import flatbuffers

    b = flatbuffers.Builder(1024)

    def table(fields: list[tuple[str, int, Any]]) -> int:
        b.StartObject(max(i for _, i, _ in fields) + 1)
        for kind, index, value in fields:
            {"offset": b.PrependUOffsetTRelativeSlot, "uint8": b.PrependUint8Slot,
             "int8": b.PrependInt8Slot, "float": b.PrependFloat32Slot}[kind](index, value, 0)
        return int(b.EndObject())

    def vector(items: list[Any], prepend: Any) -> int:
        b.StartVector(4, len(items), 4)
        for item in reversed(items):
            prepend(item)
        return int(b.EndVector())

    # AssociatedFile: name 0, description 1, type 2 (TENSOR_AXIS_LABELS = 2), locale 3
    file_name, file_desc, locale = b.CreateString(labels_file), b.CreateString("Labels"), b.CreateString("en")
    labels = table([("offset", 0, file_name), ("offset", 1, file_desc), ("int8", 2, file_type),
                    ("offset", 3, locale)])
    # NormalizationOptions: mean 0, std 1; ProcessUnit: options_type 0 (Normalization = 1), options 1
    norm = table([("offset", 0, vector(mean, b.PrependFloat32)),
                  ("offset", 1, vector(std, b.PrependFloat32))])
    unit = table([("uint8", 0, 1), ("offset", 1, norm)])
    # ImageProperties: color_space 0 (RGB = 1); Content: properties_type 0 (ImageProperties = 2), 1
    image = table([("int8", 0, 1)])
    content = table([("uint8", 0, 2), ("offset", 1, image)])
    # TensorMetadata: name 0, description 1, dimension_names 2, content 3, process_units 4,
    # stats 5, associated_files 6
    in_name, out_name = b.CreateString("image"), b.CreateString("probability")
    units = vector([unit], b.PrependUOffsetTRelative)
    tensor_in = table([("offset", 0, in_name), ("offset", 3, content), ("offset", 4, units)])
    out_fields = [("offset", 0, out_name), ("offset", 6, vector([labels], b.PrependUOffsetTRelative))]
    if threshold is not None:  # ScoreThresholdingOptions = 3: global_score_threshold 0
        thresholding = table([("float", 0, threshold)])
        out_units = vector([table([("uint8", 0, 3), ("offset", 1, thresholding)])], b.PrependUOffsetTRelative)
        out_fields.append(("offset", 4, out_units))
    tensor_out = table(out_fields)
    # SubGraphMetadata: name 0, description 1, input_tensor_metadata 2, output_tensor_metadata 3
    inputs = vector([tensor_in], b.PrependUOffsetTRelative)
    outputs = vector([tensor_out], b.PrependUOffsetTRelative)
    subgraph = table([("offset", 2, inputs), ("offset", 3, outputs)])
    # ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4
    name, author = b.CreateString("tiny classifier"), b.CreateString("edgeinfer tests")
    subgraphs = vector([subgraph], b.PrependUOffsetTRelative)
    root = table([("offset", 0, name), ("offset", 3, subgraphs), ("offset", 4, author)])
    b.Finish(root, file_identifier=b"M001")
    return bytes(b.Output())


def with_binary_metadata(model: bytes, name: str, payload: bytes) -> bytes:
    """Add a binary metadata entry to a TFLite flatbuffer (as the metadata populator does)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(model, 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(payload, np.uint8)
    tree.buffers = [*(tree.buffers or []), buffer]
    entry = schema.MetadataT()
    entry.name, entry.buffer = name, len(tree.buffers) - 1
    tree.metadata = [*(tree.metadata or []), entry]
    builder = flatbuffers.Builder(len(model) + len(payload) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@cache
def four_output_tflite_bytes() -> bytes:
    """A Keras model with the four outputs of an SSD postprocess: boxes, classes, scores, count."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(32, 32, 3), batch_size=1)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    boxes = keras.layers.Reshape((10, 4))(keras.layers.Dense(40, activation="sigmoid")(x))
    classes = keras.layers.Dense(10)(x)
    scores = keras.layers.Dense(10, activation="sigmoid")(x)
    count = keras.layers.Dense(1)(x)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, [boxes, classes, scores, count]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return bytes(converter.convert())


def tflite_with_metadata(path: Path, metadata: bytes, labels: str, model: bytes | None = None,
                         member: str = "labels.txt") -> Path:
    model = tflite_bytes("none") if model is None else model
    path.write_bytes(with_binary_metadata(model, "TFLITE_METADATA", metadata))
    append_zip_member(path, member, labels)
    return path


def test_tflite_metadata_classifier(tmp_path: Path) -> None:
    mean, std = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
    buf = model_metadata_flatbuffer(mean=mean, std=std, labels_file="labels.txt", threshold=0.3)
    path = tflite_with_metadata(tmp_path / "classifier.tflite", buf, "person\nnon_person\ncat\ndog\n")
    meta = parse_metadata(open_model_file(path).metadata_buffers()["TFLITE_METADATA"])
    assert meta.name == "tiny classifier" and meta.inputs[0].color_space == "rgb"
    with edgeinfer.load(path) as model:
        card = model.card
        assert card.origin == "tflite-metadata"
        assert card.task == "classification" and card.postprocess.activation == "none"
        assert card.labels == ("person", "non_person", "cat", "dog")
        assert card.preprocess.mean == pytest.approx(mean) and card.preprocess.std == pytest.approx(std)
        assert card.preprocess.size_wh is None and card.preprocess.layout == "nhwc"
        assert card.postprocess.score_threshold == pytest.approx(0.3)
        assert model.outputs[0].shape[-1] == len(card.labels)


def test_tflite_metadata_single_value_normalisation(tmp_path: Path) -> None:
    buf = model_metadata_flatbuffer(mean=[127.5], std=[127.5], labels_file="labels.txt")
    path = tflite_with_metadata(tmp_path / "m.tflite", buf, "a\nb\nc\nd\n")
    card = read(path)
    assert card.origin == "tflite-metadata"
    assert card.preprocess.mean == (127.5,) and card.preprocess.std == (127.5,)


def test_tflite_metadata_missing_labels_and_corrupt_buffer(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    buf = model_metadata_flatbuffer(mean=[0.0], std=[255.0], labels_file="other.txt")
    path = tflite_with_metadata(tmp_path / "m.tflite", buf, "a\nb\n")  # labels.txt, not other.txt
    with caplog.at_level(logging.WARNING, logger="edgeinfer"):
        card = read(path)
    assert card.origin == "tflite-metadata" and card.labels is None and card.task == "raw"
    assert "other.txt" in caplog.text

    corrupt = bytearray(buf)
    corrupt[0:4] = (len(buf) * 4).to_bytes(4, "little")  # root table outside the buffer
    bad = tflite_with_metadata(tmp_path / "bad.tflite", bytes(corrupt), "a\n")
    with pytest.raises(ValueError, match="corrupt"):
        parse_metadata(bytes(corrupt))
    with edgeinfer.load(bad) as model:
        assert model.card.origin == "default"


def test_tflite_metadata_four_outputs_is_ssd(tmp_path: Path) -> None:
    # Detection models label the classes output with TENSOR_VALUE_LABELS (type 3).
    buf = model_metadata_flatbuffer(mean=[127.5], std=[127.5], labels_file="labelmap.txt", file_type=3)
    path = tflite_with_metadata(tmp_path / "ssd.tflite", buf, "person\ncar\n", four_output_tflite_bytes(),
                                member="labelmap.txt")
    with edgeinfer.load(path) as model:
        assert len(model.outputs) == 4
        card = model.card
    assert card.origin == "tflite-metadata"
    assert card.task == "detection" and card.postprocess.decoder == "ssd"
    assert card.labels == ("person", "car")
