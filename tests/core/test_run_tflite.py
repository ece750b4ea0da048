"""Model.run on real LiteRT interpreters equals a direct interpreter call."""

from __future__ import annotations

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import InputError, ModelError
from tests.model_factory import tflite_bytes

litert = pytest.importorskip("ai_edge_litert.interpreter")


def direct(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = litert.Interpreter(model_content=model_bytes)
    inp = interpreter.get_input_details()[0]
    if tuple(inp["shape"]) != x.shape:
        interpreter.resize_tensor_input(inp["index"], list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def float_bytes() -> bytes:
    return tflite_bytes("none")


@pytest.fixture(scope="module")
def int8_bytes() -> bytes:
    return tflite_bytes("int8", "int8")


def test_float_model_matches_interpreter_bit_for_bit(float_bytes: bytes) -> None:
    x = np.random.default_rng(3).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    with edgeinfer.load(float_bytes) as model:
        out = model.run(x)
        assert model.accelerator == "xnnpack"
        assert model.inputs[0].shape == (-1, 32, 32, 3)
        assert model.inputs[0].quant is None
    (value,) = out.values()
    np.testing.assert_array_equal(value, direct(float_bytes, x))


def test_dynamic_batch_is_resized(float_bytes: bytes) -> None:
    x = np.random.default_rng(4).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    with edgeinfer.load(float_bytes) as model:
        (batch,) = model.run(x).values()
        (single,) = model.run(x[:1]).values()
    assert batch.shape == (3, 4)
    np.testing.assert_array_equal(batch, direct(float_bytes, x))
    np.testing.assert_allclose(single[0], batch[0], rtol=1e-5, atol=1e-6)


def test_int8_model_quantizes_float_input_within_one_step(int8_bytes: bytes) -> None:
    x = np.random.default_rng(5).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    with edgeinfer.load(int8_bytes) as model:
        spec_in, spec_out = model.inputs[0], model.outputs[0]
        assert spec_in.dtype == np.int8 and spec_in.quant is not None
        dequantized = next(iter(model.run(x).values()))
        raw = next(iter(model.run(x, raw=True).values()))
    scale, zp = spec_in.quant
    q = np.clip(np.round(x / scale) + zp, -128, 127).astype(np.int8)
    reference = direct(int8_bytes, q)
    assert raw.dtype == np.int8
    assert np.abs(raw.astype(int) - reference.astype(int)).max() <= 1
    out_scale, out_zp = spec_out.quant  # type: ignore[misc]
    assert dequantized.dtype == np.float32
    np.testing.assert_allclose(dequantized, (reference.astype(np.float32) - out_zp) * out_scale,
                               atol=out_scale * 1.001)


def test_native_dtype_passes_through_bit_exact(int8_bytes: bytes) -> None:
    q = np.random.default_rng(6).integers(-128, 128, (1, 32, 32, 3), dtype=np.int8)
    with edgeinfer.load(int8_bytes) as model:
        raw = next(iter(model.run(q, raw=True).values()))
    np.testing.assert_array_equal(raw, direct(int8_bytes, q))


def test_wrong_shape_dtype_and_name_say_expected_and_given(float_bytes: bytes, int8_bytes: bytes) -> None:
    with edgeinfer.load(float_bytes) as model:
        with pytest.raises(InputError, match=r"expects shape \[-1, 32, 32, 3\].*got shape \[1, 16, 16, 3\]"):
            model.run(np.zeros((1, 16, 16, 3), np.float32))
        with pytest.raises(InputError, match=r"expected inputs .* got \['nope'\]"):
            model.run({"nope": np.zeros((1, 32, 32, 3), np.float32)})
    with edgeinfer.load(int8_bytes) as model, pytest.raises(InputError, match=r"dtype int8, got .* dtype uint8"):
        model.run(np.zeros((1, 32, 32, 3), np.uint8))


def test_closed_model_raises(float_bytes: bytes) -> None:
    model = edgeinfer.load(float_bytes)
    model.close()
    with pytest.raises(ModelError, match="closed"):
        model.run(np.zeros((1, 32, 32, 3), np.float32))


def test_cpu_request_uses_builtin_kernels(float_bytes: bytes) -> None:
    x = np.random.default_rng(7).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    with edgeinfer.load(float_bytes, accelerator="cpu") as model:
        assert model.accelerator == "cpu"
        statuses = {s.accelerator: s.status for s in model.plan}
        assert statuses["xnnpack"] == "skip" and statuses["cpu"] == "used"
        (out,) = model.run(x).values()
    np.testing.assert_allclose(out, direct(float_bytes, x), rtol=1e-4, atol=1e-5)
