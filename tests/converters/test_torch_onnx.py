"""PyTorch -> ONNX (dynamo exporter + onnxslim) and the ONNX quantization stage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import converters
import edgeinfer
from tests.converters.conftest import Digits, artifact_accuracy

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mobilenet_onnx(mobilenet: Any, mobilenet_calib: list[np.ndarray],
                   tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    folder = tmp_path_factory.mktemp("mobilenet_onnx")
    cache: dict[str, Any] = {}

    def make(mode: str) -> Any:
        if mode not in cache:
            cache[mode] = converters.convert(
                mobilenet, to="onnx", quantize=mode, calibration=mobilenet_calib,
                input_shape=(1, 3, 64, 64), out=folder / f"mobilenet_{mode}.onnx", verbose=False)
        return cache[mode]

    return make


def test_float_onnx_is_single_file_named_dynamic_batch_and_exact(mobilenet: Any,
                                                                 mobilenet_onnx: Callable[[str], Any]) -> None:
    import onnx
    import torch

    report = mobilenet_onnx("none")
    path = Path(report.artifact)
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".data"] == []  # no external data
    proto = onnx.load(str(path))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {18}
    assert not any(n.op_type in ("Identity", "Constant") for n in proto.graph.node)  # simplified
    x = np.random.default_rng(5).random((3, 3, 64, 64), dtype=np.float32)
    with edgeinfer.load(path) as model, torch.no_grad():
        assert model.inputs[0].name == "input" and model.outputs[0].name == "output"
        assert model.inputs[0].shape[0] == -1
        np.testing.assert_allclose(model.run(x)["output"], mobilenet(torch.from_numpy(x)).numpy(),
                                   atol=1e-4)
        assert model.card.preprocess.layout == "nchw" and model.card.conversion is not None
    assert report.outputs[0].cosine > 0.99999


@pytest.mark.parametrize("mode", ["fp16", "dynamic"])
def test_fp16_and_dynamic_onnx(mobilenet_onnx: Callable[[str], Any], mode: str) -> None:
    import onnx

    report = mobilenet_onnx(mode)
    float_report = mobilenet_onnx("none")
    assert report.passed and report.outputs[0].cosine >= (0.999 if mode == "fp16" else 0.99)
    assert report.sizes_bytes["artifact"] < 0.75 * float_report.sizes_bytes["artifact"]
    ops = {n.op_type for n in onnx.load(report.artifact).graph.node}
    if mode == "fp16":
        assert "Cast" in ops  # float32 I/O kept around a float16 graph
    else:
        assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DequantizeLinear"}


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_int8_qdq_onnx_keeps_accuracy(digits: Digits, digits_artifact: Callable[..., Any], method: str) -> None:
    import onnx

    report = digits_artifact("onnx", "int8", method=method)
    float_report = digits_artifact("onnx", "none")
    ops = [n.op_type for n in onnx.load(report.artifact).graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    acc = artifact_accuracy(report.artifact, digits.x_test, digits.y_test)
    float_acc = artifact_accuracy(float_report.artifact, digits.x_test, digits.y_test)
    assert float_acc == pytest.approx(digits.float_acc, abs=0.3)
    assert abs(acc - digits.float_acc) <= 1.5, (method, acc, digits.float_acc)
    assert report.sizes_bytes["artifact"] <= 0.30 * float_report.sizes_bytes["artifact"]
    assert report.quantization["calibration_method"] == method


def test_pruning_reaches_sparsity_and_reports_both_comparisons(mobilenet: Any, mobilenet_calib: list[np.ndarray],
                                                               tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    report = converters.convert(mobilenet, to="onnx", prune=0.5, calibration=mobilenet_calib,
                                input_shape=(1, 3, 64, 64), out=tmp_path / "pruned.onnx", verbose=False)
    assert report.pruning is not None and report.pruning["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert report.passed and report.outputs[0].cosine > 0.9999  # artifact vs pruned source
    vs_original = report.pruning["vs_original"][0]
    assert vs_original["cosine"] < report.outputs[0].cosine  # pruning changed the model
    weights = [numpy_helper.to_array(t) for t in onnx.load(str(tmp_path / "pruned.onnx")).graph.initializer
               if t.dims and len(t.dims) >= 2]
    assert sum(int((w == 0).sum()) for w in weights) / sum(w.size for w in weights) > 0.3
    mobilenet_first = next(mobilenet.parameters())
    assert float((mobilenet_first == 0).float().mean()) < 0.1  # the user's model is untouched


def test_calibration_methods_give_different_ranges(digits_artifact: Callable[..., Any]) -> None:
    """Each method really computes its own activation ranges (ORT's default entropy would equal min/max)."""
    import onnx
    from onnx import numpy_helper

    def scales(method: str) -> dict[str, float]:
        model = onnx.load(digits_artifact("onnx", "int8", method=method).artifact)
        init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        return {n.input[0]: float(init[n.input[1]]) for n in model.graph.node
                if n.op_type == "QuantizeLinear" and init[n.input[1]].size == 1}

    minmax, entropy, percentile = scales("minmax"), scales("entropy"), scales("percentile")
    assert minmax.keys() == entropy.keys() == percentile.keys()
    assert minmax not in (entropy, percentile)
    assert all(entropy[k] <= minmax[k] * 1.0001 for k in minmax)  # entropy clips, never widens
