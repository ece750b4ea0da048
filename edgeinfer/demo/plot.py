"""The demo's picture: latency per frame and the confusion matrix of the live predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_summary"]


def plot_summary(path: Path, rows: np.ndarray, truth: list[int], summary: dict[str, Any]) -> Path:
    """Write a two-panel PNG: per-frame latency, and predicted-vs-true digits.

    Args:
        path: Output PNG.
        rows: ``(N, 4)`` frame index, predicted digit, score, latency_ms.
        truth: True digit of every frame.
        summary: The demo summary (for titles).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    if len(rows):
        left.plot(rows[:, 0], rows[:, 3], lw=1)
        left.axhline(np.median(rows[:, 3]), color="k", ls="--", lw=1, label=f"median {np.median(rows[:, 3]):.1f} ms")
        left.legend()
    left.set(title=f"per-frame model time (preprocess + infer + decode) on {summary['accelerator']}",
             xlabel="frame", ylabel="ms")
    confusion = np.zeros((10, 10), int)
    for index, predicted, _, _ in rows:
        if int(index) < len(truth):
            confusion[truth[int(index)], int(predicted)] += 1
    right.imshow(confusion, cmap="Blues")
    for (t, p), count in np.ndenumerate(confusion):
        if count:
            right.text(p, t, str(count), ha="center", va="center", fontsize=8,
                       color="white" if count > confusion.max() / 2 else "black")
    accuracy = summary.get("live_accuracy")
    right.set(title=f"live int8 predictions (accuracy {accuracy:.1%})" if accuracy is not None else "predictions",
              xlabel="predicted digit", ylabel="true digit", xticks=range(10), yticks=range(10))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
