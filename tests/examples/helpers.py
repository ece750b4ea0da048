"""Shared pieces for the example and kit tests: paths, a script runner, a unit parser, a detector."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
KITS = REPO / "devices" / "kits"
UNIT = EXAMPLES / "iot_daemon" / "edgeinfer.service"

# The tiny detector: 64x64 input, Ultralytics YOLOv8 layout [1, 4 + classes, anchors].
DET_SIZE = 64
DET_LABELS = ("person", "car")
# (class, cx, cy, w, h, score) in model-input pixels; every other anchor scores 0.01.
DET_OBJECTS = ((0, 20.0, 24.0, 16.0, 20.0, 0.9), (1, 44.0, 40.0, 24.0, 16.0, 0.8))


def run_script(script: Path | str, *args: str, timeout_s: float = 180.0,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python script args`` from the repository root, as a user would; output captured."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, str(script), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout_s, env=full_env, check=False)


def import_script(path: Path) -> ModuleType:
    """Import an example script as a module (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Read a systemd unit: section -> key -> values (keys such as Environment repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path}: {line!r} before any [Section]"
        key, sep, value = line.partition("=")
        assert sep, f"{path}: not a Key=Value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def build_detector(path: Path) -> Path:
    """Write a constant-output ONNX detector with a YOLOv8 card: two boxes on every frame.

    The output does not depend on the pixels (it adds 0 x the input mean), which is enough
    to exercise loading, the plan, preprocessing, decoding, box mapping and the sinks.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeinfer.card import write

    anchors = 8
    base = np.full((1, 4 + len(DET_LABELS), anchors), 0.01, np.float32)
    base[0, :4, :] = np.array([32.0, 32.0, 8.0, 8.0], np.float32)[:, None]
    for anchor, (cls, cx, cy, w, h, score) in enumerate(DET_OBJECTS):
        base[0, :4, anchor * 3] = (cx, cy, w, h)
        base[0, 4 + cls, anchor * 3] = score
    nodes = [helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
             helper.make_node("Add", ["base", "nothing"], ["output0"])]
    graph = helper.make_graph(
        nodes, "tiny_yolov8",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, DET_SIZE, DET_SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + len(DET_LABELS), anchors])],
        initializer=[numpy_helper.from_array(base, "base"),
                     numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "zero")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    write(path, {"task": "detection", "labels": list(DET_LABELS),
                 "preprocess": {"color": "rgb", "resize": "letterbox", "size_wh": [DET_SIZE, DET_SIZE], "std": 255},
                 "postprocess": {"decoder": "yolov8", "score_threshold": 0.5}})
    return path


def expected_boxes(frame_wh: tuple[int, int]) -> dict[str, list[float]]:
    """Where the detector's boxes land in a frame of ``frame_wh`` (letterbox mapping undone)."""
    w, h = frame_wh
    scale = min(DET_SIZE / w, DET_SIZE / h)
    pad_x, pad_y = (DET_SIZE - w * scale) / 2, (DET_SIZE - h * scale) / 2
    boxes = {}
    for cls, cx, cy, bw, bh, _ in DET_OBJECTS:
        x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        boxes[DET_LABELS[cls]] = [(x1 - pad_x) / scale, (y1 - pad_y) / scale,
                                  (x2 - pad_x) / scale, (y2 - pad_y) / scale]
    return boxes
