"""Text input end to end: a WordPiece tokenizer and a tiny torch text model trained here, exported
to ONNX with the card and tokenizer embedded, then ``predict("...")`` against the torch model."""

from __future__ import annotations

import json
import logging
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import edgeinfer
from edgeinfer.card import write
from edgeinfer.card_schema import parse
from edgeinfer.cli import cli
from edgeinfer.errors import ConfigError, InputError
from edgeinfer.results import Classification, Embedding, cosine

torch = pytest.importorskip("torch")
tokenizers = pytest.importorskip("tokenizers")

MAX_LENGTH = 24
DIM = 16
SPORT = (["team", "striker", "keeper", "coach", "club"], ["scored", "won", "lost", "played", "kicked"],
         ["match", "goal", "final", "league", "ball"])
WEATHER = (["sky", "wind", "storm", "cloud", "sun"], ["turned", "looked", "became", "grew", "stayed"],
           ["grey", "cold", "rainy", "windy", "sunny"])
TIMES = ["today", "yesterday", "this morning", "at night", "again"]


def sentence(rng: random.Random, topic: tuple[list[str], list[str], list[str]]) -> str:
    a, b, c = topic
    return f"the {rng.choice(a)} {rng.choice(b)} the {rng.choice(c)} {rng.choice(TIMES)}"


class TextNet(torch.nn.Module):  # type: ignore[misc]
    """Embedding -> tanh(linear) per token; ``logits`` of the masked mean, or the token vectors."""

    def __init__(self, vocab: int, tokens_out: bool = False) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, DIM)
        self.mix = torch.nn.Linear(DIM, DIM)
        self.head = torch.nn.Linear(DIM, 2)
        self.tokens_out = tokens_out

    def tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mix(self.emb(ids)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.tokens(input_ids)
        if self.tokens_out:
            return hidden
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0))


@dataclass
class Setup:
    tokenizer_json: str
    net: TextNet
    fixed: Path
    dynamic: Path
    embedder: Path
    held_out: list[tuple[str, int]]


def _train_tokenizer(corpus: list[str]) -> str:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(
        vocab_size=120, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(t, tok.token_to_id(t)) for t in ("[CLS]", "[SEP]")])
    text: str = tok.to_str()
    return text


def _export(net: TextNet, path: Path, card: dict, dynamic: bool) -> Path:
    ids = torch.zeros(1, MAX_LENGTH, dtype=torch.int64)
    axes = {"input_ids": {0: "n", 1: "seq"}, "attention_mask": {0: "n", 1: "seq"}} if dynamic else None
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated; it makes small, plain graphs
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["out"], dynamic_axes=axes, dynamo=False)
    write(path, card)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    rng = random.Random(0)
    data = [(sentence(rng, t), y) for _ in range(100) for y, t in enumerate((SPORT, WEATHER))]
    tokenizer_json = _train_tokenizer([s for s, _ in data])
    tok = tokenizers.Tokenizer.from_str(tokenizer_json)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), length=MAX_LENGTH)
    tok.enable_truncation(MAX_LENGTH)
    enc = tok.encode_batch([s for s, _ in data])
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    labels = torch.tensor([y for _, y in data])
    torch.manual_seed(0)
    net = TextNet(tok.get_vocab_size())
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(ids, mask), labels).backward()
        opt.step()
    net.eval()
    root = tmp_path_factory.mktemp("text")
    tokenizer = {"json": tokenizer_json, "max_length": MAX_LENGTH}
    card = {"task": "classification", "labels": ["sport", "weather"], "postprocess": {"activation": "softmax",
                                                                                      "top_k": 2},
            "tokenizer": tokenizer}
    fixed = _export(net, root / "fixed.onnx", card, dynamic=False)
    dynamic = _export(net, root / "dynamic.onnx", {**card, "tokenizer": {**tokenizer, "padding": "longest"}}, True)
    embedder_net = TextNet(tok.get_vocab_size(), tokens_out=True)
    embedder_net.load_state_dict(net.state_dict())
    embedder = _export(embedder_net, root / "embedder.onnx", {"task": "embedding", "tokenizer": tokenizer}, True)
    rng = random.Random(7)
    held_out = [(sentence(rng, t), y) for _ in range(5) for y, t in enumerate((SPORT, WEATHER))]
    return Setup(tokenizer_json, net, fixed, dynamic, embedder, held_out)


def torch_logits(s: Setup, text: str) -> np.ndarray:
    """The reference: the text's own tokens (no padding), all attended."""
    tok = tokenizers.Tokenizer.from_str(s.tokenizer_json)
    tok.enable_truncation(MAX_LENGTH)
    ids = torch.tensor([tok.encode(text).ids])
    with torch.no_grad():
        out: np.ndarray = s.net(ids, torch.ones_like(ids)).numpy()[0]
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def check_matches(s: Setup, text: str, result: Classification) -> None:
    probs = softmax(torch_logits(s, text))
    assert result.class_ids[0] == int(np.argmax(probs))
    np.testing.assert_allclose(result.scores, probs[result.class_ids], atol=1e-5)


def test_predict_text_matches_torch_fixed_length(setup: Setup) -> None:
    with edgeinfer.load(setup.fixed) as model:
        assert model.inputs[0].shape == (1, MAX_LENGTH)
        for text, label in setup.held_out:
            result = model.predict(text)
            check_matches(setup, text, result)
            assert result.labels[0] == ("sport", "weather")[label]


def test_predict_batch_pads_to_longest(setup: Setup) -> None:
    texts = [t for t, _ in setup.held_out] + ["the sky"]
    with edgeinfer.load(setup.dynamic) as model:
        results = model.predict_batch(texts)
        batch = model._model_steps()._pre.batch(texts, len(texts))[0]
    longest = max(len(tokenizers.Tokenizer.from_str(setup.tokenizer_json).encode(t).ids) for t in texts)
    assert batch["input_ids"].shape == (len(texts), longest) < (len(texts), MAX_LENGTH)
    for text, result in zip(texts, results, strict=True):
        check_matches(setup, text, result)


def test_long_text_is_truncated_with_one_warning(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    long = " ".join(["the team scored the goal today"] * 6)
    with edgeinfer.load(setup.fixed) as model, caplog.at_level(logging.WARNING, "edgeinfer"):
        first = model.predict(long)
        model.predict(long + " again")
        model.predict_batch([long, "the sky"])
    warnings = [r for r in caplog.records if "max_length" in r.getMessage()]
    assert len(warnings) == 1
    check_matches(setup, long, first)  # the reference truncates at max_length too


def test_text_without_tokenizer_names_the_fix(setup: Setup) -> None:
    card = {"task": "classification", "labels": ["sport", "weather"]}
    with edgeinfer.load(setup.fixed, card=card) as model, pytest.raises(InputError, match="tokenizer:"):
        model.predict("the team won")
    with edgeinfer.load(setup.fixed) as model, pytest.raises(InputError, match="takes a str"):
        model.predict(np.zeros((1, MAX_LENGTH), np.int64))
    with pytest.raises(ConfigError, match="exactly one"):
        parse({"task": "classification", "tokenizer": {"json": setup.tokenizer_json, "file": "tok.json"}})
    wrong = {"tokenizer": {"json": setup.tokenizer_json, "input_ids": "ids"}}
    with edgeinfer.load(setup.fixed, card=wrong) as model, pytest.raises(ConfigError, match="not an input"):
        model.predict("the team won")


def test_tokenizer_file_beside_a_sidecar_card(setup: Setup, tmp_path: Path) -> None:
    model_path = tmp_path / "m.onnx"
    model_path.write_bytes(setup.dynamic.read_bytes())
    (tmp_path / "tok.json").write_text(setup.tokenizer_json)
    card = {"task": "classification", "labels": ["sport", "weather"], "postprocess": {"activation": "softmax"},
            "tokenizer": {"file": "tok.json", "max_length": MAX_LENGTH}}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(card))
    with edgeinfer.load(model_path, card=tmp_path / "card.yaml") as model:
        text = setup.held_out[0][0]
        check_matches(setup, text, model.predict(text))


def test_embedding_pooled_normalised_and_similar(setup: Setup) -> None:
    sport_a, sport_b, weather = "the team won the match today", "the striker scored the goal", "the sky grew grey"
    with edgeinfer.load(setup.embedder) as model:
        a, b, c = model.predict_batch([sport_a, sport_b, weather])
        cls = model.card.merged({"tokenizer": {"pooling": "cls"}})
    assert isinstance(a, Embedding) and a.dim == DIM
    assert abs(float(np.linalg.norm(a.vector)) - 1.0) < 1e-5
    assert cosine(a, b) > cosine(a, c)
    ids = torch.tensor([tokenizers.Tokenizer.from_str(setup.tokenizer_json).encode(sport_a).ids])
    with torch.no_grad():
        hidden = setup.net.tokens(ids)[0].numpy()
    mean = hidden.mean(0)
    np.testing.assert_allclose(a.vector, mean / np.linalg.norm(mean), atol=1e-5)
    payload = a.to_dict()
    assert payload["task"] == "embedding" and payload["dim"] == DIM and len(payload["vector"]) == DIM
    with edgeinfer.load(setup.embedder, card=cls) as model:
        first = model.predict(sport_a).vector
    np.testing.assert_allclose(first, hidden[0] / np.linalg.norm(hidden[0]), atol=1e-5)


def test_cli_text(setup: Setup) -> None:
    texts = [t for t, _ in setup.held_out[:2]]
    out = CliRunner().invoke(cli, ["predict", str(setup.dynamic), "--json", "--text", texts[0], "--text", texts[1]])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["text"] for r in rows] == texts
    assert [r["top"][0]["label"] for r in rows] == ["sport", "weather"]
    usage = CliRunner().invoke(cli, ["predict", str(setup.dynamic)])
    assert usage.exit_code == 2 and "--text" in usage.output


def test_serve_text_plain(setup: Setup) -> None:
    from starlette.testclient import TestClient

    from edgeinfer.serve import create_app

    text = setup.held_out[1][0]
    with edgeinfer.load(setup.dynamic) as model, TestClient(create_app(model)) as client:
        reply = client.post("/v1/predict", content=text.encode(), headers={"Content-Type": "text/plain"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["top"][0]["label"] == "weather"
        image = client.post("/v1/predict", content=b"\x89PNG\r\n\x1a\n", headers={"Content-Type": "image/png"})
        assert image.status_code == 400  # the image path still decodes images


def test_serve_image_model_refuses_text(setup: Setup, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from edgeinfer.serve import create_app
    from tests.model_factory import onnx_cnn_bytes

    path = tmp_path / "cnn.onnx"
    path.write_bytes(onnx_cnn_bytes())
    with edgeinfer.load(path) as model, TestClient(create_app(model)) as client:
        reply = client.post("/v1/predict", content=str(path).encode(), headers={"Content-Type": "text/plain"})
    assert reply.status_code == 400 and "tokenizer:" in reply.text
