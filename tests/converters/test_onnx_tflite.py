"""ONNX -> TFLite with onnx2tf: matches ONNX Runtime, offline, source file untouched."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from converters.base import ExportOptions
from converters.onnx_tflite import onnx_to_tflite
from edgeinfer.errors import ConversionError

pytest.importorskip("onnx2tf")


def _onnx_cnn(path: Path, batch: int | str) -> Path:
    """An NCHW CNN: input [batch, 3, 32, 32]; outputs logits [batch, 10] and a feature map."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int, scale: float = 0.3) -> Any:
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c2"], ["features"]),
        helper.make_node("GlobalAveragePool", ["features"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 10]),
         helper.make_tensor_value_info("features", TensorProto.FLOAT, [batch, 16, 16, 16])],
        initializer=[weight("w1", 8, 3, 3, 3), weight("b1", 8, scale=0.1), weight("w2", 16, 8, 3, 3),
                     weight("b2", 16, scale=0.1), weight("wf", 16, 10), weight("bf", 10, scale=0.1)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _onnx_cnn(tmp_path_factory.mktemp("onnx") / "cnn.onnx", "N")


def _onnxruntime(path: Path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(y) for y in session.run(None, {"input": x})]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_onnx_to_tflite_matches_onnxruntime_offline(onnx_path: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    before = _sha256(onnx_path)
    out = tmp_path / "cnn.tflite"

    onnx_to_tflite(onnx_path, out, ExportOptions())

    assert _sha256(onnx_path) == before
    assert list(workdir.iterdir()) == []
    assert list(onnx_path.parent.iterdir()) == [onnx_path]
    x = np.random.default_rng(1).random((1, 3, 32, 32), dtype=np.float32)
    logits, features = _onnxruntime(onnx_path, x)
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (1, 32, 32, 3)  # NHWC, dynamic batch fixed to 1
        got = list(model.run(x.transpose(0, 2, 3, 1)).values())
    assert [g.shape for g in got] == [(1, 10), (1, 16, 16, 16)]
    np.testing.assert_allclose(got[0], logits, atol=1e-4)
    np.testing.assert_allclose(got[1], features.transpose(0, 2, 3, 1), atol=1e-4)


@pytest.mark.slow
def test_dynamic_batch_and_onnx_source_object(onnx_path: Path, tmp_path: Path) -> None:
    from converters.onnx_source import load_onnx_source

    out = tmp_path / "dyn.tflite"
    onnx_to_tflite(load_onnx_source(onnx_path), out, ExportOptions(dynamic_batch=True, workdir=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dyn.tflite"]
    x = np.random.default_rng(2).random((3, 3, 32, 32), dtype=np.float32)
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (-1, 32, 32, 3)
        got = next(iter(model.run(x.transpose(0, 2, 3, 1)).values()))
    np.testing.assert_allclose(got, _onnxruntime(onnx_path, x)[0], atol=1e-4)


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model\n")
    with pytest.raises(ConversionError, match="not a readable ONNX model"):
        onnx_to_tflite(bad, tmp_path / "out.tflite", ExportOptions())
    with pytest.raises(ConversionError, match="does not exist"):
        onnx_to_tflite(tmp_path / "missing.onnx", tmp_path / "out.tflite", ExportOptions())
    assert not (tmp_path / "out.tflite").exists()


@pytest.mark.slow
def test_an_op_onnx2tf_cannot_convert_is_a_conversion_error(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOp", ["input"], ["output"], domain="example.custom")
    graph = helper.make_graph([node], "bad",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("example.custom", 1)])
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ConversionError, match=r"onnx2tf could not convert.*NoSuchOp"):
        onnx_to_tflite(path, tmp_path / "out.tflite", ExportOptions(workdir=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.onnx"]


@pytest.mark.slow
def test_channels_first_input_is_kept_on_request(onnx_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "nchw.tflite"
    onnx_to_tflite(onnx_path, out, ExportOptions(channels_last=False))
    x = np.random.default_rng(3).random((1, 3, 32, 32), dtype=np.float32)
    logits, features = _onnxruntime(onnx_path, x)
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (1, 3, 32, 32)
        got = list(model.run(x).values())
    np.testing.assert_allclose(got[0], logits, atol=1e-4)
    np.testing.assert_allclose(got[1], features.transpose(0, 2, 3, 1), atol=1e-4)  # still NHWC inside
