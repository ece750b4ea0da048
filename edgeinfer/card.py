"""The model card of a model file: found, read and written.

A card (:mod:`edgeinfer.card_schema`) travels inside every artifact. It is found, in
this order, in: the ``card=`` argument, the model file itself (ONNX
``metadata_props["edgeinfer"]`` or TFLite metadata named ``edgeinfer``), a sidecar
``<model file>.yaml``, and finally what the file carries from other exporters (see
:mod:`edgeinfer.card_derive`). ``ModelCard.origin`` records which one won.

The schema's names (``ModelCard``, ``parse`` ...) are importable from here too. Modules
depend one way: ``card`` -> ``card_derive`` -> ``card_schema``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.card_derive import derive_card
from edgeinfer.card_schema import (
    CARD_KEY,
    CardOrigin,
    ConversionInfo,
    LetterboxSpec,
    ModelCard,
    PostprocessSpec,
    PreprocessSpec,
    parse,
    validation_message,
    with_tokenizer_file,
)
from edgeinfer.errors import ConfigError, ModelError
from edgeinfer.formats import open_model_file

if TYPE_CHECKING:
    from edgeinfer.formats import ModelFile

__all__ = [
    "CardOrigin",
    "ConversionInfo",
    "LetterboxSpec",
    "ModelCard",
    "PostprocessSpec",
    "PreprocessSpec",
    "find",
    "parse",
    "read",
    "validation_message",
    "write",
]


def read(path: str | Path) -> ModelCard:
    """Return the effective card of a model file (embedded, sidecar or derived).

    Args:
        path: A ``.tflite`` or ``.onnx`` file, or a ``.yaml``/``.json`` card file.

    Raises:
        ModelError: the model file is missing or corrupt.
        ConfigError: a card was found but is invalid.
    """
    path = Path(path)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        return _parse_file(path, "file")
    return find(open_model_file(path))


def _parse_file(path: Path, kind: str) -> ModelCard:
    """Parse a card file; ``labels_file`` is relative to it and the origin is ``kind:path``."""
    return parse(_read_text(path), origin=f"{kind}:{path}", base_dir=path.parent)


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ConfigError(f"Card file {str(path)!r} cannot be read: {exc.strerror}") from exc


def find(model_file: ModelFile, card: ModelCard | Mapping[str, Any] | str | Path | None = None) -> ModelCard:
    """Pick the effective card for an opened model file (:class:`edgeinfer.formats.ModelFile`).

    Order: ``card`` argument, embedded card, sidecar ``<model>.yaml``, a card derived from
    what other exporters embed, else ``task: raw``.
    """
    if card is not None:
        return _card_from_argument(card)
    embedded = model_file.metadata().get(CARD_KEY)
    if embedded is not None:
        return with_tokenizer_file(parse(embedded, origin="embedded"), model_file.path and model_file.path.parent)
    sidecar = _find_sidecar(model_file.path)
    if sidecar is not None:
        return _parse_file(sidecar, "sidecar")
    derived = derive_card(model_file)
    if derived is not None:
        return derived
    return ModelCard(origin="default")


def _card_from_argument(card: ModelCard | Mapping[str, Any] | str | Path) -> ModelCard:
    if isinstance(card, ModelCard):
        return card if card.origin else card.model_copy(update={"origin": "argument"})
    if isinstance(card, str | Path):
        return _parse_file(Path(card), "argument")
    return parse(card, origin="argument")


def _find_sidecar(model_path: Path | None) -> Path | None:
    """``model.tflite.yaml`` or ``model.yaml`` next to the model, if one exists."""
    if model_path is None:
        return None
    candidates = (Path(str(model_path) + ".yaml"), model_path.with_suffix(".yaml"))
    return next((c for c in candidates if c.is_file()), None)


def write(model_path: str | Path, card: ModelCard | Mapping[str, Any]) -> None:
    """Embed ``card`` into a ``.tflite`` or ``.onnx`` file in place (atomically).

    Raises:
        ModelError: the file is not a model edgeinfer can write into.
        ConfigError: the card is invalid.
    """
    if not isinstance(card, ModelCard):
        card = parse(card)
    text = json.dumps(card.to_dict(), sort_keys=True)
    model_file = open_model_file(Path(model_path))
    new_bytes = model_file.with_metadata(CARD_KEY, text)
    path = Path(model_path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(new_bytes)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"Cannot write the card into {str(path)!r}: {exc.strerror}") from exc
