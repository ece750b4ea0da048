"""The fidelity check: run source and artifact on the same inputs and compare.

The artifact is opened with :func:`edgeinfer.load` and run with ``Model.run``, the very
code a device runs. Inputs are transposed when the artifact's layout differs from the
source's (NCHW torch -> NHWC TFLite) and outputs brought back to the source's shape.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from converters.base import SourceModel
from converters.calibration import progress
from converters.layout import match_output
from converters.report import OutputFidelity, Thresholds

__all__ = ["FidelityResult", "compare_outputs", "check_gates", "measure"]


@dataclass(frozen=True)
class FidelityResult:
    """Outputs compared over all samples, and median latencies in milliseconds."""

    outputs: list[OutputFidelity]
    source_latency_ms: float
    artifact_latency_ms: float
    names: list[str]
    source_outputs: list[np.ndarray]
    artifact_outputs: list[np.ndarray]


def compare_outputs(names: Sequence[str], reference: Sequence[np.ndarray],
                    candidate: Sequence[np.ndarray]) -> list[OutputFidelity]:
    """Compare stacked outputs ``(samples, ...)`` output by output.

    Returns:
        One :class:`OutputFidelity` per output; top-1 agreement for 2-D
        ``(samples, classes)`` outputs with more than one class.
    """
    result = []
    for name, ref, got in zip(names, reference, candidate, strict=True):
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        diff = np.abs(ref64 - got64)
        denom = np.linalg.norm(ref64) * np.linalg.norm(got64)
        cosine = float(np.dot(ref64.ravel(), got64.ravel()) / denom) if denom > 0 else float(
            np.array_equal(ref64, got64))
        top1 = None
        if ref.ndim == 2 and ref.shape[1] > 1:
            top1 = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
        result.append(OutputFidelity(name, float(diff.max(initial=0.0)), float(diff.mean()) if diff.size else 0.0,
                                     cosine, top1))
    return result


def _stack(per_sample: list[list[np.ndarray]]) -> list[np.ndarray]:
    return [np.concatenate([s[i] for s in per_sample]) for i in range(len(per_sample[0]))]


def measure(source: SourceModel, artifact: Path, inputs: Sequence[np.ndarray],
            permutation: tuple[int, ...] | None) -> FidelityResult:
    """Run source and artifact on ``inputs`` (source layout, one sample each) and compare.

    Args:
        source: The loaded source model.
        artifact: The artifact file.
        inputs: float32 samples ``(1, *source.input_shape[1:])``.
        permutation: Transpose from source to artifact input layout, or ``None``.
    """
    import edgeinfer

    # Source and artifact run in separate passes: interleaving them makes their thread
    # pools (torch, XNNPACK, ONNX Runtime) spin against each other and skews the latencies.
    src_outs, art_outs, src_times, art_times = [], [], [], []
    for x in progress(list(inputs), "fidelity check: source"):
        t0 = time.perf_counter()
        src_outs.append(source.predict(x))
        src_times.append(time.perf_counter() - t0)
    with edgeinfer.load(artifact, accelerator="auto") as model:
        names = [o.name for o in model.outputs]
        for x, ref in zip(progress(list(inputs), "fidelity check: artifact"), src_outs, strict=True):
            feed = np.ascontiguousarray(x.transpose(permutation)) if permutation else x
            t0 = time.perf_counter()
            got = model.run(feed)
            art_times.append(time.perf_counter() - t0)
            art_outs.append([match_output(np.asarray(v, np.float32), r.shape)
                             for v, r in zip(got.values(), ref, strict=True)])
    reference, candidate = _stack(src_outs), _stack(art_outs)
    return FidelityResult(compare_outputs(names, reference, candidate), float(np.median(src_times) * 1e3),
                          float(np.median(art_times) * 1e3), names, reference, candidate)


def artifact_latency_ms(artifact: Path, inputs: Sequence[np.ndarray], permutation: tuple[int, ...] | None) -> float:
    """Median per-sample latency of an artifact on ``inputs`` on this machine, ms (after one warm-up)."""
    import edgeinfer

    with edgeinfer.load(artifact, accelerator="auto") as model:
        feeds = [np.ascontiguousarray(x.transpose(permutation)) if permutation else x for x in inputs]
        model.run(feeds[0])
        times = []
        for feed in feeds:
            t0 = time.perf_counter()
            model.run(feed)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def check_gates(outputs: Sequence[OutputFidelity], thresholds: Thresholds, classification: bool) -> list[str]:
    """Return one message per gate missed (empty when all hold)."""
    failures = []
    for o in outputs:
        if not o.cosine >= thresholds.cosine:
            failures.append(f"output {o.name!r}: cosine {o.cosine:.5f} < {thresholds.cosine}")
        if classification and o.top1_agreement is not None and o.top1_agreement < thresholds.top1:
            failures.append(f"output {o.name!r}: top-1 agreement {o.top1_agreement:.3f} < {thresholds.top1}")
    return failures
