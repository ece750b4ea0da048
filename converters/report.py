"""The conversion report: what was converted, how faithful the artifact is, and the gates.

Built by :func:`converters.convert` after the fidelity check; printed as a table, saved as
``<artifact>.report.json`` and, in short form, embedded in the artifact's model card.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConversionError

__all__ = ["ConversionReport", "FidelityError", "OutputFidelity", "Thresholds", "default_thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """Fidelity gates; a conversion below them fails.

    Attributes:
        cosine: Minimum cosine similarity of every output (artifact vs source), 0..1.
        top1: Minimum top-1 agreement of classification outputs, 0..1.
    """

    cosine: float
    top1: float = 0.97


_DEFAULT_COSINE = {"none": 0.999, "fp16": 0.999, "dynamic": 0.99, "int8": 0.98}


def default_thresholds(quantize: str) -> Thresholds:
    """Return the default gates for a quantization mode (``none``, ``fp16``, ``dynamic``, ``int8``)."""
    return Thresholds(cosine=_DEFAULT_COSINE[quantize])


@dataclass(frozen=True)
class OutputFidelity:
    """Artifact-vs-source agreement on one output, over all check samples.

    Attributes:
        name: Output name in the artifact.
        max_abs: Largest absolute difference (output units).
        mean_abs: Mean absolute difference (output units).
        cosine: Cosine similarity of the flattened outputs, -1..1.
        top1_agreement: Fraction of samples with the same argmax (2-D ``(N, classes)``
            outputs only), else ``None``.
    """

    name: str
    max_abs: float
    mean_abs: float
    cosine: float
    top1_agreement: float | None = None


@dataclass(frozen=True)
class ConversionReport:
    """Everything known about one conversion.

    Attributes:
        artifact: Path of the written artifact.
        source_kind: ``torch``, ``keras``, ``saved_model`` or ``onnx``.
        target: ``tflite`` or ``onnx``.
        converter: The conversion path used (e.g. ``torch->tflite (litert-torch)``).
        quantization: Mode, I/O type, calibration method and sample count.
        outputs: Fidelity per output.
        thresholds: The gates applied (``None`` with ``check=False``).
        passed: Whether every gate held (``True`` when unchecked).
        failures: One line per gate that failed.
        samples: Number of inputs the check ran on, and where they came from.
        sizes_bytes: ``source``, ``float_artifact`` and ``artifact`` file sizes.
        latency_ms: Median per-sample latency of ``source``, ``artifact`` and (quantized) the
            ``float_artifact`` on this machine.
        pruning: Amount, sparsity reached and fidelity against the unpruned model, if pruned.
        edgetpu_artifact: Path of the Edge TPU-compiled model, if compiled.
        versions: Framework package versions used.
        source_sha256: Hash of the source model.
        duration_s: Wall time of the whole conversion, seconds.
        notes: What a person should know, e.g. whether the quantized artifact is faster than
            the float one on this machine, and which to ship.
    """

    artifact: str
    source_kind: str
    target: str
    converter: str
    quantization: dict[str, Any]
    outputs: list[OutputFidelity]
    thresholds: Thresholds | None
    passed: bool
    failures: list[str] = field(default_factory=list)
    samples: dict[str, Any] = field(default_factory=dict)
    sizes_bytes: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    pruning: dict[str, Any] | None = None
    edgetpu_artifact: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    source_sha256: str = ""
    duration_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the whole report."""
        return asdict(self)

    def fidelity_summary(self) -> dict[str, Any]:
        """The short form embedded in the artifact's card (``conversion.fidelity``)."""
        return {
            "passed": self.passed,
            "samples": self.samples.get("count", 0),
            "thresholds": asdict(self.thresholds) if self.thresholds else None,
            "outputs": {o.name: {k: v for k, v in asdict(o).items() if k != "name" and v is not None}
                        for o in self.outputs},
            "latency_ms": self.latency_ms,
            "sizes_bytes": self.sizes_bytes,
            **({"pruning": {k: v for k, v in self.pruning.items() if k != "vs_original"}}
               if self.pruning else {}),
        }

    def save_json(self, path: str | Path) -> Path:
        """Write the report as indented JSON; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    def print_table(self, console: Any = None) -> None:
        """Print the report as rich tables (to stderr unless a console is given)."""
        from rich.console import Console
        from rich.table import Table

        console = console or Console(stderr=True)
        status = "[green]passed[/green]" if self.passed else "[red]FAILED[/red]"
        title = f"{self.converter}  quantize={self.quantization.get('mode')}  {status}"
        table = Table(title=title)
        for col in ("output", "max abs err", "mean abs err", "cosine", "top-1 agree"):
            table.add_column(col, justify="right" if col != "output" else "left")
        for o in self.outputs:
            top1 = "-" if o.top1_agreement is None else f"{o.top1_agreement:.3f}"
            table.add_row(o.name, f"{o.max_abs:.4g}", f"{o.mean_abs:.4g}", f"{o.cosine:.5f}", top1)
        console.print(table)
        sizes = ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in self.sizes_bytes.items())
        latency = ", ".join(f"{k} {v:.3f} ms" for k, v in self.latency_ms.items())
        console.print(f"samples: {self.samples}  sizes: {sizes}  latency: {latency}")
        if self.pruning:
            console.print(f"pruning: amount {self.pruning['amount']}, sparsity {self.pruning['sparsity']:.3f}")
        for note in self.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        for failure in self.failures:
            console.print(f"[red]gate failed:[/red] {failure}")
        console.print(f"artifact: {self.artifact}")


class FidelityError(ConversionError):
    """The artifact missed a fidelity gate; ``report`` holds the figures. Nothing was written."""

    def __init__(self, message: str, report: ConversionReport) -> None:
        super().__init__(message)
        self.report = report
