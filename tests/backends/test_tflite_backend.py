"""The TFLite (LiteRT) backend passes the backend conformance suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.types import PlanStep
from tests.backends.conformance import BackendConformance
from tests.model_factory import tflite_bytes, tflite_with_custom_op
from tests.model_mutations import drop_weights, tflite_edit

litert = pytest.importorskip("ai_edge_litert.interpreter")


class TestTFLiteBackend(BackendConformance):
    kind = "tflite"

    def float_model(self) -> bytes:
        return tflite_bytes("none")

    def quantized_model(self, tmp_path: Path) -> bytes:
        return tflite_bytes("int8", "int8")

    def direct(self, model: bytes, feeds: list[np.ndarray]) -> list[np.ndarray]:
        interpreter = litert.Interpreter(model_content=model)
        for detail, x in zip(interpreter.get_input_details(), feeds, strict=True):
            interpreter.resize_tensor_input(detail["index"], list(x.shape))
        interpreter.allocate_tensors()
        for detail, x in zip(interpreter.get_input_details(), feeds, strict=True):
            interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    def unrunnable_model(self) -> bytes:
        return tflite_with_custom_op(tflite_bytes("none"), "NoSuchCustomOp")

    def failing_model(self) -> bytes:
        return tflite_edit(tflite_bytes("none"), drop_weights)[0]

    def absent_step(self) -> PlanStep:
        return PlanStep("gpu", "tflite", "try", "test", library="/nonexistent/libtensorflowlite_gpu_delegate.so")
