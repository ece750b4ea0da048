"""Embedding results: one L2-normalised vector per text (task ``embedding``).

Their JSON payload::

    {"task": "embedding", "dim": 64, "vector": [0.0123, -0.0456, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

__all__ = ["VECTOR_DECIMALS", "Embedding", "cosine"]

VECTOR_DECIMALS = 6


@dataclass(frozen=True, eq=False)
class Embedding:
    """One input's embedding.

    Attributes:
        vector: ``(D,)`` float32, L2-normalised (a zero vector stays zero).
    """

    task: ClassVar[Literal["embedding"]] = "embedding"
    vector: np.ndarray

    @property
    def dim(self) -> int:
        """The vector's length."""
        return int(self.vector.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """``{"task": "embedding", "dim": D, "vector": [...]}`` (rounded)."""
        return {"task": self.task, "dim": self.dim,
                "vector": [round(v, VECTOR_DECIMALS) for v in self.vector.tolist()]}


def cosine(a: Embedding | np.ndarray, b: Embedding | np.ndarray) -> float:
    """Cosine similarity of two embeddings (or vectors): 1 same direction, 0 unrelated, -1 opposite."""
    x = np.asarray(a.vector if isinstance(a, Embedding) else a, np.float64).reshape(-1)
    y = np.asarray(b.vector if isinstance(b, Embedding) else b, np.float64).reshape(-1)
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y) / norm if norm > 0 else 0.0
