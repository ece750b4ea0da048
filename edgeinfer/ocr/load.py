"""``edgeinfer.load_ocr()``: open the three OCR models, check they fit together, and chain them.

Everything that can be wrong with the chain is found here, at load time: a character list
whose length does not match the recogniser's classes, a recogniser without one, a card
that names missing files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from edgeinfer.errors import ConfigError
from edgeinfer.ocr.chain import OcrModel, OcrOptions
from edgeinfer.ocr.ctc import CtcVocabulary, characters_from_metadata, read_characters

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.model import Model

__all__ = ["load_ocr"]

_CARD_SUFFIXES = (".yaml", ".yml")


def load_ocr(det: str | Path, rec: str | Path | None = None, cls: str | Path | None = None, *,
             accelerator: str = "auto", characters: Sequence[str] | str | Path | None = None,
             options: OcrOptions | None = None) -> OcrModel:
    """Open an OCR chain: a DB text detector, a CTC recogniser and an optional angle classifier.

    Args:
        det: The detector ``.onnx``/``.tflite`` file, or a card YAML with ``task: ocr``
            and an ``ocr:`` block naming the three files (then leave ``rec`` and ``cls`` out).
        rec: The recogniser file.
        cls: The 0/180 degree angle classifier file, or ``None`` to skip it.
        accelerator: As for :func:`edgeinfer.load`, used for all three models.
        characters: The recogniser's character list (without blank and space): a
            sequence of strings, or a path to a file with one character per line.
            Default: the card's, else the ``character`` entry of the recogniser's metadata.
        options: Thresholds and batch sizes (:class:`~edgeinfer.ocr.OcrOptions`).

    Returns:
        The :class:`~edgeinfer.ocr.OcrModel`; close it (or use ``with``) to free the models.

    Raises:
        ConfigError: no character list, one of the wrong length for the recogniser, or a
            bad card.
        ModelError: a file is missing, corrupt or cannot run.
        AcceleratorError: as for :func:`edgeinfer.load`.
    """
    from edgeinfer.card_schema import ModelCard

    card = ModelCard(task="ocr")
    if rec is None:
        if Path(det).suffix.lower() not in _CARD_SUFFIXES:
            raise ConfigError(f"load_ocr({str(det)!r}) needs the recogniser too: load_ocr(det, rec, cls=None), "
                              "or a card YAML with task: ocr and an ocr: block naming det, rec and cls")
        card = _read_card(Path(det))
        det, rec, cls, characters = _from_card(card, Path(det).parent, characters)
    return _open_chain(Path(det), Path(rec), None if cls is None else Path(cls), accelerator=accelerator,
                       characters=characters, options=options or OcrOptions(), card=card)


def _read_card(path: Path) -> ModelCard:
    from edgeinfer.card_schema import parse

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"OCR card {str(path)!r} cannot be read: {exc.strerror}") from exc
    card = parse(text, origin=str(path))
    if card.task != "ocr" or card.ocr is None:
        raise ConfigError(f"{path}: an OCR card needs task: ocr and an ocr: block with det, rec (and cls); "
                          f"this one has task {card.task!r}" + ("" if card.ocr else " and no ocr: block"))
    return card


def _from_card(card: ModelCard, base: Path, characters: Sequence[str] | str | Path | None
               ) -> tuple[Path, Path, Path | None, Sequence[str] | str | Path | None]:
    spec = card.ocr
    if spec is None:  # _read_card checked
        raise ConfigError("the card has no ocr: block")
    if characters is None:
        characters = spec.characters if spec.characters is not None else (
            base / spec.characters_file if spec.characters_file else None)
    return (base / spec.det, base / spec.rec, None if spec.cls is None else base / spec.cls, characters)


def _vocabulary(rec_path: Path, characters: Sequence[str] | str | Path | None) -> CtcVocabulary:
    from edgeinfer.formats import open_model_file

    if isinstance(characters, str | Path):
        return CtcVocabulary(read_characters(characters))
    if characters is not None:
        return CtcVocabulary(characters)
    found = characters_from_metadata(open_model_file(rec_path).metadata())
    if found is None:
        raise ConfigError(f"{rec_path.name} carries no character list in its metadata ('character'); pass "
                          "characters= (a list, or a file with one character per line) or set the card's "
                          "ocr.characters_file")
    return CtcVocabulary(found)


def _open_chain(det: Path, rec: Path, cls: Path | None, *, accelerator: str,
                characters: Sequence[str] | str | Path | None, options: OcrOptions,
                card: ModelCard) -> OcrModel:
    from edgeinfer.model import load

    vocabulary = _vocabulary(rec, characters)
    opened: list[Model] = []
    try:
        for path in (det, rec, cls):
            if path is not None:
                opened.append(load(path, accelerator=accelerator))
        recognizer = opened[1]
        vocabulary.check(_output_classes(recognizer), recognizer.name)
    except Exception:
        for model in opened:
            model.close()
        raise
    return OcrModel(opened[0], recognizer, opened[2] if cls is not None else None, vocabulary=vocabulary,
                    options=options, card=card)


def _output_classes(recognizer: Model) -> int:
    """The recogniser's class count: the last dimension of its ``(B, T, C)`` output."""
    shape = recognizer.outputs[0].shape
    if len(shape) != 3 or shape[-1] <= 0:
        raise ConfigError(f"{recognizer.name}: a CTC recogniser outputs (batch, steps, classes) with a fixed class "
                          f"count; this one outputs {list(shape)}")
    return int(shape[-1])
