"""Regression and raw models: outputs passed on as numbers, without decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.results import RawResult, Regression

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["decode_raw", "decode_regression"]


def decode_regression(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Regression:
    """All outputs flattened, in output order, named by ``card.names``.

    Args:
        card: Model card; ``names`` (optional) gives one name per value.
        outputs: Output name to float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: Unused.

    Returns:
        ``(M,)`` float32 values and their names.

    Raises:
        ConfigError: the card names a different number of values than the model outputs.
    """
    del geometry
    values = np.concatenate(
        [np.asarray(outputs[spec.name], dtype=np.float32).reshape(-1) for spec in output_specs]
    )
    if card.names is not None and len(card.names) != values.size:
        raise ConfigError(
            f"The model card gives {len(card.names)} names ({list(card.names)}) but the model "
            f"outputs {values.size} values; give one name per value or remove names."
        )
    return Regression(values=values, names=card.names)


def decode_raw(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> RawResult:
    """The outputs as they are, in output order.

    Args:
        card: Unused.
        outputs: Output name to float32 array with batch dimension 1.
        output_specs: The model's outputs, in order.
        geometry: Unused.

    Returns:
        The arrays keyed by output name.
    """
    del card, geometry
    return RawResult(outputs={spec.name: outputs[spec.name] for spec in output_specs})
