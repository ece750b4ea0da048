"""``edgeinfer card``: the effective card, its origin and the tensors, with real models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from edgeinfer.card import read
from edgeinfer.cli import cli
from tests.test_card_derive import IMGSZ_HW, NAMES, ultralytics_metadata, yolo_onnx


@pytest.fixture
def yolo(tmp_path: Path) -> Path:
    return yolo_onnx(tmp_path / "yolo11n.onnx", ultralytics_metadata())


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["card", *args])
    return result.exit_code, result.stdout, result.stderr


def test_yaml_output_is_the_effective_card(yolo: Path) -> None:
    code, out, _ = invoke(str(yolo))
    assert code == 0
    assert "# origin: ultralytics" in out
    assert "#   images  [1, 3, 64, 96]  float32" in out
    assert "#   output0  [1, 7, 6]  float32" in out
    card = yaml.safe_load(out)  # comments aside, the output is a valid card
    assert card == read(yolo).to_dict()
    assert card["labels"] == list(NAMES.values()) and card["preprocess"]["size_wh"] == IMGSZ_HW[::-1]


def test_json_output(yolo: Path) -> None:
    code, out, _ = invoke(str(yolo), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["origin"] == "ultralytics" and report["model"] == str(yolo)
    assert report["card"]["postprocess"]["decoder"] == "yolov8"
    assert report["inputs"][0]["name"] == "images" and report["inputs"][0]["shape"] == [1, 3, 64, 96]
    assert report["outputs"][0]["shape"] == [1, 4 + len(NAMES), 6]


def test_card_option_overrides_and_says_so(yolo: Path, tmp_path: Path) -> None:
    override = tmp_path / "mine.yaml"
    override.write_text("task: classification\nlabels: [a, b, c]\n")
    code, out, _ = invoke(str(yolo), "--card", str(override), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["origin"] == f"argument:{override}" and report["card"]["task"] == "classification"


def test_write_embeds_the_card(yolo: Path, tmp_path: Path) -> None:
    (tmp_path / "labels.txt").write_text("cat\ndog\nfox\n")
    card_file = tmp_path / "card.yaml"
    card_file.write_text("task: detection\nlabels_file: labels.txt\npostprocess: {decoder: yolov8}\n")
    code, out, err = invoke(str(yolo), "--write", str(card_file), "--json")
    assert code == 0, err
    assert json.loads(out)["origin"] == "embedded"
    embedded = read(yolo)
    assert embedded.origin == "embedded" and embedded.labels == ("cat", "dog", "fox")


def test_errors_exit_with_the_error_class_code(yolo: Path, tmp_path: Path) -> None:
    code, _, err = invoke(str(tmp_path / "missing.onnx"))
    assert code == 65 and "no such model file" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: detection\npreprocess: {colour: rgb}\npostprocess: {decoder: yolov8}\n")
    code, _, err = invoke(str(yolo), "--card", str(bad))
    assert code == 78 and "colour" in err
    before = yolo.read_bytes()
    code, _, err = invoke(str(yolo), "--write", str(bad))
    assert code == 78 and yolo.read_bytes() == before  # nothing written
    code, _, err = invoke(str(yolo), "--write", str(tmp_path / "nope.yaml"))
    assert code == 78 and "cannot be read" in err


def test_card_shown_when_the_runtime_is_missing(yolo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    code, out, _ = invoke(str(yolo), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["origin"] == "ultralytics" and "not loaded" in report["note"]
    assert report["inputs"] == [{"shape": [1, 3, 64, 96]}]
    assert report["outputs"] == [{"shape": [1, 4 + len(NAMES), 6]}]
