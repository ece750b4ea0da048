"""Latency measurement behind ``edgeinfer bench``: like TFLite's ``benchmark_model``.

For one model and accelerator: initialisation time, first-inference time, then ``runs``
timed inferences after ``warmup`` untimed ones, on seeded random inputs (or, end to end,
preprocessing + inference + decoding of a 1920x1080 frame).
"""

from __future__ import annotations

import functools
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.types import TensorSpec

__all__ = ["BenchResult", "Comparison", "benchmark", "compare", "plot_latency", "random_inputs", "synthetic_frame"]


@dataclass(frozen=True)
class BenchResult:
    """Timings of one model on one accelerator (milliseconds unless named otherwise)."""

    model: str
    accelerator: str
    threads: int | None
    end_to_end: bool
    init_ms: float
    first_ms: float
    latencies_ms: list[float] = field(repr=False)
    peak_rss_mb: float = 0.0

    def summary(self) -> dict[str, Any]:
        """min / mean / p50 / p90 / p99 latency, throughput and the fixed fields, JSON-ready."""
        lat = np.asarray(self.latencies_ms)
        out = {k: v for k, v in asdict(self).items() if k != "latencies_ms"}
        out.update({
            "runs": int(lat.size),
            "min_ms": float(lat.min()), "mean_ms": float(lat.mean()),
            "p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90)),
            "p99_ms": float(np.percentile(lat, 99)),
            "throughput_per_s": float(1000.0 / lat.mean()) if lat.mean() > 0 else 0.0,
        })
        return out


def _concrete(spec: TensorSpec, size_wh: tuple[int, int] | None) -> tuple[int, ...]:
    shape = list(spec.shape)
    if len(shape) == 4 and size_wh is not None:
        w, h = size_wh
        hw = (1, 2) if shape[3] in (1, 3) or shape[1] not in (1, 3) else (2, 3)
        shape[hw[0]] = h if shape[hw[0]] < 0 else shape[hw[0]]
        shape[hw[1]] = w if shape[hw[1]] < 0 else shape[hw[1]]
    return tuple(1 if d < 0 else d for d in shape)


def random_inputs(specs: list[TensorSpec], seed: int = 0,
                  size_wh: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Seeded random inputs of each spec's dtype; dynamic dims become 1 (or ``size_wh``)."""
    rng = np.random.default_rng(seed)
    out = {}
    for spec in specs:
        shape = _concrete(spec, size_wh or (224, 224))
        if spec.dtype.kind in "iu":
            info = np.iinfo(spec.dtype)
            out[spec.name] = rng.integers(info.min, int(info.max) + 1, shape, dtype=spec.dtype)
        elif spec.dtype.kind == "b":
            out[spec.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[spec.name] = rng.uniform(0, 1, shape).astype(spec.dtype)
    return out


def synthetic_frame(width: int = 1920, height: int = 1080, seed: int = 0) -> np.ndarray:
    """A 1920x1080 BGR frame with gradients, shapes and noise (a stand-in camera frame)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    frame = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 255 // (width + height))], -1)
    frame = frame.astype(np.uint8)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, width - 200)), int(rng.integers(0, height - 200))
        frame[y0:y0 + int(rng.integers(40, 200)), x0:x0 + int(rng.integers(40, 200))] = rng.integers(0, 256, 3)
    noise = rng.integers(0, 12, frame.shape, dtype=np.uint8)
    return np.asarray(frame + noise, dtype=np.uint8)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def benchmark(model: str | Path, *, accelerator: str = "auto", threads: int | None = None, runs: int = 50,
              warmup: int = 5, end_to_end: bool = False, frame: np.ndarray | None = None,
              progress: Any = None) -> BenchResult:
    """Load ``model`` on ``accelerator`` and time it.

    Args:
        model: Path to a ``.tflite`` or ``.onnx`` file.
        accelerator: As for :func:`edgeinfer.load`.
        threads: Interpreter threads.
        runs: Timed inferences.
        warmup: Untimed inferences after the first one.
        end_to_end: Time ``predict`` on a 1920x1080 frame (preprocess + infer + decode).
        frame: The frame for ``end_to_end`` (default :func:`synthetic_frame`).
        progress: Optional callable invoked after each timed run (for progress bars).

    Returns:
        A :class:`BenchResult`.
    """
    import edgeinfer

    start = time.perf_counter()
    loaded = edgeinfer.load(model, accelerator=accelerator, threads=threads)
    init_ms = (time.perf_counter() - start) * 1000
    with loaded:
        if end_to_end:
            image = synthetic_frame() if frame is None else frame

            def step() -> object:
                return loaded.predict(image)
        else:
            feeds = random_inputs(loaded.inputs, size_wh=loaded.card.preprocess.size_wh)

            def step() -> object:
                return loaded.run(feeds)

        start = time.perf_counter()
        step()
        first_ms = (time.perf_counter() - start) * 1000
        for _ in range(warmup):
            step()
        latencies = []
        for _ in range(runs):
            t0 = time.perf_counter()
            step()
            latencies.append((time.perf_counter() - t0) * 1000)
            if progress is not None:
                progress()
        return BenchResult(str(model), loaded.accelerator, threads, end_to_end, init_ms, first_ms,
                           latencies, _peak_rss_mb())


@dataclass(frozen=True)
class Comparison:
    """Two models timed in alternating rounds on this machine (``edgeinfer bench A --compare B``).

    Attributes:
        models: The two paths, ``[a, b]``.
        kinds: What each is (``float32``, ``int8``, ``fp16`` ... from its card or dtypes).
        sizes_bytes: The two file sizes.
        p50_ms: Median latency of each over every round.
        ratio: Median over the rounds of ``b``'s p50 divided by ``a``'s (< 1: ``b`` is faster).
        cpu_target: This CPU's int8 kernel family (:mod:`devices.cpu`).
        verdict: One sentence: which is faster here, and which to ship.
    """

    models: list[str]
    kinds: list[str]
    sizes_bytes: list[int]
    p50_ms: list[float]
    ratio: float
    cpu_target: str
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def _kind(model: Any) -> str:
    conversion = model.card.conversion
    if conversion is not None and conversion.quantization.get("mode") not in (None, "none"):
        return str(conversion.quantization["mode"])
    quantized = any(spec.quant is not None for spec in (*model.inputs, *model.outputs))
    return "int8" if quantized else str(model.inputs[0].dtype)


def compare(model_a: str | Path, model_b: str | Path, *, accelerator: str = "auto", threads: int | None = None,
            runs: int = 50, rounds: int = 5) -> Comparison:
    """Time two models in alternating rounds (so drift of the machine hits both) and compare.

    Args:
        model_a: The model to compare against (e.g. the float artifact).
        model_b: The other one (e.g. the int8 artifact).
        accelerator: As for :func:`edgeinfer.load`, for both.
        threads: Interpreter threads, for both.
        runs: Timed inferences of each model in all (split over the rounds).
        rounds: Alternations; the ratio is the median of the rounds' ratios.

    Returns:
        The :class:`Comparison`.
    """
    import edgeinfer
    from devices.cpu import read_cpu_int8

    per_round = max(runs // max(rounds, 1), 1)
    with edgeinfer.load(model_a, accelerator=accelerator, threads=threads) as a, \
            edgeinfer.load(model_b, accelerator=accelerator, threads=threads) as b:
        steps = [functools.partial(m.run, random_inputs(m.inputs, size_wh=m.card.preprocess.size_wh)) for m in (a, b)]
        for step in steps:
            for _ in range(3):
                step()
        times: list[list[float]] = [[], []]
        ratios = []
        for r in range(rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            medians = [0.0, 0.0]
            for i in order:
                taken = _time(steps[i], per_round)
                times[i].extend(taken)
                medians[i] = float(np.median(taken))
            ratios.append(medians[1] / medians[0] if medians[0] > 0 else float("inf"))
        kinds, sizes = [_kind(a), _kind(b)], [a.size_bytes, b.size_bytes]
    ratio = float(np.median(ratios))
    target = read_cpu_int8().target
    names = [Path(m).name for m in (model_a, model_b)]
    return Comparison([str(model_a), str(model_b)], kinds, sizes, [float(np.median(t)) for t in times], ratio,
                      target, _verdict(names, kinds, sizes, ratio, target))


def _time(step: Any, count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        step()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _verdict(names: list[str], kinds: list[str], sizes: list[int], ratio: float, target: str) -> str:
    what = [f"{n} ({k}, {s / 1024:.0f} KiB)" for n, k, s in zip(names, kinds, sizes, strict=True)]
    here = f"on this CPU ({target})"
    if 0.95 <= ratio <= 1.05:
        smaller = what[int(sizes[1] < sizes[0])]
        return f"{what[1]} runs at {ratio:.2f}x the latency of {what[0]} {here}: as fast; ship the smaller, {smaller}"
    faster = what[1] if ratio < 1 else what[0]
    return f"{what[1]} runs at {ratio:.2f}x the latency of {what[0]} {here}; ship {faster}, the faster one here"


def plot_latency(results: list[BenchResult], out: str | Path) -> Path:
    """Save a latency histogram per accelerator as a PNG (needs matplotlib).

    Raises:
        MissingDependencyError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        from edgeinfer.errors import MissingDependencyError

        raise MissingDependencyError("matplotlib", "plot", "bench --plot") from exc
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for result in results:
        lat = np.asarray(result.latencies_ms)
        p50 = float(np.percentile(lat, 50))
        ax.hist(lat, bins=min(40, max(10, lat.size // 5)), alpha=0.6,
                label=f"{result.accelerator}: p50 {p50:.2f} ms, p99 {np.percentile(lat, 99):.2f} ms")
    name = Path(results[0].model).name if results else ""
    kind = "end to end (preprocess + infer + decode)" if results and results[0].end_to_end else "inference"
    ax.set_title(f"{name} — {kind} latency")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("runs")
    ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
