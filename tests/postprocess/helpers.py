"""Builders shared by the postprocess tests: cards, specs and geometries."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeinfer.card import ModelCard, parse
from edgeinfer.types import Geometry, TensorSpec


def make_card(task: str, **sections: Any) -> ModelCard:
    return parse({"task": task, **sections}, origin="test")


def specs_for(outputs: dict[str, np.ndarray]) -> list[TensorSpec]:
    return [TensorSpec(name, tuple(a.shape), np.dtype(np.float32)) for name, a in outputs.items()]


def letterbox_geometry(frame_wh: tuple[int, int], input_wh: tuple[int, int]) -> Geometry:
    """Centre letterbox, computed the way preprocessing does (independently of the decoder)."""
    scale = min(input_wh[0] / frame_wh[0], input_wh[1] / frame_wh[1])
    pad_x = (input_wh[0] - frame_wh[0] * scale) / 2
    pad_y = (input_wh[1] - frame_wh[1] * scale) / 2
    return Geometry(frame_wh, input_wh, (scale, scale), (pad_x, pad_y))


def crop_geometry(frame_wh: tuple[int, int], input_wh: tuple[int, int]) -> Geometry:
    """Centre crop: resize the short side to the input, cut the long side."""
    scale = max(input_wh[0] / frame_wh[0], input_wh[1] / frame_wh[1])
    off_x = (input_wh[0] - frame_wh[0] * scale) / 2
    off_y = (input_wh[1] - frame_wh[1] * scale) / 2
    return Geometry(frame_wh, input_wh, (scale, scale), (off_x, off_y))
