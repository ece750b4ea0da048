"""Shared helpers for the benchmark suites: fair interleaved timing and result rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def row(name: str, value: float, unit: str, baseline: float | None, goal: str, passed: bool | None, *,
        ratio: float | None = None, **extra: object) -> dict[str, object]:
    """One result row in the suite's JSON shape (``passed=None``: reported, no goal)."""
    if ratio is None and baseline:
        ratio = value / baseline
    return {"name": name, "value": float(value), "unit": unit, "baseline": baseline, "ratio": ratio,
            "goal": goal, "passed": None if passed is None else bool(passed), **extra}


class Interleaved(NamedTuple):
    """Per-call milliseconds of two callables timed in alternating blocks."""

    candidate_ms: float  # median over every call
    baseline_ms: float
    round_ratios: list[float]  # candidate / baseline median within each round

    @property
    def ratio(self) -> float:
        """Median of the rounds' ratios: a burst of load moves both sides of a round, not the answer."""
        return float(np.median(self.round_ratios))


def interleaved_ms(candidate: Callable[[], object], baseline: Callable[[], object], *, rounds: int,
                   per_round: int, warmup: int = 5) -> Interleaved:
    """Time ``candidate`` and ``baseline`` in alternating blocks of ``per_round`` calls.

    Alternating blocks put both under the same machine load (thermal state, other processes),
    so their ratio is fair even on a busy 2-core machine.
    """
    for _ in range(warmup):
        candidate()
        baseline()
    times: dict[int, list[float]] = {0: [], 1: []}
    ratios = []
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        block: dict[int, list[float]] = {0: [], 1: []}
        for which in order:
            fn = candidate if which == 0 else baseline
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                block[which].append((time.perf_counter() - t0) * 1000)
            times[which].extend(block[which])
        ratios.append(float(np.median(block[0]) / np.median(block[1])))
    return Interleaved(float(np.median(times[0])), float(np.median(times[1])), ratios)
