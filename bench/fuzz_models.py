"""The long fuzz round: mutated model files through ``edgeinfer.load`` and one inference.

    python bench/fuzz_models.py [--count 500] [--seed 1] [--json out.json]
    python bench/fuzz_models.py --atheris [--count 20000]   # coverage-guided (pip install atheris)

The default mode mutates four real models built here (TFLite float and int8, ONNX float
and int8; tests/model_factory.py) ``--count`` times each, with the raw and structural
edits of tests/model_mutations.py plus the known crashers (tests/fuzz_corpus.py), and
runs every file in child processes (tests/fuzz_harness.py). It prints per format how many files loaded and ran,
which edgeinfer errors the others raised, and every signal, hang or foreign exception;
it exits 1 when there is one.

``--atheris`` runs the same load-and-run check in this process under atheris
(libFuzzer), seeded with the four models and mutating with the same edits plus
libFuzzer's own: a foreign exception or a signal stops it and writes the input as
``crash-*`` in the current folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fuzz_corpus import REGRESSIONS  # noqa: E402
from tests.fuzz_harness import Report, run_files  # noqa: E402 (the repository root is put on the path first)
from tests.model_mutations import Mutant, onnx_mutants, tflite_mutants  # noqa: E402


def build_bases() -> dict[str, bytes]:
    """The four real models the mutants start from."""
    from tests.model_factory import onnx_cnn_bytes, onnx_int8_path, tflite_bytes

    with tempfile.TemporaryDirectory() as tmp:
        onnx_int8 = onnx_int8_path(Path(tmp)).read_bytes()
    return {"tflite-f32": tflite_bytes("none"), "tflite-int8": tflite_bytes("int8"),
            "onnx-f32": onnx_cnn_bytes(), "onnx-int8": onnx_int8}


def mutants(bases: dict[str, bytes], count: int, seed: int) -> list[Mutant]:
    """``count`` random mutants of each base, then the known crashers."""
    out = []
    for i, (label, data) in enumerate(bases.items()):
        make = tflite_mutants if label.startswith("tflite") else onnx_mutants
        out += list(make(data, label, count, seed + i))
    for name, (kind, recipe) in REGRESSIONS.items():
        data, what = recipe(bases[f"{kind}-f32"])
        out.append(Mutant(f"regression-{kind} {name}: {what}", data, f".{kind}"))
    return out


def summary(report: Report) -> dict[str, dict[str, int]]:
    """Outcome counts per format (``tflite``/``onnx``, from the mutant's name)."""
    by_format: dict[str, Counter[str]] = {}
    for outcome in report.outcomes:
        kind = "tflite" if "tflite" in outcome.name.split(":")[0] else "onnx"
        by_format.setdefault(kind, Counter())[outcome.outcome] += 1
    return {kind: dict(sorted(counts.items())) for kind, counts in sorted(by_format.items())}


def run_round(count: int, seed: int, json_path: str | None) -> int:
    bases = build_bases()
    files = mutants(bases, count, seed)
    start = time.perf_counter()
    report = run_files(files)
    seconds = time.perf_counter() - start
    counts = summary(report)
    for kind, outcomes in counts.items():
        print(f"{kind}: {sum(outcomes.values())} files: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
    for failure in report.failures:
        print(f"FAILURE {failure.outcome}: {failure.name}: {failure.detail}")
    print(f"{len(files)} files in {seconds:.1f} s; {len(report.failures)} signals, hangs or foreign exceptions")
    if json_path:
        Path(json_path).write_text(json.dumps({"count": count, "seed": seed, "seconds": round(seconds, 1),
                                               "counts": counts, "failures": [vars(f) for f in report.failures]},
                                              indent=2))
    return 1 if report.failures else 0


def run_atheris(count: int, seed: int) -> int:
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install atheris", file=sys.stderr)
        return 2
    import numpy as np

    from tests.model_mutations import RAW, onnx_edit, random_onnx_edit, random_tflite_edit, tflite_edit

    bases = build_bases()
    corpus = Path(tempfile.mkdtemp(prefix="edgeinfer-atheris-"))
    for label, data in bases.items():
        (corpus / label).write_bytes(data)
    with atheris.instrument_imports():
        import edgeinfer
        from edgeinfer.benchmark import random_inputs

    def mutate(data: bytes, max_size: int, mutation_seed: int) -> bytes:
        rng = np.random.default_rng(mutation_seed)
        try:
            if data[4:8] == b"TFL3" and rng.random() < 0.5:
                return tflite_edit(data, lambda m: random_tflite_edit(m, rng))[0][:max_size]
            if data[:1] == b"\x08" and rng.random() < 0.5:
                return onnx_edit(data, lambda m: random_onnx_edit(m, rng))[0][:max_size]
            if len(data) > 16 and rng.random() < 0.5:
                return RAW[int(rng.integers(len(RAW)))](data, rng)[0][:max_size]
        except Exception:  # an edit that does not apply to this input: let libFuzzer mutate it instead
            pass
        return bytes(atheris.Mutate(data, max_size))

    def target(data: bytes) -> None:
        try:
            with edgeinfer.load(data) as model:
                model.run(random_inputs(model.inputs, size_wh=(32, 32)))
        except edgeinfer.EdgeInferError:
            return

    # TensorFlow, loaded to build the models, takes 1.4 GB of libFuzzer's default 2 GB limit.
    atheris.Setup([sys.argv[0], f"-runs={count}", f"-seed={seed}", "-max_len=65536", "-rss_limit_mb=4096",
                   str(corpus)], target, custom_mutator=mutate)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="mutants per base model (atheris: runs)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the counts and failures to this file")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, in this process")
    args = parser.parse_args()
    if args.atheris:
        return run_atheris(args.count, args.seed)
    return run_round(args.count, args.seed, args.json)


if __name__ == "__main__":
    sys.exit(main())
