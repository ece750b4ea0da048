"""Classification: scores to the top-k classes with labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.results import Classification

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["ACTIVATIONS", "decode_classification", "top_k_classes"]


def _softmax(x: np.ndarray) -> np.ndarray:
    # Subtracting the max keeps exp() from overflowing on large logits.
    e = np.exp(x - x.max())
    return e / e.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # same as 1 / (1 + exp(-x)), without overflow


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "softmax": _softmax,
    "sigmoid": _sigmoid,
    "none": lambda x: x,
}


def top_k_classes(
    scores: np.ndarray, *, k: int, activation: str, label: Callable[[int], str] = str
) -> Classification:
    """Apply ``activation`` to a score vector and keep the ``k`` best classes.

    Args:
        scores: ``(C,)`` (or ``(1, C)``) float logits or probabilities.
        k: How many classes to keep; fewer when the model has fewer.
        activation: ``"softmax"``, ``"sigmoid"`` or ``"none"``.
        label: Class id to label (``ModelCard.label``).

    Returns:
        The top ``k`` classes, best first (ties keep the lower class id first).
    """
    probs = ACTIVATIONS[activation](np.asarray(scores, dtype=np.float32).reshape(-1))
    order = np.argsort(-probs, kind="stable")[:k].astype(np.int64, copy=False)
    return Classification(
        class_ids=order,
        scores=probs[order].astype(np.float32, copy=False),
        labels=tuple(map(label, order.tolist())),
    )


def decode_classification(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Classification:
    """Top-k classes from the first output, with ``card.postprocess.activation`` and ``top_k``.

    Args:
        card: Model card (activation, top_k, labels).
        outputs: Output name to float32 array ``[1, C]`` (any shape with C values).
        output_specs: The model's outputs, in order; the first holds the scores.
        geometry: Unused; classification has no coordinates.

    Returns:
        The top classes, best first.
    """
    del geometry
    spec = card.postprocess
    return top_k_classes(
        outputs[output_specs[0].name], k=spec.top_k, activation=spec.activation, label=card.label
    )
