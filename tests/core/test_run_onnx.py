"""Model.run on real ONNX Runtime sessions equals a direct session.run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import AcceleratorError, InputError
from tests.model_factory import onnx_cnn_bytes, onnx_int8_path

ort = pytest.importorskip("onnxruntime")


def direct(model: bytes | str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_float_onnx_bit_for_bit_and_dynamic_batch() -> None:
    data = onnx_cnn_bytes()
    x = np.random.default_rng(0).uniform(0, 1, (4, 3, 16, 16)).astype(np.float32)
    with edgeinfer.load(data) as model:
        assert model.kind == "onnx" and model.accelerator == "cpu"
        assert model.inputs[0].shape == (-1, 3, 16, 16)
        out = model.run({"x": x})["y"]
    np.testing.assert_array_equal(out, direct(data, x))


def test_repeated_calls_keep_checking_what_changes() -> None:
    """After a shape has been accepted (the quick path), a new batch size still runs and a wrong
    shape, dtype or layout is still caught or converted, not passed to the session."""
    data = onnx_cnn_bytes()
    rng = np.random.default_rng(2)
    one, two = (rng.uniform(0, 1, (n, 3, 16, 16)).astype(np.float32) for n in (1, 2))
    with edgeinfer.load(data) as model:
        for _ in range(2):
            np.testing.assert_array_equal(model.run(one)["y"], direct(data, one))
        np.testing.assert_array_equal(model.run(two)["y"], direct(data, two))
        with pytest.raises(InputError, match="16, 16"):
            model.run(np.zeros((1, 3, 8, 8), np.float32))
        np.testing.assert_array_equal(model.run(one.astype(np.float64))["y"], direct(data, one))
        strided = np.asfortranarray(one)
        np.testing.assert_array_equal(model.run(strided)["y"], direct(data, one))
        np.testing.assert_array_equal(model.run(one)["y"], direct(data, one))


def test_float64_input_is_cast() -> None:
    data = onnx_cnn_bytes()
    x = np.random.default_rng(1).uniform(0, 1, (1, 3, 16, 16))
    with edgeinfer.load(data) as model:
        out = model.run(x)["y"]
    np.testing.assert_array_equal(out, direct(data, x.astype(np.float32)))


def test_int8_qdq_model_matches_session(tmp_path: Path) -> None:
    path = onnx_int8_path(tmp_path)
    x = np.random.default_rng(2).uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)
    with edgeinfer.load(path) as model:
        assert model.path == path
        out = model.run(x)["y"]
    np.testing.assert_array_equal(out, direct(str(path), x))
    # ...and the int8 model stays close to the float one it came from.
    np.testing.assert_allclose(out, direct(onnx_cnn_bytes(), x), atol=0.05)


def test_absent_accelerator_request_names_what_is_available() -> None:
    with pytest.raises(AcceleratorError, match=r"'cuda'.*Available here: cpu"):
        edgeinfer.load(onnx_cnn_bytes(), accelerator="cuda")
    with pytest.raises(AcceleratorError, match="Unknown accelerator 'cdua'"):
        edgeinfer.load(onnx_cnn_bytes(), accelerator="cdua")
