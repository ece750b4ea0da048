"""The ONNX Runtime backend passes the backend conformance suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.types import PlanStep
from tests.backends.conformance import BackendConformance
from tests.model_factory import onnx_cnn_bytes, onnx_int8_path, onnx_unknown_op_bytes
from tests.model_mutations import onnx_edit, set_dims

ort = pytest.importorskip("onnxruntime")


class TestOnnxBackend(BackendConformance):
    kind = "onnx"

    def float_model(self) -> bytes:
        return onnx_cnn_bytes()

    def quantized_model(self, tmp_path: Path) -> bytes:
        return onnx_int8_path(tmp_path).read_bytes()  # int8 QDQ inside, float input and output

    def direct(self, model: bytes, feeds: list[np.ndarray]) -> list[np.ndarray]:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return list(session.run(None, dict(zip(names, feeds, strict=True))))

    def unrunnable_model(self) -> bytes:
        return onnx_unknown_op_bytes()

    def failing_model(self) -> bytes:
        return onnx_edit(onnx_cnn_bytes(), set_dims("input", 0, [1, 4, 16, 16]))[0]  # 4 channels into 3

    def absent_step(self) -> PlanStep:
        # Not in the CPU or CUDA builds of onnxruntime: ONNX Runtime would quietly use the CPU.
        return PlanStep("openvino", "onnx", "try", "test", provider="OpenVINOExecutionProvider")
