"""Global magnitude pruning of PyTorch conv/linear weights before export.

``torch.nn.utils.prune.global_unstructured`` with L1 magnitude ranks all conv and linear
weights together and zeroes the smallest ``amount`` of them; the masks are then made
permanent so the exporters see plain weights.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from edgeinfer.errors import ConfigError, ConversionError

__all__ = ["prune_source"]


def _prunable(module: Any) -> list[tuple[Any, str]]:
    import torch

    kinds = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)
    return [(m, "weight") for m in module.modules() if isinstance(m, kinds)]


def prune_source(source: Any, amount: float) -> tuple[Any, float]:
    """Return a pruned copy of a PyTorch source and the sparsity reached.

    Args:
        source: A :class:`~converters.torch_source.TorchSource`.
        amount: Fraction of conv/linear weights to zero, 0 < amount < 1.

    Returns:
        ``(pruned_source, sparsity)``: sparsity is the fraction of zeros among all
        conv/linear weights after pruning.

    Raises:
        ConfigError: ``amount`` out of range.
        ConversionError: the source is not a PyTorch model or has no conv/linear layers.
    """
    if not 0.0 < amount < 1.0:
        raise ConfigError(f"prune must be between 0 and 1 (a fraction of weights), got {amount}")
    if getattr(source, "kind", None) != "torch":
        raise ConversionError(f"Pruning applies to PyTorch models; this source is {source.kind!r}")
    import torch
    from torch.nn.utils import prune

    module = copy.deepcopy(source.module)
    params = _prunable(module)
    if not params:
        raise ConversionError("The model has no Conv/Linear layers to prune")
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for layer, name in params:
        prune.remove(layer, name)
    with torch.no_grad():
        zeros = sum(int((layer.weight == 0).sum()) for layer, _ in params)
        total = sum(layer.weight.numel() for layer, _ in params)
    return dataclasses.replace(source, module=module), zeros / total
