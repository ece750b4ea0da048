"""CTC greedy decoding over a character list, and where the character list comes from.

A CTC recogniser outputs, per time step, a probability for each class: class 0 is the
CTC blank, classes 1..len(chars) the characters, and PP-OCR models have one more class at
the end for the space (PaddleOCR's ``use_space_char``). Greedy decoding takes the best
class per step, merges repeats and drops blanks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from edgeinfer.errors import ConfigError

__all__ = ["CtcVocabulary", "characters_from_metadata", "decode_greedy", "read_characters"]

METADATA_KEY = "character"  # where PaddleOCR's ONNX exporter (paddle2onnx) puts the list


class CtcVocabulary:
    """Class index -> text: blank at 0, the characters, then a space (as PaddleOCR adds).

    Attributes:
        characters: The characters as given (without blank and space).
        table: ``(len(characters) + 2,)`` object array, index -> string ('' for the blank).
    """

    def __init__(self, characters: Sequence[str]) -> None:
        self.characters = tuple(characters)
        self.table = np.array(["", *self.characters, " "], dtype=object)

    @property
    def num_classes(self) -> int:
        """Classes a recogniser for this list outputs: characters + blank + space."""
        return len(self.table)

    def check(self, model_classes: int, where: str) -> None:
        """Raise ``ConfigError`` unless the recogniser outputs exactly :attr:`num_classes` classes.

        Args:
            model_classes: The last dimension of the recogniser's output.
            where: The model's name, for the message.
        """
        if model_classes != self.num_classes:
            raise ConfigError(
                f"{where}: the character list has {len(self.characters)} characters, so the recogniser "
                f"should output {self.num_classes} classes (blank + characters + space), but it outputs "
                f"{model_classes}. Give the character list the model was trained with (characters=, or "
                f"the card's ocr.characters), one character per line."
            )


def decode_greedy(probs: np.ndarray, vocabulary: CtcVocabulary) -> list[tuple[str, float]]:
    """Greedy CTC decoding of a batch.

    Args:
        probs: ``(B, T, C)`` float32 per-step class probabilities (softmax applied).
        vocabulary: Maps class index to text.

    Returns:
        ``B`` pairs ``(text, confidence)``; the confidence is the mean best probability
        over the kept steps (0 for an empty text).
    """
    best = probs.argmax(axis=2)
    best_prob = np.take_along_axis(probs, best[..., None], axis=2)[..., 0]
    keep = best != 0
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]
    decoded = []
    for row, kept, prob in zip(best, keep, best_prob, strict=True):
        chosen = row[kept]
        text = "".join(vocabulary.table[chosen].tolist())
        decoded.append((text, float(prob[kept].mean()) if chosen.size else 0.0))
    return decoded


def characters_from_metadata(metadata: Mapping[str, str]) -> tuple[str, ...] | None:
    """The character list an exporter stored in the model's metadata (ONNX ``metadata_props``).

    Args:
        metadata: The model file's key -> text metadata.

    Returns:
        The characters, one per line of the ``character`` entry, or ``None`` when there is none.
    """
    text = metadata.get(METADATA_KEY)
    return tuple(text.splitlines()) if text else None


def read_characters(path: str | Path) -> tuple[str, ...]:
    """Read a character list file: one character per line, UTF-8 (PaddleOCR's ``ppocr_keys_v1.txt``).

    Raises:
        ConfigError: the file cannot be read.
    """
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"character list {str(path)!r} cannot be read as UTF-8 text: {exc}") from exc
    return tuple(text.splitlines())
