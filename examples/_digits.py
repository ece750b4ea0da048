"""Shared by convert_pytorch.py and convert_keras.py: report a conversion, check the artifact, write a summary.

Kept beside the examples (not in the package) so each example stays readable on its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["check_artifact", "print_report", "report_and_check"]


def print_report(report: Any) -> None:
    """Print sizes, fidelity per output, the gates and latency of a ConversionReport."""
    sizes = report.sizes_bytes
    print(f"converter: {report.converter}, quantization: {report.quantization}")
    print("sizes: " + ", ".join(f"{name} {size / 1024:.1f} KiB" for name, size in sizes.items() if size))
    for output in report.outputs:
        print(f"fidelity {output.name}: cosine {output.cosine:.4f}, top-1 agreement {output.top1_agreement}, "
              f"max abs error {output.max_abs:.4g} (on {report.samples['count']} {report.samples['from']} inputs)")
    print(f"gates {'passed' if report.passed else 'FAILED'}: {report.thresholds}")
    print(f"latency per input: {report.latency_ms}")


def check_artifact(path: Path, data: Any, show: int) -> float:
    """Load the artifact as a device would and measure its accuracy on the unseen digits."""
    import edgeinfer

    with edgeinfer.load(path) as model:
        print(f"loaded {model!r}; card from {model.card.origin}")
        results = model.predict_batch(list(data.test_images))  # (32, 32) uint8 grey images
    predicted = np.array([int(r.labels[0]) for r in results])
    for image_index in range(min(show, len(results))):
        top = results[image_index].to_dict()["top"][0]
        print(f"  digit {data.test_labels[image_index]} -> {top['label']} ({top['score']:.2f})")
    return float((predicted == data.test_labels).mean())


def report_and_check(report: Any, artifact: Path, data: Any, float_accuracy: float, *, out: Path, to: str,
                     show: int) -> None:
    """Print the report, measure the artifact's accuracy as a device would, write ``summary_<to>.json``."""
    print_report(report)
    print(f"wrote {artifact} and {artifact}.report.json")
    int8_accuracy = check_artifact(artifact, data, show)
    print(f"int8 accuracy on {len(data.test_labels)} unseen digits: {int8_accuracy:.1%} "
          f"(float {float_accuracy:.1%})")
    summary = {"artifact": str(artifact), "float_accuracy": float_accuracy, "int8_accuracy": int8_accuracy,
               "passed": report.passed, "sizes_bytes": report.sizes_bytes}
    (out / f"summary_{to}.json").write_text(json.dumps(summary, indent=2))
