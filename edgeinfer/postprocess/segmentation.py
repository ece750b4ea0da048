"""Segmentation: model-space scores to a frame-sized class map or boolean mask.

Multi-class outputs (``[1, C, H, W]`` or ``[1, H, W, C]``) become a class map by per-pixel
argmax; single-channel outputs (``[1, H, W]``, ``[1, 1, H, W]``, ``[1, H, W, 1]``) a boolean
mask by ``mask_threshold`` (after a sigmoid when the card's activation says so). The
channel axis is the one of size ``len(labels)`` when that decides, else the shorter of
axes 1 and 3.

The mask is brought back to the frame by nearest-neighbour sampling through the
preprocessing geometry: each frame pixel centre is mapped into model-input space and
reads the mask cell under it. This crops away letterbox padding and stretches the valid
region back to the frame in one step. Frame pixels the model never saw (cut off by a
centre crop) get class 0 / ``False``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.postprocess.classification import ACTIVATIONS
from edgeinfer.results import Segmentation

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = ["decode_segmentation", "mask_to_frame"]


def decode_segmentation(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Segmentation:
    """Decode the first output into a frame-sized mask with per-class area fractions.

    Args:
        card: Model card (labels, activation, mask_threshold).
        outputs: Output name to float32 array with batch dimension 1.
        output_specs: The model's outputs, in order; the first holds the mask scores.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        Frame-sized mask; ``classes`` maps each present label to its area fraction.

    Raises:
        InputError: the output is not a 3-D or 4-D mask tensor.
    """
    scores = _channels_last(np.asarray(outputs[output_specs[0].name]), card.labels)
    if scores.shape[-1] == 1:
        probs = ACTIVATIONS[card.postprocess.activation](scores[..., 0])
        model_mask = probs >= card.postprocess.mask_threshold
        foreground = card.labels[-1] if card.labels else "foreground"
        frame_mask = mask_to_frame(model_mask, geometry)
        fraction = float(frame_mask.mean())
        classes = {foreground: fraction} if fraction > 0 else {}
        return Segmentation(mask=frame_mask, classes=classes, class_ids=(1,) if classes else ())
    dtype = np.uint8 if scores.shape[-1] <= 256 else np.int32
    frame_mask = mask_to_frame(scores.argmax(axis=-1).astype(dtype), geometry)
    counts = np.bincount(frame_mask.reshape(-1), minlength=scores.shape[-1])
    present = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    classes = {card.label(i): float(counts[i]) / frame_mask.size for i in present}
    return Segmentation(mask=frame_mask, classes=classes, class_ids=tuple(present))


def _channels_last(output: np.ndarray, labels: tuple[str, ...] | None) -> np.ndarray:
    """Drop the batch dimension and return ``(H, W, C)`` scores."""
    if output.ndim == 3 and output.shape[0] == 1:
        return output[0][..., None]
    if output.ndim != 4 or output.shape[0] != 1:
        raise InputError(
            f"A segmentation output must be [1, C, H, W], [1, H, W, C] or [1, H, W]; got "
            f"{list(output.shape)}. Check the model card's task."
        )
    c_first, c_last = output.shape[1], output.shape[3]
    if labels and (len(labels) in (c_first, c_last)) and c_first != c_last:
        channels_first = c_first == len(labels)
    else:
        channels_first = c_first < c_last
    return np.moveaxis(output[0], 0, -1) if channels_first else output[0]


def mask_to_frame(model_mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Resample a model-space ``(h, w)`` mask to the frame with nearest neighbour.

    The mask may be smaller than the model input (a stride-8 head); it is taken to cover
    the whole input.

    Args:
        model_mask: ``(h, w)`` class ids or booleans covering the model input.
        geometry: How frame pixels map to model-input pixels.

    Returns:
        ``(frame_h, frame_w)`` mask, same dtype; unseen frame pixels are 0 / ``False``.
    """
    frame_w, frame_h = geometry.frame_size_wh
    in_w, in_h = geometry.input_size_wh
    mask_h, mask_w = model_mask.shape
    centres_x = (np.arange(frame_w) + 0.5) * geometry.scale_xy[0] + geometry.offset_xy[0]
    centres_y = (np.arange(frame_h) + 0.5) * geometry.scale_xy[1] + geometry.offset_xy[1]
    cols = np.floor(centres_x * mask_w / in_w).astype(np.int64)
    rows = np.floor(centres_y * mask_h / in_h).astype(np.int64)
    valid_cols = (cols >= 0) & (cols < mask_w)
    valid_rows = (rows >= 0) & (rows < mask_h)
    out = model_mask[np.clip(rows, 0, mask_h - 1)[:, None], np.clip(cols, 0, mask_w - 1)[None, :]]
    out[~(valid_rows[:, None] & valid_cols[None, :])] = 0
    return out
