"""bench/bench_preprocess.py keeps working (its rows, and its same-transform checks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_preprocess.py"


def test_bench_run_quick_returns_rows() -> None:
    spec = importlib.util.spec_from_file_location("bench_preprocess", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.run(quick=True)  # also asserts both sides compute the same tensor
    assert [r["goal"] for r in rows] == [1.0, 0.25, None]
    for r in rows:
        assert set(r) == {"name", "value", "unit", "baseline", "ratio", "goal", "passed"}
        assert r["value"] > 0 and r["baseline"] > 0 and r["unit"] == "ms"
        assert abs(r["ratio"] - r["value"] / r["baseline"]) < 1e-2
