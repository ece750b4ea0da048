"""``edgeinfer card MODEL [--card CARD] [--json] [--write CARD.yaml]``.

Shows the effective model card and where it came from (``origin``: argument, embedded,
sidecar, ultralytics, tflite-metadata or default), plus the model's inputs and outputs.
The YAML output is itself a valid card (origin and tensors are comments), so
``edgeinfer card model.onnx > model.onnx.yaml`` starts a sidecar to edit. ``--write``
embeds a card into the model file, for models made elsewhere.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from edgeinfer.card import ModelCard

__all__ = ["CardReport", "command", "inspect_model"]


@dataclass(frozen=True)
class CardReport:
    """What ``edgeinfer card`` shows about one model.

    Attributes:
        model: The model path as given.
        card: The effective card (``card.origin`` says where it came from).
        inputs: ``TensorSpec.to_dict()`` per input (only ``shape`` without a runtime).
        outputs: Same for outputs.
        note: Why the tensors were read from the file instead of a runtime, or ``""``.
    """

    model: str
    card: ModelCard
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON shape: ``{"model", "origin", "card", "inputs", "outputs"}`` (+ ``"note"``)."""
        out = {"model": self.model, "origin": self.card.origin, "card": self.card.to_dict(),
               "inputs": self.inputs, "outputs": self.outputs}
        return {**out, "note": self.note} if self.note else out


def inspect_model(model: str, card_path: str | None = None) -> CardReport:
    """Load ``model`` (with ``card_path`` overriding its card) and report card and tensors.

    When the model's runtime is missing or cannot open the file, the card is still read
    from the file, and the tensor shapes come from the file itself.

    Raises:
        ModelError: the model file is missing or corrupt.
        ConfigError: the card is invalid or cannot be read.
    """
    import edgeinfer
    from edgeinfer.errors import AcceleratorError, ModelError

    try:
        with edgeinfer.load(model, card=card_path) as loaded:
            return CardReport(model, loaded.card, [s.to_dict() for s in loaded.inputs],
                              [s.to_dict() for s in loaded.outputs])
    except (ImportError, AcceleratorError, ModelError) as exc:
        from edgeinfer.card import find
        from edgeinfer.formats import open_model_file

        model_file = open_model_file(model)  # a missing or corrupt file raises ModelError here
        card = find(model_file, card_path)
        inputs, outputs = model_file.tensor_shapes()
        note = f"the model was not loaded ({exc}); tensor shapes are read from the file"
        return CardReport(model, card, [{"shape": list(s)} for s in inputs],
                          [{"shape": list(s)} for s in outputs], note)


def read_card_file(path: str) -> ModelCard:
    """Read and validate a card YAML/JSON file; a ``labels_file`` is inlined as ``labels``.

    Raises:
        ConfigError: the file cannot be read or the card is invalid.
    """
    from edgeinfer.card import parse
    from edgeinfer.errors import ConfigError

    card_file = Path(path)
    try:
        text = card_file.read_text()
    except OSError as exc:
        raise ConfigError(f"Card file {path!r} cannot be read: {exc.strerror}. Check the path.") from exc
    return parse(text, origin=f"file:{path}", base_dir=card_file.parent)


def render_yaml(report: CardReport) -> str:
    """The card as YAML, with model, origin and tensors as ``#`` comments."""
    import yaml

    lines = [f"# model: {report.model}", f"# origin: {report.card.origin}"]
    body = yaml.safe_dump(report.card.to_dict(), sort_keys=False, default_flow_style=None, width=100)
    lines.append(body.rstrip())
    for title, specs in (("inputs", report.inputs), ("outputs", report.outputs)):
        lines.append(f"# {title}:")
        lines.extend("#   " + _describe(spec) for spec in specs)
    if report.note:
        lines.append(f"# note: {report.note}")
    return "\n".join(lines) + "\n"


def _describe(spec: dict[str, Any]) -> str:
    parts = [spec.get("name", "?"), str(spec["shape"])]
    if "dtype" in spec:
        parts.append(spec["dtype"])
    if spec.get("quant"):
        scale, zero_point = spec["quant"]
        parts.append(f"quant scale={scale:.6g} zero_point={zero_point}")
    return "  ".join(parts)


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--card", "card_path", type=click.Path(dir_okay=False),
              help="Card YAML that overrides the model's own (shows what `predict --card` would use).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of YAML.")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), metavar="CARD.yaml",
              help="Embed this card into MODEL (the file is rewritten in place), then show it.")
def command(model: str, card_path: str | None, as_json: bool, write_path: str | None) -> None:
    """Show MODEL's effective model card, where it came from, and its inputs and outputs."""
    if write_path is not None:
        if card_path is not None:
            raise click.UsageError("--card and --write do not go together: --write embeds its card.")
        from edgeinfer.card import write

        write(model, read_card_file(write_path))
        click.echo(f"Embedded the card from {write_path} into {model}.", err=True)
    report = inspect_model(model, card_path)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    text = render_yaml(report)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.syntax import Syntax

        Console().print(Syntax(text, "yaml", background_color="default"))
    else:
        click.echo(text, nl=False)
