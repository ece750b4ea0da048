"""Model.predict / predict_batch / predict_async and `edgeinfer predict` on real photos."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgeinfer
from edgeinfer.card import write
from edgeinfer.cli import cli
from edgeinfer.errors import InputError
from tests.model_factory import onnx_cnn_bytes, tflite_bytes

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

CARD = {"task": "classification", "labels": ["a", "b", "c", "d"],
        "preprocess": {"resize": "center_crop", "std": 255}, "postprocess": {"top_k": 2}}


def photo(name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(getattr(skdata, name)(), cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "cls.tflite"
    path.write_bytes(tflite_bytes("int8", "uint8"))
    write(path, CARD)
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name in ("astronaut", "chelsea", "coffee"):
        out[name] = folder / f"{name}.jpg"
        cv2.imwrite(str(out[name]), photo(name))
    return out


def reference_scores(model_path: Path, frame: np.ndarray) -> np.ndarray:
    """Centre crop, RGB, /255, quantize, run the raw interpreter: what predict must equal."""
    from ai_edge_litert.interpreter import Interpreter

    h, w = frame.shape[:2]
    side = min(h, w)
    crop = frame[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    small = cv2.resize(crop, (32, 32), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
    interpreter = Interpreter(model_path=str(model_path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zp = inp["quantization"]
    q = np.clip(np.round(rgb / 255.0 / scale + zp), 0, 255).astype(np.uint8)[None]
    interpreter.set_tensor(inp["index"], q)
    interpreter.invoke()
    o_scale, o_zp = out["quantization"]
    return (interpreter.get_tensor(out["index"])[0].astype(np.float32) - o_zp) * o_scale


def test_predict_equals_reference_pipeline(classifier: Path) -> None:
    frame = photo("chelsea")
    with edgeinfer.load(classifier) as model:
        result = model.predict(frame)
    expected = reference_scores(classifier, frame)
    top = result.to_dict()["top"]
    assert [t["class_id"] for t in top] == list(np.argsort(-expected, kind="stable")[:2])
    assert top[0]["label"] == CARD["labels"][top[0]["class_id"]]
    assert abs(top[0]["score"] - float(expected.max())) <= 2 / 256 + 1e-6
    json.dumps(result.to_dict())


def test_path_bytes_and_array_agree(classifier: Path, photos: dict[str, Path]) -> None:
    path = photos["coffee"]
    with edgeinfer.load(classifier) as model:
        by_path = model.predict(path).to_dict()
        by_bytes = model.predict(path.read_bytes()).to_dict()
        by_array = model.predict(cv2.imread(str(path))).to_dict()
    assert by_path == by_bytes == by_array


def test_batch_and_async_agree_with_single(classifier: Path) -> None:
    frames = [photo(n) for n in ("astronaut", "chelsea", "coffee")]
    with edgeinfer.load(classifier) as model:
        single = [model.predict(f).to_dict() for f in frames]
        batched = [r.to_dict() for r in model.predict_batch(frames)]

        async def many() -> list[dict[str, object]]:
            results = await asyncio.gather(*(model.predict_async(f) for f in frames * 4))
            return [r.to_dict() for r in results]

        concurrent = asyncio.run(many())
    assert batched == single
    assert concurrent == single * 4


def test_onnx_batch_uses_dynamic_batch(tmp_path: Path) -> None:
    path = tmp_path / "cnn.onnx"
    path.write_bytes(onnx_cnn_bytes())
    write(path, {"task": "regression", "names": list("vwxyz"), "preprocess": {"std": 255}})
    frames = [photo("astronaut"), photo("coffee")]
    with edgeinfer.load(path) as model:
        runner = model._model_steps()
        assert runner.batch_size(len(frames)) == 2
        batched = [r.to_dict() for r in model.predict_batch(frames)]
        single = [model.predict(f).to_dict() for f in frames]
    assert batched[0]["names"] == list("vwxyz")
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_allclose(b["values"], s["values"], rtol=1e-4, atol=1e-5)


def test_bad_images_raise_input_error(classifier: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with edgeinfer.load(classifier) as model:
        with pytest.raises(InputError, match="no such image file"):
            model.predict(tmp_path / "missing.jpg")
        with pytest.raises(InputError, match="not a readable image"):
            model.predict(bad)
        with pytest.raises(InputError, match="could not be decoded"):
            model.predict(b"\x00\x01garbage")
        with pytest.raises(InputError, match="float32"):
            model.predict(np.zeros((10, 10, 3), np.float32))


def test_cli_predict_table_json_save_and_exit_code(classifier: Path, photos: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out_dir = tmp_path / "annotated"
    args = ["predict", str(classifier), str(photos["astronaut"]), str(photos["chelsea"]),
            "--json", "--save", str(out_dir)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [line["image"] for line in lines] == [str(photos["astronaut"]), str(photos["chelsea"])]
    assert all(line["task"] == "classification" and len(line["top"]) == 2 for line in lines)
    saved = sorted(p.name for p in out_dir.iterdir())
    assert saved == ["astronaut.jpg", "chelsea.jpg"]
    annotated = cv2.imread(str(out_dir / "astronaut.jpg"))
    assert annotated.shape == photo("astronaut").shape
    table = runner.invoke(cli, ["predict", str(classifier), str(photos["coffee"]), str(tmp_path / "missing.png")])
    assert table.exit_code == 65
    assert "coffee.jpg" in table.stdout and "no such image file" in table.stderr


def test_cli_predict_table_is_not_cut_when_piped(classifier: Path, photos: dict[str, Path], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "coffee-from-the-kitchen-camera.jpg"
    deep.parent.mkdir(parents=True)
    deep.write_bytes(photos["coffee"].read_bytes())
    table = CliRunner().invoke(cli, ["predict", str(classifier), str(deep)])  # stdout is not a terminal
    assert table.exit_code == 0, table.output
    assert str(deep) in table.stdout  # rich's 80 columns would have cut the path and the scores short
    assert "…" not in table.stdout
