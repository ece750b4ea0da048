"""Mutated model files never kill the process and raise only edgeinfer errors.

Each file is loaded and run once (random inputs) in a child process (tests/fuzz_harness.py),
so a signal in LiteRT or ONNX Runtime fails the test and names the file. The crashers
found so far are fixed recipes (tests/fuzz_corpus.py); a short seeded
round of random mutations runs here, the long one in ``bench/fuzz_models.py``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.errors import ModelError
from edgeinfer.formats import open_model_file
from tests.fuzz_corpus import REGRESSIONS
from tests.fuzz_harness import CRASH_FOR_TEST, run_files
from tests.model_factory import onnx_cnn_bytes, onnx_int8_path, tflite_bytes
from tests.model_mutations import (
    Mutant,
    onnx_mutants,
    set_buffer,
    set_op_index,
    set_opcode,
    set_opcode_index,
    set_quantization,
    set_tensor,
    tflite_edit,
    tflite_mutants,
)

SHORT_ROUND = 100  # mutants per base model: 400 files, a few seconds on 2 cores

# What each regression must now raise, and words its message must hold.
EXPECTED = {
    "tflite-op-input-negative": ("ModelError", r"subgraph 0: operator 0 \(CONV_2D\) names tensor -5 among its inputs"),
    "tflite-op-input-negative-last": ("ModelError", r"operator 1 \(CONV_2D\) .* tensor -5 .* -1 only for an optional"),
    "onnx-metadata-not-utf8": ("ModelError", r"metadata or inputs are corrupt \('utf-8' codec"),
    "onnx-huge-input-dim": ("ModelError", r"input 'x' is declared as \[1, 3, 2147483648, 32\], 768 GiB: more than"),
    "onnx-channel-mismatch": ("ModelError", r"failed while running: .*Input channels C is not equal"),
    "onnx-bias-mismatch": ("ModelError", r"failed while running: .*bias must be a 1D tensor"),
    "tflite-tensor-written-twice": ("ModelError", r"operator 4 \(SOFTMAX\) writes tensor 7, which operator 0 writes"),
    "tflite-graph-output-negative": ("ModelError", r"subgraph 0 lists tensor -1 among its outputs"),
    "tflite-huge-input": ("ModelError", r"tensor 0 of subgraph 0 declares shape \[1, 32, 2147483647, 3\]"),
    "tflite-opcode-outside-file": ("ModelError", r"truncated or corrupt"),
    "onnx-dim-param-not-utf8": ("ModelError", r"inputs or outputs carry names that are not UTF-8 text"),
    "tflite-required-input-missing": ("ModelError", r"operator 0 \(CONV_2D\) has no tensor \(-1\) for its input 0"),
    "tflite-conv-becomes-strided-slice": ("ModelError", r"\(STRIDED_SLICE\) carries Conv2DOptions, and it"),
    "tflite-fully-connected-becomes-split": ("ModelError", r"operator 3 \(SPLIT\) has no tensor \(-1\) for its"),
}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The real models the mutants start from: float and int8, TFLite and ONNX."""
    folder = tmp_path_factory.mktemp("fuzz-bases")
    return {"tflite-f32": tflite_bytes("none"), "tflite-int8": tflite_bytes("int8"),
            "onnx-f32": onnx_cnn_bytes(), "onnx-int8": onnx_int8_path(folder).read_bytes()}


def test_every_regression_has_an_expectation() -> None:
    assert set(EXPECTED) == set(REGRESSIONS)


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_known_crasher_raises_a_model_error(bases: dict[str, bytes], name: str) -> None:
    kind, recipe = REGRESSIONS[name]
    data, what = recipe(bases[f"{kind}-f32"])
    report = run_files([Mutant(f"{name}: {what}", data, f".{kind}")])
    (outcome,) = report.outcomes
    error, pattern = EXPECTED[name]
    assert outcome.outcome == error, outcome
    assert re.search(pattern, outcome.detail), outcome.detail
    assert re.search(r"\.(tflite|onnx): ", outcome.detail) and "again" in outcome.detail  # the file and the fix


def test_short_seeded_round_has_no_signal_and_no_foreign_exception(bases: dict[str, bytes]) -> None:
    mutants = [m for label, data in bases.items()
               for m in (tflite_mutants if label.startswith("tflite") else onnx_mutants)(data, label, SHORT_ROUND, 7)]
    report = run_files(mutants)
    assert report.failures == [], "\n".join(f"{o.outcome}: {o.name}: {o.detail}" for o in report.failures)
    counts = report.counts()
    assert sum(counts.values()) == len(mutants)
    assert counts["ok"] > 0 and counts["ModelError"] > 0, counts  # both paths were taken


def test_harness_blames_the_file_a_child_died_on(tmp_path: Path, bases: dict[str, bytes]) -> None:
    files = [Mutant("good", bases["onnx-f32"], ".onnx"), Mutant("crash", CRASH_FOR_TEST, ".onnx"),
             Mutant("empty", b"", ".onnx"), Mutant("good again", bases["tflite-f32"], ".tflite")]
    outcomes = {o.name: o.outcome for o in run_files(files).outcomes}
    assert outcomes == {"good": "ok", "crash": "signal:SIGSEGV", "empty": "ModelError", "good again": "ok"}


# In process: the graph checks alone (no interpreter), one per rule, with the words they must say.
GRAPH_CASES = {
    "opcode index": (set_opcode_index(0, 2, 9), r"operator 2 of subgraph 0 has opcode index 9, and the model has 4"),
    "buffer outside the file": (set_buffer(2, offset=64, size=1 << 40), r"buffer 2 lies outside the file"),
    "intermediate": (set_op_index(0, 1, "intermediates", 0, 99), r"names tensor 99 among its intermediates"),
    "negative shape": (set_tensor(0, 7, "shape", np.array([1, -4, 4, 8], np.int32)), r"tensor 7 .* negative dimension"),
    "shape against signature": (set_tensor(0, 0, "shape", np.array([1, 2097152, 32, 3], np.int32)),
                                r"tensor 0 of subgraph 0 has shape \[1, 2097152, 32, 3\], which its signature"),
    "buffer index": (set_tensor(0, 3, "buffer", 99), r"tensor 3 of subgraph 0 names buffer 99"),
    "per-channel scales": (set_quantization(0, 6, dimension=0, scales=5), r"5 per-channel scales along dimension 0"),
    "read before written": (set_op_index(0, 0, "inputs", 0, 9), r"operator 0 \(CONV_2D\) reads tensor 9 before"),
    "required input missing": (set_op_index(0, 4, "inputs", 0, -1), r"no tensor \(-1\) for its input 0, which is not"),
    "options of another operator": (set_opcode(1, "builtinCode", 49), r"carries ReducerOptions, and it takes Split"),
}


@pytest.mark.parametrize("case", sorted(GRAPH_CASES))
def test_graph_check_names_the_problem(bases: dict[str, bytes], case: str) -> None:
    edit, pattern = GRAPH_CASES[case]
    data, _ = tflite_edit(bases["tflite-f32"], edit)
    with pytest.raises(ModelError, match=r"<bytes>: the TFLite graph is inconsistent: .*" + pattern):
        open_model_file(data)


def test_a_missing_bias_is_optional(bases: dict[str, bytes]) -> None:
    data, _ = tflite_edit(bases["tflite-f32"], set_op_index(0, 0, "inputs", 2, -1))
    assert open_model_file(data).kind == "tflite"
