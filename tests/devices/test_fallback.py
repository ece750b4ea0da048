"""End to end: a delegate that fails to load falls back to the next plan step, loudly.

The GPU delegate "library" is an empty file: the probe finds it (present), LiteRT fails
to load it, and ``edgeinfer.load`` must fall back to XNNPACK with a logged warning and
the failure kept in ``Model.plan``.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import edgeinfer
from devices.probe import probe_cached
from edgeinfer.errors import AcceleratorError


@pytest.fixture
def broken_gpu_delegate(tmp_path, monkeypatch):
    stand_in = tmp_path / "libtensorflowlite_gpu_delegate.so"
    stand_in.write_bytes(b"")  # found by the probe, not a loadable library
    monkeypatch.setenv("EDGEINFER_GPU_DELEGATE", str(stand_in))
    probe_cached.cache_clear()  # the probe cache must see the new environment
    yield stand_in
    probe_cached.cache_clear()


def test_gpu_delegate_that_fails_to_load_falls_back_to_xnnpack(broken_gpu_delegate, tflite_model, caplog):
    caplog.set_level(logging.WARNING, logger="edgeinfer")

    with edgeinfer.load(tflite_model()) as model:
        assert model.accelerator == "xnnpack"
        status = {s.accelerator: s.status for s in model.plan}
        assert status["gpu"] == "failed"
        assert status["xnnpack"] == "used"
        assert status["cpu"] == "not needed"
        gpu = next(s for s in model.plan if s.accelerator == "gpu")
        assert str(broken_gpu_delegate) in gpu.reason
        assert "failed to load" in gpu.reason
        # The model really runs on the fallback: y = x + [1, 2, 3, 4].
        y = model.run(np.ones((1, 4), np.float32))["y"]
        np.testing.assert_allclose(y, [[2, 3, 4, 5]])

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("gpu" in r.getMessage() and "falling back" in r.getMessage() for r in warnings)


def test_explicit_gpu_request_that_fails_to_load_is_an_error(broken_gpu_delegate, tflite_model):
    with pytest.raises(AcceleratorError) as err:
        edgeinfer.load(tflite_model(), accelerator="gpu")

    assert "no accelerator could run this model" in str(err.value)
    assert str(broken_gpu_delegate) in str(err.value)


def test_without_a_gpu_delegate_the_plan_starts_at_xnnpack(tflite_model):
    with edgeinfer.load(tflite_model()) as model:
        assert model.accelerator == "xnnpack"
        gpu = next(s for s in model.plan if s.accelerator == "gpu")
        assert gpu.status == "skip"


def test_edgetpu_model_without_an_edgetpu_is_refused(tflite_model):
    with pytest.raises(AcceleratorError) as err:
        edgeinfer.load(tflite_model("m_edgetpu.tflite", custom_op="edgetpu-custom-op"))

    assert "edgetpu" in str(err.value)
    assert "compiled for the Edge TPU" in str(err.value)


def test_real_library_that_is_not_a_delegate_falls_back(tflite_model, monkeypatch):
    import ctypes.util

    libm = ctypes.util.find_library("m")
    if libm is None:
        pytest.skip("no libm found by ctypes on this machine")
    monkeypatch.setenv("EDGEINFER_GPU_DELEGATE", libm)  # a name, resolved by the dynamic loader
    probe_cached.cache_clear()
    try:
        with edgeinfer.load(tflite_model()) as model:
            gpu = next(s for s in model.plan if s.accelerator == "gpu")
            assert gpu.status == "failed"
            assert "not a TFLite external delegate" in gpu.reason
            assert model.accelerator == "xnnpack"
    finally:
        probe_cached.cache_clear()
