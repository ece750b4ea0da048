"""Postprocess: dequantized model outputs to results (numpy in, results out).

Sits between the backend and the sinks. Every function here is pure: it takes numpy
arrays, the model card, the output specs and the preprocessing geometry, and holds no
backend objects, so it can be tested and reused without a model::

    result = decode(card, outputs, model.outputs, geometry)
    payload = result.to_dict()      # what MQTT and the CLI emit

``decode`` dispatches on ``card.task``; detection then on ``card.postprocess.decoder``
(see :data:`edgeinfer.postprocess.detection.DECODERS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.postprocess.classification import decode_classification, top_k_classes
from edgeinfer.postprocess.detection import decode_detection
from edgeinfer.postprocess.embedding import decode_embedding
from edgeinfer.postprocess.instance_seg import check_instance_segmentation, decode_instance_segmentation
from edgeinfer.postprocess.obb import check_obb, decode_obb
from edgeinfer.postprocess.pose import check_pose, decode_pose
from edgeinfer.postprocess.regression import decode_raw, decode_regression
from edgeinfer.postprocess.segmentation import decode_segmentation
from edgeinfer.results import (
    Classification,
    Detections,
    RawResult,
    Regression,
    Result,
    Segmentation,
)

if TYPE_CHECKING:
    from edgeinfer.card import ModelCard
    from edgeinfer.types import Geometry, TensorSpec

__all__ = [
    "Classification", "Detections", "RawResult", "Regression", "Result", "Segmentation",
    "TASK_CHECKS", "TASK_DECODERS", "check", "decode", "top_k_classes",
]

TaskDecoder = Callable[["ModelCard", dict[str, np.ndarray], "list[TensorSpec]", "Geometry"], Result]

TaskCheck = Callable[["ModelCard", "list[TensorSpec]"], None]

TASK_DECODERS: dict[str, TaskDecoder] = {
    "classification": decode_classification,
    "detection": decode_detection,
    "segmentation": decode_segmentation,
    "regression": decode_regression,
    "raw": decode_raw,
    "pose": decode_pose,
    "obb": decode_obb,
    "instance_segmentation": decode_instance_segmentation,
    "embedding": decode_embedding,
}


def _ocr_needs_load_ocr(card: ModelCard, output_specs: list[TensorSpec]) -> None:
    raise ConfigError("task 'ocr' runs a detector, a recogniser and an optional angle classifier together: "
                      "open them with edgeinfer.load_ocr(det, rec, cls) or load_ocr('ocr.yaml'), not edgeinfer.load")


# Load-time checks: a card that cannot decode this model's outputs fails in
# ``edgeinfer.load``, not at the first frame. A task without a check is not checked.
TASK_CHECKS: dict[str, TaskCheck] = {
    "pose": check_pose,
    "obb": check_obb,
    "ocr": _ocr_needs_load_ocr,
    "instance_segmentation": check_instance_segmentation,
}


def check(card: ModelCard, output_specs: list[TensorSpec]) -> None:
    """Check, once at load time, that the card's task can decode outputs of these specs.

    Args:
        card: The effective model card.
        output_specs: The model's outputs, in order (``Model.outputs``).

    Raises:
        ConfigError: the card and the outputs disagree (the message names both and the fix).
    """
    task_check = TASK_CHECKS.get(card.task)
    if task_check is not None:
        task_check(card, output_specs)


def decode(
    card: ModelCard, outputs: dict[str, np.ndarray], output_specs: list[TensorSpec], geometry: Geometry
) -> Result:
    """Turn one frame's model outputs into a result, as the card's ``task`` says.

    Args:
        card: The model card (task, labels, postprocess settings).
        outputs: Output name to dequantized float32 array with a leading batch
            dimension of 1, one entry per spec in ``output_specs``.
        output_specs: The model's outputs, in order (``Model.outputs``).
        geometry: How frame pixels map to model-input pixels (from preprocessing).

    Returns:
        A :class:`Classification`, :class:`Detections`, :class:`Segmentation`,
        :class:`Regression` or :class:`RawResult`.

    Raises:
        ConfigError: the card's task has no decoder.
        InputError: the outputs do not have the shape the task's decoder expects.
    """
    decoder = TASK_DECODERS.get(card.task)
    if decoder is None:
        raise ConfigError(f"No decoder for task {card.task!r}; known tasks: {sorted(TASK_DECODERS)}")
    missing = [spec.name for spec in output_specs if spec.name not in outputs]
    if missing:
        raise ConfigError(
            f"Outputs {missing} are missing from the results handed to decode "
            f"(got {sorted(outputs)}); pass every output of Model.run."
        )
    return decoder(card, outputs, output_specs, geometry)
