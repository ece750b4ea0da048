"""``edgeinfer distill``: train a small student on a teacher's outputs over unlabeled images.

Thin wrapper over :func:`converters.distill.distill`; the student is written as PyTorch
(``--out student.pt``) or converted by :func:`converters.convert` (``--out student.onnx``,
``--to tflite --quantize int8``), with the images as calibration data and the usual
fidelity gates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgeinfer.cli.convert import parse_shape
from edgeinfer.errors import ConfigError, MissingDependencyError

__all__ = ["command"]

TORCH_SUFFIXES = (".pt", ".pth", ".pt2")


def _outputs(out: Path, to: str | None, quantize: str) -> list[Path]:
    suffix = out.suffix.lower()
    if suffix not in (*TORCH_SUFFIXES, ".onnx", ".tflite"):
        raise ConfigError(f"--out {str(out)!r}: use .pt (TorchScript), .pt2 (torch.export), .onnx or .tflite")
    paths = [out]
    if to is not None and suffix != f".{to}":
        paths.append(out.with_suffix(f".{to}"))
    if quantize != "none" and all(p.suffix in TORCH_SUFFIXES for p in paths):
        raise ConfigError(f"--quantize {quantize} needs a converted student: add --to tflite (or --to onnx)")
    for path in paths:
        if not path.parent.is_dir():
            raise ConfigError(f"--out {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return paths


def _write(student: Any, report: Any, paths: list[Path], *, images: str, quantize: str, check: bool) -> None:
    import converters
    from converters.distill.student import save_student

    for path in paths:
        if path.suffix.lower() in TORCH_SUFFIXES:
            save_student(student, report.input_shape, path)
            click.echo(f"wrote {path} (PyTorch student)")
            continue
        made = converters.convert(student, to=path.suffix.lower()[1:], quantize=quantize, calibration=images,
                                  card=report.card, input_shape=report.input_shape, out=path, check=check,
                                  verbose=False)
        click.echo(f"wrote {made.artifact} ({made.sizes_bytes.get('artifact', 0) / 1024:.1f} KiB, fidelity "
                   f"{'passed' if made.passed else 'missed'}), report {made.artifact}.report.json")


@click.command("distill")
@click.argument("teacher", type=click.Path(exists=True, path_type=Path))
@click.option("--student", required=True,
              help="The student: module:factory, path/to/file.py:factory (called with no arguments), or a .pt "
                   "(TorchScript, or torch.save of the whole module).")
@click.option("--images", required=True, help="Folder or glob of unlabeled images.")
@click.option("--epochs", type=int, default=10, show_default=True)
@click.option("--temperature", type=float, default=4.0, show_default=True, help="Softmax temperature.")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Adam learning rate.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--held-out", type=float, default=0.1, show_default=True,
              help="Fraction of the images held back to measure agreement.")
@click.option("--card", type=click.Path(exists=True), help="Card YAML (overrides the teacher file's card).")
@click.option("--input-shape", help="Input shape 1,C,H,W (needed for a .pt teacher without a card size).")
@click.option("--task", type=click.Choice(["classification", "detection"]), help="Default: from the card.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Student file: .pt (TorchScript), .pt2, .onnx or .tflite (converted).")
@click.option("--to", "to", type=click.Choice(["tflite", "onnx"]), help="Also convert to this format.")
@click.option("--quantize", type=click.Choice(["none", "fp16", "dynamic", "int8"]), default="none",
              show_default=True, help="Quantization of the converted student (int8 calibrates on --images).")
@click.option("--plot", type=click.Path(path_type=Path), help="Loss PNG [default: <out>.loss.png].")
@click.option("--no-check", is_flag=True, help="Report fidelity but do not fail below the gates.")
def command(teacher: Path, student: str, images: str, epochs: int, temperature: float, lr: float, batch_size: int,
            held_out: float, card: str | None, input_shape: str | None, task: str | None, out: Path,
            to: str | None, quantize: str, plot: Path | None, no_check: bool) -> None:
    """Train --student to copy TEACHER (.onnx, .tflite, or a .pt/.pt2 torch model) on unlabeled --images."""
    try:
        from converters.distill import distill
        from converters.distill.student import load_module
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "converters", "convert", "edgeinfer distill") from exc
    paths = _outputs(out, to, quantize)
    source: Any = load_module(str(teacher), "teacher") if teacher.suffix.lower() in TORCH_SUFFIXES else teacher
    module = load_module(student)
    report = distill(source, module, images=images, epochs=epochs, temperature=temperature, lr=lr,
                     batch_size=batch_size, held_out=held_out, card=card, input_shape=parse_shape(input_shape),
                     task=task, plot=plot or out.with_name(out.name + ".loss.png"))
    click.echo(report.summary())
    _write(module, report, paths, images=images, quantize=quantize, check=not no_check)
    summary = out.with_name(out.name + ".distill.json")
    summary.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    click.echo(f"loss plot {report.plot}, report {summary}")
