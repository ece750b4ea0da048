"""The OCR chain against RapidOCR's own pipeline, on the same PP-OCR models and real images."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import ConfigError
from edgeinfer.ocr.crops import reading_order
from edgeinfer.ocr.ctc import CtcVocabulary, decode_greedy
from edgeinfer.results import TextLines
from tests.ocr.conftest import DET, REC, Reference

MAX_CER = 0.02


def test_text_matches_rapidocr_on_three_real_images(ocr_float: Any, references: list[Reference],
                                                     cer_of: Callable[[str, str], float]) -> None:
    for ref in references:
        assert ref.lines, f"RapidOCR read nothing on {ref.name}: the test image is broken"
        ours = ocr_float.predict(ref.image)
        assert isinstance(ours, TextLines)
        rate = cer_of(ours.text, ref.text)
        assert rate <= MAX_CER, f"{ref.name}: CER {rate:.3f} between\n{ours.text}\n--- and RapidOCR's ---\n{ref.text}"
        assert ours.polygons.shape == (len(ours), 4, 2)
        assert np.all(ours.scores >= 0.5) and np.all(ours.scores <= 1.0)


def test_upside_down_receipt_needs_the_angle_classifier(references: list[Reference],
                                                        cer_of: Callable[[str, str], float]) -> None:
    receipt = next(r for r in references if r.name == "receipt_upside_down")
    with edgeinfer.load_ocr(DET, REC) as no_cls:
        unturned = no_cls.predict(receipt.image).text
    assert cer_of(unturned, receipt.text) > 0.3  # the classifier is what makes it readable


def test_lines_come_in_reading_order(ocr_float: Any, references: list[Reference]) -> None:
    page = ocr_float.predict(references[0].image)
    tops = page.polygons[:, 0, 1]
    assert np.all(np.diff(tops) > 0), tops
    assert page.texts[0].startswith("Region-based")
    # Two boxes on one line (tops 4 px apart) read left to right, whatever their y order.
    boxes = np.array([[[200, 10], [300, 10], [300, 30], [200, 30]],
                      [[10, 14], [100, 14], [100, 34], [10, 34]],
                      [[10, 60], [100, 60], [100, 80], [10, 80]]], np.float32)
    assert reading_order(boxes).tolist() == [1, 0, 2]


def test_to_dict_is_json_with_text_score_and_polygon(ocr_float: Any, references: list[Reference]) -> None:
    data = json.loads(json.dumps(ocr_float.predict(references[1].image).to_dict()))
    assert data["task"] == "ocr"
    assert [line["text"] for line in data["lines"]] == list(references[1].lines)
    assert all(len(line["polygon"]) == 4 and 0.5 <= line["score"] <= 1 for line in data["lines"])


def test_ctc_greedy_merges_repeats_and_drops_blanks() -> None:
    vocab = CtcVocabulary(["a", "b"])  # classes: blank, a, b, space
    steps = [1, 1, 0, 1, 2, 3, 2, 2, 0]
    probs = np.full((1, len(steps), 4), 0.1, np.float32)
    probs[0, np.arange(len(steps)), steps] = 0.7
    assert decode_greedy(probs, vocab) == [("aab b", pytest.approx(0.7))]


def test_character_list_of_the_wrong_length_is_a_load_time_error() -> None:
    characters = [chr(0x4E00 + i) for i in range(6000)]
    with pytest.raises(ConfigError, match=r"6000 characters.*6002 classes.*outputs 6625"):
        edgeinfer.load_ocr(DET, REC, characters=characters)


def test_character_list_from_the_recognizer_metadata_card_and_file(tmp_path: Path, ocr_float: Any,
                                                                    references: list[Reference]) -> None:
    characters = ocr_float.vocabulary.characters
    assert len(characters) == 6623  # the 'character' entry of the model's metadata_props
    keys = tmp_path / "keys.txt"
    keys.write_text("\n".join(characters) + "\n", encoding="utf-8")
    card = tmp_path / "ocr.yaml"
    card.write_text(f"task: ocr\nocr:\n  det: {DET}\n  rec: {REC}\n  characters_file: keys.txt\n")
    with edgeinfer.load_ocr(card) as from_card:
        assert from_card.vocabulary.characters == characters
        assert from_card.predict(references[1].image).texts == references[1].lines
    keys.write_text("a\nb\nc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="3 characters"):
        edgeinfer.load_ocr(card)


def test_bad_ocr_card_and_missing_recognizer_are_config_errors(tmp_path: Path) -> None:
    card = tmp_path / "ocr.yaml"
    card.write_text("task: ocr\nocr:\n  det: det.onnx\n  recogniser: rec.onnx\n")
    with pytest.raises(ConfigError, match=r"ocr\.rec"):
        edgeinfer.load_ocr(card)
    with pytest.raises(ConfigError, match="needs the recogniser"):
        edgeinfer.load_ocr(DET)


def test_draw_writes_text_beside_each_line(ocr_float: Any, references: list[Reference]) -> None:
    image = references[1].image
    lines = ocr_float.predict(image)
    drawn = edgeinfer.draw(image, lines)
    assert drawn.shape == image.shape and not np.shares_memory(drawn, image)
    changed = np.any(drawn != image, axis=2)
    for polygon in lines.polygons.astype(int):
        x0, y0 = polygon.min(axis=0)
        x1, y1 = polygon.max(axis=0)
        assert changed[y0:y1 + 1, x0:x1 + 1].any()  # the outline
    # The text label goes outside the boxes as well (beside each line).
    inside = np.zeros_like(changed)
    for polygon in lines.polygons.astype(int):
        x0, y0 = polygon.min(axis=0) - 3
        x1, y1 = polygon.max(axis=0) + 3
        inside[max(y0, 0):y1, max(x0, 0):x1] = True
    assert changed[~inside].sum() > 200
    assert np.array_equal(edgeinfer.draw(image, TextLines.empty()), image)


def test_predict_cli_reads_an_image_with_an_ocr_card(tmp_path: Path, references: list[Reference]) -> None:
    import cv2
    from click.testing import CliRunner

    from edgeinfer.cli import cli

    image = tmp_path / "label.png"
    cv2.imwrite(str(image), references[1].image)
    card = tmp_path / "ocr.yaml"
    card.write_text(f"task: ocr\nocr:\n  det: {DET}\n  rec: {REC}\n")
    result = CliRunner().invoke(cli, ["predict", str(card), str(image), "--json", "--save", str(tmp_path / "out.jpg")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert [line["text"] for line in data["lines"]] == list(references[1].lines)
    assert (tmp_path / "out.jpg").stat().st_size > 0
    flags = CliRunner().invoke(cli, ["predict", str(DET), str(image), "--ocr-rec", str(REC)])
    assert flags.exit_code == 0 and "Arabica 250 g" in flags.output, flags.output


def test_pipeline_runs_the_ocr_chain_into_a_sink(ocr_float: Any, references: list[Reference]) -> None:
    from edgeinfer.pipeline import Pipeline
    from edgeinfer.sinks.memory import MemorySink
    from edgeinfer.sources import ReplaySource

    sink = MemorySink()
    stats = Pipeline(ReplaySource([references[1].image]), ocr_float, [sink], device_id="test").run()
    assert stats.frames_published == 1
    assert isinstance(sink.results[0], TextLines)
    assert [line["text"] for line in sink.envelopes[0]["result"]["lines"]] == list(references[1].lines)


def test_daemon_runs_an_ocr_card_from_its_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  references: list[Reference]) -> None:
    import cv2
    from click.testing import CliRunner

    from edgeinfer.cli import cli

    (tmp_path / "frames").mkdir()
    cv2.imwrite(str(tmp_path / "frames" / "label.png"), references[1].image)
    (tmp_path / "ocr.yaml").write_text(f"task: ocr\nocr:\n  det: {DET}\n  rec: {REC}\n")
    (tmp_path / "config.yaml").write_text(
        "device_id: cam-01\nstreams:\n  - {name: front, source: frames, model: ocr.yaml, policy: every}\n"
        "sinks:\n  - {type: jsonl, path: produced.jsonl}\n")
    monkeypatch.chdir(tmp_path)
    checked = CliRunner().invoke(cli, ["run", "--check", "config.yaml"])
    assert checked.exit_code == 0 and "task ocr" in checked.output, checked.output
    ran = CliRunner().invoke(cli, ["run", "config.yaml"])
    assert ran.exit_code == 0, ran.output
    envelope = json.loads((tmp_path / "produced.jsonl").read_text().splitlines()[0])
    assert [line["text"] for line in envelope["result"]["lines"]] == list(references[1].lines)


def test_serve_answers_with_the_lines_read(ocr_float: Any, references: list[Reference]) -> None:
    import cv2
    import httpx

    from edgeinfer.serve import create_app, start_in_thread

    jpeg = cv2.imencode(".png", references[1].image)[1].tobytes()
    with start_in_thread(create_app(ocr_float)) as server:
        answer = httpx.post(f"{server.url}/v1/predict", content=jpeg, headers={"Content-Type": "image/png"},
                            timeout=60)
        info = httpx.get(f"{server.url}/v1/model").json()
    assert answer.status_code == 200, answer.text
    assert [line["text"] for line in answer.json()["lines"]] == list(references[1].lines)
    assert info["task"] == "ocr" and set(info["models"]) == {"det", "rec", "cls"}


def test_plain_load_of_an_ocr_card_points_to_load_ocr() -> None:
    with pytest.raises(ConfigError, match="load_ocr"):
        edgeinfer.load(DET, card={"task": "ocr"})


def test_draw_falls_back_to_ascii_with_one_warning_without_a_font(monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from edgeinfer import overlay_text

    frame = np.full((120, 240, 3), 255, np.uint8)
    lines = TextLines(np.array([[[20, 60], [200, 60], [200, 90], [20, 90]]], np.float32), ("Café 7",),
                      np.array([0.9], np.float32))
    with_font = edgeinfer.draw(frame, lines)
    assert np.any(with_font[:58] != 255)  # the tab above the line
    monkeypatch.setattr(overlay_text, "_pil_font", lambda size_px: None)  # as on a system without fonts
    monkeypatch.setattr(overlay_text, "_warned", set())
    with caplog.at_level("WARNING", logger="edgeinfer"):
        first = edgeinfer.draw(frame, lines)
        edgeinfer.draw(frame, lines)
    assert np.any(first[:58] != 255) and not np.array_equal(first, with_font)
    warnings = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "'?'" in warnings[0]
