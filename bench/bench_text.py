"""Text input: ``Model.predict("...")`` against ``tokenizers`` + a bare ONNX Runtime session.

Row (a dict with name, value, unit, baseline, ratio, goal, passed): milliseconds of
``predict(text)`` on a small text classifier (a WordPiece tokenizer trained here, an
embedding + mean + linear model of 32 tokens exported with ``torch.onnx``, card and
tokenizer embedded), against the same tokenizer's ``encode`` + ``InferenceSession.run`` +
``argmax`` on the logits. Both on one thread, timed in alternating blocks. Goal: <= 1.05x.

Run: ``python bench/bench_text.py [--quick]``. Needs torch and tokenizers.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from common import interleaved_ms, row

import edgeinfer
from edgeinfer.card import write

LENGTH = 32
WORDS = ("the", "team", "won", "final", "match", "today", "sky", "turned", "grey", "and", "cold", "wind", "storm",
         "rain", "sun", "keeper", "scored", "a", "late", "goal", "coach", "said", "league", "club", "ball",
         "yesterday", "morning", "night", "again")


def _model(folder: Path) -> tuple[Path, str]:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    rng = random.Random(0)
    corpus = [" ".join(rng.choices(WORDS, k=12)) for _ in range(200)]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[PAD]", "[UNK]"],
                                                              show_progress=False))

    class Net(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.emb = torch.nn.Embedding(tok.get_vocab_size(), 32)
            self.head = torch.nn.Linear(32, 4)

        def forward(self, ids: Any, mask: Any) -> Any:
            m = mask.unsqueeze(-1).float()
            return self.head((self.emb(ids) * m).sum(1) / m.sum(1).clamp(min=1.0))

    path = folder / "text.onnx"
    ids = torch.zeros(1, LENGTH, dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Net().eval(), (ids, torch.ones_like(ids)), str(path),
                          input_names=["input_ids", "attention_mask"], dynamo=False)
    text = tok.to_str()
    write(path, {"task": "classification", "postprocess": {"activation": "softmax", "top_k": 1},
                 "tokenizer": {"json": text, "max_length": LENGTH}})
    return path, text


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the text benchmark; ``quick`` uses fewer rounds."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    rounds = 10 if quick else 30
    rng = random.Random(1)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(4, 20))) for _ in range(64)]
    with tempfile.TemporaryDirectory() as tmp:
        path, tokenizer_json = _model(Path(tmp))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        tok = Tokenizer.from_str(tokenizer_json)
        tok.enable_truncation(LENGTH)
        tok.enable_padding(pad_id=0, length=LENGTH)
        at = [0, 0]

        def bare() -> object:
            at[1] += 1
            e = tok.encode(texts[at[1] % len(texts)])
            (logits,) = session.run(None, {"input_ids": np.array([e.ids], np.int64),
                                           "attention_mask": np.array([e.attention_mask], np.int64)})
            return int(np.argmax(logits))

        with edgeinfer.load(path, threads=1) as model:
            def ours() -> object:
                at[0] += 1
                return model.predict(texts[at[0] % len(texts)])

            timing = interleaved_ms(ours, bare, rounds=rounds, per_round=200, warmup=50)
    return [row(f"predict(text) vs tokenizers encode + bare ONNX Runtime session + argmax, {LENGTH} tokens, "
                "1 thread", timing.candidate_ms, "ms", timing.baseline_ms, "<= 1.05x", timing.ratio <= 1.05,
                ratio=timing.ratio)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
