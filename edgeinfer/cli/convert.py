"""``edgeinfer convert``: a model file to a checked, quantized TFLite/ONNX artifact with its card.

Thin wrapper over :func:`converters.convert`; card flags (``--labels``, ``--task``,
``--preprocess key=value``) are merged over ``--card``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgeinfer.errors import ConfigError, MissingDependencyError

__all__ = ["command", "parse_preprocess", "parse_shape"]


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)``.

    Raises:
        ConfigError: not a comma-separated list of integers.
    """
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"--input-shape {text!r} must be integers separated by commas, e.g. 1,3,224,224") from None


def _value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def parse_preprocess(items: tuple[str, ...]) -> dict[str, Any]:
    """``("mean=0,0,0", "color=rgb")`` -> ``{"mean": [0, 0, 0], "color": "rgb"}``.

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--preprocess {item!r} must be key=value (e.g. mean=127.5 or size_wh=224,224)")
        parsed = [_value(v) for v in value.split(",")] if "," in value else _value(value)
        out[key.strip()] = parsed
    return out


def _card(card: str | None, labels: str | None, task: str | None, preprocess: tuple[str, ...]) -> Any:
    from edgeinfer.card import ModelCard, parse, read

    base = read(card) if card else None
    overrides: dict[str, Any] = {}
    if labels:
        try:
            names = [line.strip() for line in Path(labels).read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"--labels {labels!r} cannot be read: {exc.strerror}") from exc
        overrides["labels"] = names
    if task:
        overrides["task"] = task
    if preprocess:
        overrides["preprocess"] = parse_preprocess(preprocess)
    if not overrides:
        return base
    if base is None:
        return parse(overrides, origin="argument")
    return (base or ModelCard()).merged(overrides)


@click.command("convert")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--to", "to", type=click.Choice(["tflite", "onnx"]), required=True, help="Target format.")
@click.option("--quantize", type=click.Choice(["none", "fp16", "dynamic", "int8"]), default="none",
              show_default=True, help="none = float32; int8 needs --calib.")
@click.option("--calib", help="Folder or glob of calibration images (preprocessed with the card).")
@click.option("--calib-size", type=int, default=200, show_default=True, help="Calibration images at most.")
@click.option("--calib-method", type=click.Choice(["minmax", "entropy", "percentile"]), default="minmax",
              show_default=True, help="ONNX int8 calibration statistic.")
@click.option("--target", type=click.Choice(["auto", "x86-avx2", "x86-vnni", "arm64"]), default="auto",
              show_default=True, help="CPUs an ONNX int8 artifact is for; x86-avx2 is right on every x86 CPU "
                                      "(auto: this machine's, see `edgeinfer devices`).")
@click.option("--card", type=click.Path(exists=True), help="Model card YAML to embed.")
@click.option("--labels", type=click.Path(exists=True), help="Labels file, one per line.")
@click.option("--task", type=click.Choice(["classification", "detection", "segmentation", "regression", "raw"]))
@click.option("--preprocess", multiple=True, metavar="KEY=VALUE", help="Card preprocess entries, repeatable.")
@click.option("--input-shape", help="Input shape, batch first, e.g. 1,3,224,224 (TorchScript needs it).")
@click.option("--io-type", type=click.Choice(["float32", "int8", "uint8"]), default="float32",
              show_default=True, help="Input/output type of int8 TFLite models.")
@click.option("--prune", type=float, help="Zero this fraction of conv/linear weights (PyTorch).")
@click.option("--edgetpu", is_flag=True, help="Also compile the int8 TFLite for the Coral Edge TPU.")
@click.option("--no-check", is_flag=True, help="Report fidelity but do not fail below the gates.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Artifact path.")
def command(source: Path, to: str, quantize: str, calib: str | None, calib_size: int, calib_method: str, target: str,
            card: str | None, labels: str | None, task: str | None, preprocess: tuple[str, ...],
            input_shape: str | None, io_type: str, prune: float | None, edgetpu: bool, no_check: bool,
            out: Path) -> None:
    """Convert SOURCE (.pt TorchScript, .pt2 torch.export, .keras/.h5, SavedModel folder, .onnx)."""
    try:
        import converters
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "converters", "convert", "edgeinfer convert") from exc
    report = converters.convert(
        str(source), to=to, quantize=quantize, calibration=calib, calib_size=calib_size,
        calibration_method=calib_method, target=target, card=_card(card, labels, task, preprocess),
        input_shape=parse_shape(input_shape), out=out, io_type=io_type, prune=prune, edgetpu=edgetpu,
        check=not no_check, verbose=True,
    )
    click.echo(f"wrote {report.artifact} ({report.sizes_bytes.get('artifact', 0) / 1024:.1f} KiB), "
               f"report {report.artifact}.report.json")
