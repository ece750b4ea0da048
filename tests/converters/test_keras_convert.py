"""Keras / SavedModel sources and their exports to TFLite (every mode) and ONNX.

Real models built here, converted with the real converters, run with ``edgeinfer.load``
and compared with Keras on the same inputs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from converters.base import ExportOptions
from converters.keras_onnx import keras_to_onnx
from converters.keras_source import KerasSource, load_keras_source
from converters.keras_tflite import keras_to_tflite
from edgeinfer.errors import ConversionError

pytest.importorskip("tensorflow")
pytest.importorskip("tf2onnx")

HW = (32, 32)


def _cnn(seed: int = 0, *, two_outputs: bool = False) -> Any:
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(*HW, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(10, name="logits")(pooled)
    if not two_outputs:
        return keras.Model(inputs, logits)
    embedding = keras.layers.Dense(24, activation="tanh", name="embedding")(pooled)
    return keras.Model(inputs, [embedding, logits])


def _images(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((1, *HW, 3), dtype=np.float32) for _ in range(n)]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _run_artifact(path: Path, batches: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Outputs of the artifact per batch, in the artifact's output order."""
    with edgeinfer.load(path) as model:
        return [list(model.run(x).values()) for x in batches]


def _compare(source: KerasSource, path: Path, batches: list[np.ndarray]) -> tuple[float, float]:
    """Max abs error and min cosine over batches and outputs, matched by index."""
    errors, cosines = [], []
    for x, got in zip(batches, _run_artifact(path, batches), strict=True):
        want = source.predict(x)
        assert [g.shape for g in got] == [w.shape for w in want]
        errors += [float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True)]
        cosines += [_cosine(g, w) for g, w in zip(got, want, strict=True)]
    return max(errors), min(cosines)


@pytest.fixture(scope="module")
def source() -> KerasSource:
    return load_keras_source(_cnn())


@pytest.fixture(scope="module")
def two_output_model() -> Any:
    return _cnn(seed=1, two_outputs=True)


@pytest.fixture(scope="module")
def tflite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tflite")


def test_source_describes_the_model(source: KerasSource) -> None:
    assert source.kind == "keras"
    assert source.input_shape == (-1, *HW, 3)
    assert source.layout == "nhwc"
    assert set(source.framework_versions) == {"tensorflow", "keras"}
    assert len(source.sha256) == 64
    assert load_keras_source(source.model).sha256 == source.sha256
    assert load_keras_source(_cnn(seed=5)).sha256 != source.sha256
    x = _images(1, seed=3)[0]
    np.testing.assert_allclose(source.predict(x)[0], np.asarray(source.model(x)), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        ("none", "float32", 1e-4, 0.99999),
        ("fp16", "float32", 1e-3, 0.999),
        ("dynamic", "float32", None, 0.99),
        ("int8", "float32", None, 0.98),
        ("int8", "int8", None, 0.98),
        ("int8", "uint8", None, 0.98),
    ],
)
def test_keras_to_tflite_every_mode(source: KerasSource, tflite_dir: Path, case: tuple[Any, ...]) -> None:
    quantize, io_type, max_err, min_cos = case
    out = tflite_dir / f"{quantize}-{io_type}.tflite"
    options = ExportOptions(quantize=quantize, io_type=io_type, calibration=_images(16, seed=1))
    keras_to_tflite(source, out, options)
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (1, *HW, 3)  # batch fixed to 1 unless dynamic_batch
        assert model.inputs[0].dtype == np.dtype(io_type)
        assert model.outputs[0].dtype == np.dtype(io_type)
    err, cos = _compare(source, out, _images(6, seed=2))
    assert cos >= min_cos, (quantize, io_type, err, cos)
    if max_err is not None:
        assert err < max_err, (quantize, io_type, err)


@pytest.mark.slow
def test_quantized_tflite_files_are_smaller(source: KerasSource, tmp_path: Path) -> None:
    sizes = {}
    for mode in ("none", "fp16", "int8"):
        keras_to_tflite(source, tmp_path / f"{mode}.tflite",
                        ExportOptions(quantize=mode, calibration=_images(4, seed=1)))  # type: ignore[arg-type]
        sizes[mode] = (tmp_path / f"{mode}.tflite").stat().st_size
    assert sizes["int8"] < 0.5 * sizes["none"], sizes
    assert sizes["fp16"] < 0.75 * sizes["none"], sizes


@pytest.mark.slow
def test_dynamic_batch_tflite_runs_a_batch(source: KerasSource, tmp_path: Path) -> None:
    out = tmp_path / "dyn.tflite"
    keras_to_tflite(source, out, ExportOptions(dynamic_batch=True))
    x = np.concatenate(_images(3, seed=4))
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (-1, *HW, 3)
        got = next(iter(model.run(x).values()))
    np.testing.assert_allclose(got, source.predict(x)[0], atol=1e-4)


def test_int8_without_calibration_is_refused(source: KerasSource, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="calibration"):
        keras_to_tflite(source, tmp_path / "m.tflite", ExportOptions(quantize="int8"))


@pytest.mark.slow
def test_keras_to_onnx_matches_keras(source: KerasSource, tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "m.onnx"
    keras_to_onnx(source, out, ExportOptions(opset=17, dynamic_batch=True))
    assert {o.version for o in onnx.load(str(out)).opset_import if o.domain in ("", "ai.onnx")} == {17}
    with edgeinfer.load(out) as model:
        assert model.inputs[0].shape == (-1, *HW, 3)
    err, cos = _compare(source, out, _images(4, seed=2))
    assert err < 1e-4 and cos > 0.99999, (err, cos)
    x = np.concatenate(_images(3, seed=4))
    with edgeinfer.load(out) as model:
        np.testing.assert_allclose(next(iter(model.run(x).values())), source.predict(x)[0], atol=1e-4)


@pytest.mark.slow
def test_outputs_keep_the_source_order(two_output_model: Any, tmp_path: Path) -> None:
    # The TFLite converter sorts outputs by tensor name; ours follow the model's order.
    source = load_keras_source(two_output_model)
    assert [o.shape for o in source.predict(_images(1, seed=0)[0])] == [(1, 24), (1, 10)]
    assert source.output_names == ["embedding", "logits"]
    keras_to_tflite(source, tmp_path / "m.tflite", ExportOptions())
    keras_to_onnx(source, tmp_path / "m.onnx", ExportOptions())
    for artifact in ("m.tflite", "m.onnx"):
        err, _ = _compare(source, tmp_path / artifact, _images(2, seed=2))
        assert err < 1e-4, (artifact, err)


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_model_files_load(source: KerasSource, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    source.model.save(path)
    loaded = load_keras_source(path)
    assert loaded.kind == "keras"
    assert loaded.input_shape == source.input_shape
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    x = _images(1, seed=6)[0]
    np.testing.assert_allclose(loaded.predict(x)[0], source.predict(x)[0], atol=1e-6)


@pytest.mark.slow
def test_saved_model_folder_converts(two_output_model: Any, tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    two_output_model.export(folder, verbose=False)
    source = load_keras_source(folder)
    assert (source.kind, source.input_shape, source.layout) == ("saved_model", (-1, *HW, 3), "nhwc")
    assert source.saved_model_dir == folder
    assert source.output_names == ["output_0", "output_1"]
    x = _images(1, seed=7)[0]
    for got, want in zip(source.predict(x), two_output_model(x), strict=True):
        np.testing.assert_allclose(got, np.asarray(want), atol=1e-6)
    keras_to_tflite(source, tmp_path / "f.tflite", ExportOptions())
    keras_to_tflite(source, tmp_path / "q.tflite", ExportOptions(quantize="int8", io_type="uint8",
                                                                 calibration=_images(16, seed=1)))
    keras_to_onnx(source, tmp_path / "f.onnx", ExportOptions())
    for artifact, max_err, min_cos in (("f.tflite", 1e-4, 0.99999), ("f.onnx", 1e-4, 0.99999),
                                       ("q.tflite", None, 0.98)):
        err, cos = _compare(source, tmp_path / artifact, _images(4, seed=2))
        assert cos >= min_cos and (max_err is None or err < max_err), (artifact, err, cos)


@pytest.mark.parametrize(
    ("name", "content"),
    [("model.keras", b"not a model\n"), ("model.h5", b"not a model\n"), ("model.txt", b"x")],
)
def test_a_file_that_is_not_a_keras_model_is_refused(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ConversionError, match=r"expected a Keras model"):
        load_keras_source(path)


def test_a_folder_without_saved_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"saved_model\.pb"):
        load_keras_source(tmp_path)


def test_an_input_shape_that_does_not_fit_is_refused(source: KerasSource) -> None:
    with pytest.raises(ConversionError, match="does not fit"):
        load_keras_source(source.model, (1, 64, 64, 3))
    assert load_keras_source(source.model, (1, *HW, 3)).input_shape == (-1, *HW, 3)


def _tf_keras_model() -> Any:
    tf_keras = pytest.importorskip("tf_keras")
    tf_keras.utils.set_random_seed(2)
    inputs = tf_keras.Input((*HW, 3))
    x = tf_keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    return tf_keras.Model(inputs, [tf_keras.layers.Dense(10)(x), tf_keras.layers.Dense(3)(x)])


@pytest.mark.slow
def test_keras2_models_and_h5_files_convert(tmp_path: Path) -> None:
    legacy = _tf_keras_model()
    path = tmp_path / "legacy.h5"
    with pytest.warns(UserWarning, match="legacy"):
        legacy.save(path)
    x = _images(1, seed=8)[0]
    want = [np.asarray(y) for y in legacy(x)]
    for source in (load_keras_source(path), load_keras_source(legacy)):
        for got, expected in zip(source.predict(x), want, strict=True):
            np.testing.assert_allclose(got, expected, atol=1e-6)
    keras_to_tflite(source, tmp_path / "m.tflite", ExportOptions())
    keras_to_onnx(source, tmp_path / "m.onnx", ExportOptions())
    for artifact in ("m.tflite", "m.onnx"):
        err, _ = _compare(source, tmp_path / artifact, _images(2, seed=2))
        assert err < 1e-4, (artifact, err)


def test_an_object_that_is_not_a_model_is_refused() -> None:
    with pytest.raises(ConversionError, match=r"expected a keras\.Model"):
        load_keras_source(42)
