"""Model cards: validation, precedence and round-trips through both formats and sidecars."""

from __future__ import annotations

from pathlib import Path

import pytest

import edgeinfer
from edgeinfer import card as card_module
from edgeinfer.card import ModelCard, parse, read, write
from edgeinfer.errors import ConfigError
from tests.model_factory import onnx_cnn_bytes, tflite_bytes

CARD = {
    "task": "classification",
    "labels": ["person", "non_person", "cat", "dog"],
    "preprocess": {"color": "rgb", "resize": "letterbox", "size_wh": [32, 32],
                   "letterbox": {"align": "top_left", "pad_value": 0}, "mean": [127.5] * 3, "std": 127.5},
    "postprocess": {"activation": "softmax", "top_k": 3},
}


@pytest.fixture(params=["tflite", "onnx"])
def model_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"model.{request.param}"
    path.write_bytes(tflite_bytes("none") if request.param == "tflite" else onnx_cnn_bytes())
    return path


def test_embedded_card_round_trips_and_model_still_runs(model_path: Path) -> None:
    before = edgeinfer.load(model_path)
    assert before.card.task == "raw" and before.card.origin == "default"
    write(model_path, CARD)
    card = read(model_path)
    assert card.origin == "embedded"
    assert card.labels == tuple(CARD["labels"])
    assert card.preprocess.letterbox.align == "top_left"
    assert card.preprocess.std == (127.5, 127.5, 127.5)
    with edgeinfer.load(model_path) as model:
        assert model.card == card
        spec = model.inputs[0]
        import numpy as np

        out = model.run(np.zeros([1 if d < 0 else d for d in spec.shape], np.float32))
        assert out  # the rewritten file is still a valid model
    write(model_path, {**CARD, "labels": ["a", "b", "c", "d"]})  # replaces, not duplicates
    assert read(model_path).labels == ("a", "b", "c", "d")


def test_sidecar_then_argument_precedence(model_path: Path, tmp_path: Path) -> None:
    sidecar = Path(str(model_path) + ".yaml")
    (tmp_path / "labels.txt").write_text("zero\none\n\ntwo\n")
    sidecar.write_text("task: classification\nlabels_file: labels.txt\n")
    card = read(model_path)
    assert card.origin.startswith("sidecar:") and card.labels == ("zero", "one", "two")
    with edgeinfer.load(model_path, card={"task": "regression", "names": ["x"]}) as model:
        assert model.card.task == "regression" and model.card.origin == "argument"
    write(model_path, CARD)  # embedded beats the sidecar
    assert read(model_path).origin == "embedded"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "clasification"}, r"task: Input should be 'classification'"),
        ({"preprocess": {"colour": "rgb"}}, r"preprocess.colour: unknown key"),
        ({"preprocess": {"std": [1, 0, 1]}}, r"std values must be non-zero"),
        ({"preprocess": {"color": "gray", "mean": [1, 2, 3]}}, r"differs per channel, but color 'gray'"),
        ({"preprocess": {"mean": [1, 2]}}, r"mean has 2 values; give 1 .* or 3"),
        ({"task": "detection"}, r"needs postprocess.decoder"),
        ({"postprocess": {"score_threshold": 1.5}}, r"score_threshold: .*less than or equal to 1 \(got 1.5\)"),
        ("task: [unclosed", r"not valid YAML"),
    ],
)
def test_invalid_cards_name_key_value_and_choices(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(data)  # type: ignore[arg-type]


def test_gray_cards_accept_default_and_scalar_normalisation() -> None:
    assert parse({"preprocess": {"color": "gray"}}).preprocess.mean == (0.0, 0.0, 0.0)
    assert parse({"preprocess": {"color": "gray", "mean": 127.5, "std": [255]}}).preprocess.std == (255.0,)


def test_card_helpers() -> None:
    card = parse(CARD)
    assert card.label(2) == "cat" and card.label(99) == "99"
    merged = card.merged({"postprocess": {"top_k": 1}})
    assert merged.postprocess.top_k == 1 and merged.postprocess.activation == "softmax"
    assert "origin" not in card.to_dict()
    assert isinstance(card_module.parse(card.to_dict()), ModelCard)


def test_card_file_and_unreadable_labels(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    path.write_text("task: classification\nlabels_file: missing.txt\n")
    with pytest.raises(ConfigError, match=r"missing\.txt"):
        read(path)


def _with_offset_buffer(model: bytes) -> bytes:
    """Move the largest weight buffer behind the flatbuffer, addressed by offset/size."""
    import flatbuffers
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(model, 0)
    index = max(range(len(m.buffers)), key=lambda i: 0 if m.buffers[i].data is None else len(m.buffers[i].data))
    payload = bytes(np.asarray(m.buffers[index].data, np.uint8))
    m.buffers[index].data = None
    m.buffers[index].size = len(payload)

    def pack(offset: int) -> bytes:
        m.buffers[index].offset = offset
        builder = flatbuffers.Builder(len(model))
        builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    head = pack(1 << 40)  # same field sizes as the final value, so the length is final
    offset = (len(head) + 15) // 16 * 16
    head = pack(offset)
    return head + b"\0" * (offset - len(head)) + payload


def test_card_write_keeps_weights_stored_after_the_flatbuffer(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "offset.tflite"
    path.write_bytes(_with_offset_buffer(tflite_bytes("none")))
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
    with edgeinfer.load(path) as model:
        before = next(iter(model.run(x).values()))
    write(path, CARD)
    with edgeinfer.load(path) as model:
        assert model.card.origin == "embedded"
        after = next(iter(model.run(x).values()))
    np.testing.assert_array_equal(before, after)
