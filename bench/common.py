"""Shared helpers for the benchmark suites: fair interleaved timing and result rows."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

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


def yolo_stand_in_onnx(path: Path, head_channels: int, finish: Callable[[Any], Any],
                       size: int = 640) -> tuple[Path, float]:
    """Export (once, to ``path``) a YOLO-like CNN: strides 8/16/32, one head per stride.

    Args:
        path: Where the ONNX file is cached; reused when it exists.
        head_channels: Channels of each head (the output's channel axis).
        finish: Torch ops on the concatenated ``[1, head_channels, anchors]`` tensor (activations).
        size: Square input size.

    Returns:
        The path and the network's GFLOPs (2 x multiply-accumulates, counted on one forward pass).
    """
    import contextlib
    import io
    import warnings

    import torch
    from torch import nn

    def block(c_in: int, c_out: int, stride: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())

    class StandIn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p3 = nn.Sequential(block(3, 16, 2), block(16, 32, 2), block(32, 64, 2), block(64, 64, 1))
            self.p4 = nn.Sequential(block(64, 128, 2), block(128, 128, 1))
            self.p5 = nn.Sequential(block(128, 256, 2), block(256, 256, 1))
            self.heads = nn.ModuleList(nn.Sequential(block(c, 64, 1), nn.Conv2d(64, head_channels, 1))
                                       for c in (64, 128, 256))

        def forward(self, x: Any) -> Any:
            p3 = self.p3(x)
            p4 = self.p4(p3)
            p5 = self.p5(p4)
            return finish(torch.cat([h(p).flatten(2) for h, p in zip(self.heads, (p3, p4, p5), strict=True)], 2))

    torch.manual_seed(0)
    net = StandIn().eval()
    macs: list[float] = []
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels * module.kernel_size[0] * module.kernel_size[1] / module.groups
            module.register_forward_hook(lambda _m, _i, out, k=per_output: macs.append(out.numel() * k))
    with torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (torch.zeros(1, 3, size, size),), str(path), dynamo=True, external_data=False,
                              input_names=["images"], output_names=["output0"])
    return path, 2 * sum(macs) / 1e9
