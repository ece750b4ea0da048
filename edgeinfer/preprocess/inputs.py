"""Input kinds: how a model input is made from what the user hands in.

The first step of every input-to-result path (:class:`edgeinfer.stages.ModelSteps`) is
the preprocess step of the model's input kind, chosen here from the model card and the
input specs. An image model takes frames (:class:`~edgeinfer.preprocess.image.ImageInput`);
audio and text inputs slot in beside it as further entries of :data:`registry`.

An input kind is a class with:

* ``refuses(card, inputs) -> str | None`` (static): why it cannot feed this model, or
  ``None`` when it can;
* ``__init__(card, inputs)``: built once per model;
* ``output_shape`` and ``dtype``: the tensor it writes (one model call's worth);
* ``read(item)``: the user's input (a path, bytes, an array ...) to the item it prepares;
* ``__call__(item, out=None) -> (tensor, geometry)``: the tensor (``out`` when given)
  and what the decoder needs to map results back (``None`` when nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.registry import Registry
from edgeinfer.types import TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard

__all__ = ["InputKind", "build_input", "registry"]


class InputKind(Protocol):
    """The preprocess step of one model input kind (see the module docstring)."""

    output_shape: tuple[int, ...]
    dtype: np.dtype

    def read(self, item: Any) -> Any:
        """Turn what the user handed in into the item :meth:`__call__` prepares."""
        ...

    def __call__(self, item: Any, out: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        """Prepare one item: ``(tensor, geometry)``."""
        ...


registry: Registry[Any] = Registry("input kind", entry_point_group="edgeinfer.inputs")
registry.register("image", "edgeinfer.preprocess.image:ImageInput")
registry.register("text", "edgeinfer.preprocess.text:TextInput")


def build_input(card: ModelCard, inputs: Sequence[TensorSpec], model_name: str = "model") -> InputKind:
    """Return the preprocess step for a model: the first input kind that accepts it.

    Args:
        card: The model's effective card.
        inputs: The model's input specs, in order.
        model_name: For the error message.

    Returns:
        The built input kind.

    Raises:
        InputError: no input kind can feed this model (the message says why each refused).
        ConfigError: the card and the input do not fit together.
    """
    reasons = []
    for name in registry.names():
        kind = registry.get(name)
        reason = kind.refuses(card, inputs)
        if reason is None:
            built: InputKind = kind(card, inputs)
            return built
        reasons.append(f"{name}: {reason}")
    raise InputError(
        f"{model_name} takes no input edgeinfer can prepare ({'; '.join(reasons)}); "
        "use Model.run with ready tensors"
    )
