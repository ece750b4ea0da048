"""The text input kind: a string -> token ids, attention mask and token types.

Registered as ``text`` in :mod:`edgeinfer.preprocess.inputs`. It feeds a model whose card
has a ``tokenizer:`` section (:class:`~edgeinfer.card_schema.TokenizerSpec`): a Hugging
Face ``tokenizers`` JSON, embedded in the card or a sidecar file. Texts are truncated to
``max_length`` (one warning per model) and padded to the model's sequence length when it
is fixed, else to ``max_length`` (``padding: max_length``) or to the longest text of the
batch (``padding: longest``). The "geometry" handed to the decoder is the attention mask
row, so an ``embedding`` decoder can pool over the real tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import ConfigError, InputError, MissingDependencyError
from edgeinfer.types import TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard

__all__ = ["TextInput"]

log = logging.getLogger("edgeinfer")

ROLES = ("input_ids", "attention_mask", "token_type_ids")
ATTRIBUTES = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
SERIAL_ENCODE = 4  # texts encoded one by one; more go to encode_batch
PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>")
NO_TOKENIZER = ("the card has no tokenizer: section; add tokenizer: {json: <tokenizer.json text>} or "
                "{file: tokenizer.json} (with max_length) to the model card")


class TextInput:
    """Strings to the token inputs of a text model (see the module docstring).

    Args:
        card: The model card (its ``tokenizer`` section).
        inputs: The model's input specs: token ids, and optionally attention mask and token types.

    Raises:
        ConfigError: the tokenizer JSON is invalid, or an input has no role.
        MissingDependencyError: ``tokenizers`` is not installed.
    """

    @staticmethod
    def refuses(card: ModelCard, inputs: Sequence[TensorSpec]) -> str | None:
        """Why this kind cannot feed the model, or ``None``."""
        if card.tokenizer is None:
            return NO_TOKENIZER
        if not inputs or any(len(s.shape) != 2 for s in inputs):
            return f"needs 2-D token inputs [batch, sequence], the model has {[list(s.shape) for s in inputs]}"
        return None

    def __init__(self, card: ModelCard, inputs: Sequence[TensorSpec]) -> None:
        spec = card.tokenizer
        assert spec is not None  # refuses() said so
        if spec.json_ is None:
            raise ConfigError(f"tokenizer.file {spec.file!r} was not read: give the card as a file or sidecar next "
                              "to tokenizer.json, or embed the JSON as tokenizer.json")
        self.roles = _roles(spec, inputs)
        self.wanted = tuple(dict.fromkeys(("input_ids", "attention_mask", *self.roles)))  # fields read
        self.specs = {s.name: s for s in inputs}
        ids = self.specs[self.roles["input_ids"]]
        fixed = ids.shape[1] if ids.shape[1] > 0 else None
        self.length = fixed or spec.max_length
        self.truncate_at = min(spec.max_length, self.length) if spec.truncation else None
        self.tokenizer = _tokenizer(spec.json_)
        pad_id = next((i for t in PAD_TOKENS if (i := self.tokenizer.token_to_id(t)) is not None), 0)
        if self.truncate_at is not None:
            self.tokenizer.enable_truncation(self.truncate_at)
        else:
            self.tokenizer.no_truncation()
        pad_to = self.length if fixed is not None or spec.padding == "max_length" else None
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=self.tokenizer.id_to_token(pad_id) or "[PAD]",
                                      length=pad_to)
        self.pad_id = pad_id
        self.output_shape: tuple[int, ...] = (1, self.length)
        self.dtype = ids.dtype
        self._warned = False

    def read(self, item: Any) -> str:
        """Texts pass; anything else is an :class:`InputError`."""
        if isinstance(item, bytes):
            try:
                return item.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"the text is not UTF-8 ({exc}); send UTF-8 text") from exc
        if not isinstance(item, str):
            raise InputError(f"this text model takes a str (or UTF-8 bytes), got {type(item).__name__}")
        return item

    def __call__(self, item: str, out: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Tokenize one text: ``({input name: (1, L) array}, attention mask (1, L))``."""
        del out  # the feeds are several arrays; the ring buffer does not hold them
        encoding = self.tokenizer.encode(item)
        if encoding.overflowing:
            self._warn()
        feeds = {name: np.array((getattr(encoding, ATTRIBUTES[role]),), self.specs[name].dtype)
                 for role, name in self.roles.items()}
        mask = feeds.get(self.roles.get("attention_mask", ""))
        return feeds, mask if mask is not None else np.array((encoding.attention_mask,), np.int64)

    def _warn(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning("a text is longer than tokenizer.max_length %s tokens: truncated (said once per model); "
                        "raise max_length in the card if the model takes longer texts", self.truncate_at)

    def batch(self, items: Sequence[str], rows: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """Tokenize texts together into ``rows`` rows (rows past the texts are padding).

        Returns:
            Input name to ``(rows, L)`` array, and one ``(1, L)`` attention mask per text.
        """
        # encode_batch hands the texts to a thread pool: slower than encode for a few (66 against 20 us for one)
        encodings = [self.tokenizer.encode(t) for t in items] if len(items) <= SERIAL_ENCODE \
            else self.tokenizer.encode_batch(list(items))
        if not self._warned and any(e.overflowing for e in encodings):
            self._warn()
        # Each read of an Encoding's field copies it out of Rust into a new list: read each once.
        values = {role: [getattr(e, ATTRIBUTES[role]) for e in encodings] for role in self.wanted}
        width = max(map(len, values["input_ids"]))  # the tokenizer pads to a fixed length; longest: here
        feeds = {name: _array(values[role], rows, width, self.specs[name].dtype,
                              self.pad_id if role == "input_ids" else 0)
                 for role, name in self.roles.items()}
        name = self.roles.get("attention_mask")
        masks = feeds[name] if name is not None else \
            _array(values["attention_mask"], rows, width, np.dtype(np.int64), 0)
        return feeds, [masks[i:i + 1] for i in range(len(encodings))]


def _array(rows_values: list[list[int]], rows: int, width: int, dtype: np.dtype, fill: int) -> np.ndarray:
    """``(rows, width)`` of ``dtype``: the values, then ``fill`` (short texts, rows past the texts)."""
    if rows == len(rows_values) and all(len(v) == width for v in rows_values):
        return np.array(rows_values, dtype)
    out = np.full((rows, width), fill, dtype)
    for i, v in enumerate(rows_values):
        out[i, :len(v)] = v
    return out

def _roles(spec: Any, inputs: Sequence[TensorSpec]) -> dict[str, str]:
    """Role -> input name: the card's names, else the inputs named like the role (ids: the first)."""
    names = [s.name for s in inputs]
    roles: dict[str, str] = {}
    for role in ROLES:
        given = getattr(spec, role)
        if given is not None and given not in names:
            raise ConfigError(f"tokenizer.{role} {given!r} is not an input of the model (inputs: {names})")
        found = given or next((n for n in names if role in n.lower()), None)
        if found is not None:
            roles[role] = found
    if "input_ids" not in roles:
        rest = [n for n in names if n not in roles.values()]
        if rest:
            roles["input_ids"] = rest[0]
    unused = [n for n in names if n not in roles.values()]
    if unused or "input_ids" not in roles:
        raise ConfigError(f"inputs {unused or names} have no role: name them in the card's tokenizer: section "
                          "(input_ids, attention_mask, token_type_ids)")
    return roles


def _tokenizer(text: str) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError("tokenizers", "text", "text input") from exc
    try:
        return Tokenizer.from_str(text)
    except Exception as exc:  # tokenizers raises its own Exception subclass
        raise ConfigError(f"tokenizer.json is not a tokenizers JSON ({exc}); save one with Tokenizer.save()") from exc
