"""Real accelerators, when this machine has them (skipped otherwise).

These load tiny models on the accelerator the probe found, so they prove the plan's
library/provider really drives the hardware, not only that a file exists.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgeinfer
from edgeinfer.backends import probe

pytestmark = pytest.mark.hardware


_INVENTORY = probe()


def _present(backend: str, name: str) -> bool:
    info = _INVENTORY.find(backend, name)
    return bool(info and info.present)


def _onnx_add_model(path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "bias"], ["y"])], "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("bias", TensorProto.FLOAT, [1, 4], [1, 2, 3, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.skipif(not _present("onnx", "cuda"), reason="no CUDAExecutionProvider in this onnxruntime")
def test_onnx_model_runs_on_cuda(tmp_path):
    with edgeinfer.load(_onnx_add_model(tmp_path / "add.onnx"), accelerator="cuda") as model:
        assert model.accelerator == "cuda"
        y = model.run(np.ones((1, 4), np.float32))["y"]
    np.testing.assert_allclose(y, [[2, 3, 4, 5]])


@pytest.mark.skipif(not _present("onnx", "tensorrt"),
                    reason="no TensorrtExecutionProvider in this onnxruntime")
def test_onnx_auto_prefers_tensorrt_or_falls_back_loudly(tmp_path):
    with edgeinfer.load(_onnx_add_model(tmp_path / "add.onnx")) as model:
        status = {s.accelerator: s.status for s in model.plan}
        assert status["tensorrt"] in ("used", "failed")
        assert model.accelerator in ("tensorrt", "cuda", "cpu")


@pytest.mark.skipif(not _present("tflite", "gpu"), reason="no TFLite GPU delegate library here")
def test_tflite_model_runs_on_the_gpu_delegate(tflite_model):
    with edgeinfer.load(tflite_model(), accelerator="gpu") as model:
        assert model.accelerator == "gpu"
        y = model.run(np.ones((1, 4), np.float32))["y"]
    np.testing.assert_allclose(y, [[2, 3, 4, 5]])
