"""Tensor layouts: guess NCHW/NHWC from a shape, and map source tensors to artifact tensors.

PyTorch image models take NCHW; TFLite artifacts made from them take NHWC. Calibration and
the fidelity check feed both the same samples, transposed where the layouts differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edgeinfer.errors import ConversionError

__all__ = ["infer_layout", "input_permutation", "match_output", "shapes_match"]

_CHANNELS = (1, 2, 3, 4)


def infer_layout(shape: Sequence[int]) -> str | None:
    """Guess ``"nchw"`` or ``"nhwc"`` for a 4-D image input, ``None`` for other ranks.

    A dimension of 1 to 4 in position 1 (and not last) means NCHW; otherwise NHWC.
    """
    if len(shape) != 4:
        return None
    if shape[1] in _CHANNELS and shape[3] not in _CHANNELS:
        return "nchw"
    if shape[3] in _CHANNELS:
        return "nhwc"
    return "nchw" if shape[1] in _CHANNELS else None


def shapes_match(expected: Sequence[int], given: Sequence[int]) -> bool:
    """True when ranks agree and every fixed (non-negative) dimension of ``expected`` matches."""
    return len(expected) == len(given) and all(e < 0 or g < 0 or e == g for e, g in zip(expected, given,
                                                                                      strict=True))


def input_permutation(source_shape: Sequence[int], artifact_shape: Sequence[int],
                      source_layout: str | None) -> tuple[int, ...] | None:
    """Return the transpose that turns a source input into the artifact's, or ``None``.

    Raises:
        ConversionError: the artifact's input fits the source's neither as is nor transposed.
    """
    if shapes_match(artifact_shape, source_shape):
        return None
    if len(source_shape) == 4:
        order = ((0, 2, 3, 1), (0, 3, 1, 2)) if source_layout != "nhwc" else ((0, 3, 1, 2), (0, 2, 3, 1))
        for perm in order:
            if shapes_match(artifact_shape, [source_shape[p] for p in perm]):
                return perm
    raise ConversionError(
        f"The artifact's input shape {list(artifact_shape)} does not fit the source's "
        f"{list(source_shape)}; the export changed the input in a way the check cannot follow"
    )


def match_output(artifact_out: np.ndarray, source_shape: Sequence[int]) -> np.ndarray:
    """Bring an artifact output to the source output's shape (transposing 4-D NHWC back to NCHW).

    Raises:
        ConversionError: the shapes cannot be matched.
    """
    if artifact_out.shape == tuple(source_shape):
        return artifact_out
    if artifact_out.ndim == 4 and artifact_out.transpose(0, 3, 1, 2).shape == tuple(source_shape):
        return artifact_out.transpose(0, 3, 1, 2)
    if artifact_out.size == int(np.prod(source_shape)):
        return artifact_out.reshape(source_shape)
    raise ConversionError(
        f"An artifact output has shape {list(artifact_out.shape)} but the source gives "
        f"{list(source_shape)}"
    )
