"""SSD decoder: the four outputs of the TFLite ``TFLite_Detection_PostProcess`` op.

The op already decodes anchors and runs NMS; it emits, in an order that differs between
exporters (TF1 and TF2 Object Detection API models disagree), four tensors that are told
apart here by shape and content, never by name:

- boxes ``[1, N, 4]``: normalised ``ymin, xmin, ymax, xmax``;
- classes ``[1, N]``: class ids stored as floats (whole numbers);
- scores ``[1, N]``: 0..1;
- count ``[1]``: how many of the ``N`` rows are valid.

Of the two ``[1, N]`` tensors, the one whose first ``count`` values include one above 1 or
are all whole numbers, while the other's are not, is the classes; when the content cannot
tell (say, no detections), the op's own order (classes before scores) decides. Rows past
``count`` hold whatever was in memory (measured: values such as 1e11 and 1e-41) and are
never looked at. Class ids are those of the op: background excluded, so ``labels[0]`` is
the first real class.
"""

from __future__ import annotations

import numpy as np

from edgeinfer.errors import InputError
from edgeinfer.postprocess.yolo import Candidates

__all__ = ["decode_ssd"]


def decode_ssd(
    arrays: list[np.ndarray], input_size_wh: tuple[int, int], num_classes: int | None
) -> Candidates:
    """Decode the detection postprocess op's outputs to candidates in input pixels.

    Args:
        arrays: The four outputs, any order, batch dimension first.
        input_size_wh: Model input width and height, pixels (normalised boxes are scaled).
        num_classes: Unused; the op emits class ids directly.

    Returns:
        The ``count`` valid rows, boxes as ``x1, y1, x2, y2`` input pixels.

    Raises:
        InputError: the outputs are not the op's four tensors.
    """
    del num_classes
    boxes = [a for a in arrays if a.ndim == 3 and a.shape[-1] == 4]
    vectors = [a for a in arrays if a.ndim == 2]
    counts = [a for a in arrays if a.ndim <= 1 and a.size == 1]
    if len(boxes) != 1 or len(vectors) != 2 or len(counts) != 1:
        shapes = [list(a.shape) for a in arrays]
        raise InputError(
            "The ssd decoder needs the four outputs of TFLite_Detection_PostProcess "
            f"(boxes [1,N,4], classes [1,N], scores [1,N], count [1]); the model gives {shapes}. "
            "Check postprocess.decoder in the model card."
        )
    # Rows past ``count`` are uninitialised memory in the op's output: never read them.
    n = max(0, min(int(counts[0].reshape(-1)[0]), boxes[0].shape[1], vectors[0].shape[1]))
    classes, scores = _classes_and_scores(vectors[0][0, :n], vectors[1][0, :n])
    w, h = input_size_wh
    yxyx = boxes[0][0, :n].astype(np.float32)
    boxes_xyxy = yxyx[:, [1, 0, 3, 2]] * np.asarray([w, h, w, h], dtype=np.float32)
    return Candidates(boxes_xyxy, scores.astype(np.float32), np.rint(classes).astype(np.int64))


def _classes_and_scores(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tell the class-id vector from the score vector by content."""
    if _looks_like_class_ids(second) and not _looks_like_class_ids(first):
        return second, first
    return first, second


def _looks_like_class_ids(values: np.ndarray) -> bool:
    return bool(values.size) and (
        float(values.max()) > 1.0 or bool(np.all(values == np.rint(values)))
    )
