"""Shared helpers for the benchmark suites: fair interleaved timing and result rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def row(name: str, value: float, unit: str, baseline: float | None, goal: str, passed: bool, *,
        ratio: float | None = None, **extra: object) -> dict[str, object]:
    """One result row in the suite's JSON shape."""
    if ratio is None and baseline:
        ratio = value / baseline
    return {"name": name, "value": float(value), "unit": unit, "baseline": baseline, "ratio": ratio,
            "goal": goal, "passed": bool(passed), **extra}


def interleaved_ms(candidate: Callable[[], object], baseline: Callable[[], object], *, rounds: int,
                   per_round: int, warmup: int = 5) -> tuple[float, float]:
    """Median per-call milliseconds of ``candidate`` and ``baseline``, run in alternating blocks.

    Alternating blocks put both under the same machine load (thermal state, other processes),
    so their ratio is fair even on a busy 2-core machine.
    """
    for _ in range(warmup):
        candidate()
        baseline()
    times: dict[int, list[float]] = {0: [], 1: []}
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        for which in order:
            fn = candidate if which == 0 else baseline
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[which].append((time.perf_counter() - t0) * 1000)
    return float(np.median(times[0])), float(np.median(times[1]))
