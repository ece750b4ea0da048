"""Task ``embedding``: a text model's output to one L2-normalised vector.

A ``(1, D)`` output is the embedding already; a ``(1, L, D)`` output (one vector per
token) is pooled as the card's ``tokenizer.pooling`` says: ``mean`` over the tokens the
attention mask keeps (the geometry the text input kind hands over), or ``cls`` (the first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.results.embedding import Embedding

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import TensorSpec

__all__ = ["decode_embedding", "pool"]


def pool(hidden: np.ndarray, mask: np.ndarray | None, how: str) -> np.ndarray:
    """``(L, D)`` token vectors to one ``(D,)`` vector: ``mean`` over ``mask`` (all when None) or ``cls``."""
    if how == "cls":
        return hidden[0]
    if mask is None:
        return hidden.mean(axis=0)
    weights = np.asarray(mask, np.float32).reshape(-1)[: hidden.shape[0]]
    return (hidden * weights[:, None]).sum(axis=0) / max(float(weights.sum()), 1.0)


def decode_embedding(card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec],
                     geometry: Any) -> Embedding:
    """The first output, pooled (when per token) and L2-normalised.

    Args:
        card: Model card (``tokenizer.pooling``; mean when there is no tokenizer section).
        outputs: Output name to float32 ``(1, D)`` or ``(1, L, D)``.
        output_specs: The model's outputs, in order; the first is used.
        geometry: The attention mask ``(1, L)`` from the text input kind, or None.

    Raises:
        InputError: the output is neither ``(1, D)`` nor ``(1, L, D)``.
    """
    value = np.asarray(outputs[output_specs[0].name], np.float32)
    if value.ndim == 3 and value.shape[0] == 1:
        how = card.tokenizer.pooling if card.tokenizer is not None else "mean"
        mask = geometry if isinstance(geometry, np.ndarray) else None
        vector = pool(value[0], mask, how)
    elif value.ndim == 2 and value.shape[0] == 1:
        vector = value[0]
    else:
        raise InputError(f"task embedding takes an output (1, D) or (1, L, D), got {list(value.shape)} from "
                         f"{output_specs[0].name!r}; export the model's pooled or per-token vectors")
    norm = float(np.linalg.norm(vector))
    return Embedding((vector / norm if norm > 0 else vector).astype(np.float32))
