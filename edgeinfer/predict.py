"""Frames to results for one model: decode the image, preprocess, run, decode outputs.

``Model.predict`` and ``Model.predict_batch`` delegate here. The preprocessor reuses its
output buffer, so a :class:`Runner` serialises calls with a lock (the interpreter is
serialised anyway); ``predict_async`` therefore stays safe under concurrency.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import InputError

if TYPE_CHECKING:
    from edgeinfer.model import Model

__all__ = ["Runner", "read_image"]

ImageLike = np.ndarray | str | Path | bytes | bytearray | memoryview
MAX_BATCH = 32


def read_image(image: ImageLike) -> np.ndarray:
    """Return a BGR uint8 image from an array, an image file path, or encoded bytes.

    Raises:
        InputError: the file is missing or not an image, or the bytes do not decode.
    """
    if isinstance(image, np.ndarray):
        return image
    from edgeinfer.preprocess import import_cv2

    cv2 = import_cv2()
    if isinstance(image, bytes | bytearray | memoryview):
        data = np.frombuffer(bytes(image), np.uint8)
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if decoded is None:
            raise InputError(f"{len(data)} bytes given as an image could not be decoded; send JPEG or PNG data")
        return decoded
    path = Path(image)
    if not path.is_file():
        raise InputError(f"{path}: no such image file")
    decoded = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if decoded is None:
        raise InputError(f"{path}: not a readable image (JPEG, PNG, BMP, TIFF, WebP ...)")
    return decoded


class Runner:
    """Preprocessor + model + decoder for one model, built once."""

    def __init__(self, model: Model) -> None:
        from edgeinfer.postprocess import decode
        from edgeinfer.preprocess import build_preprocessor

        if len(model.inputs) != 1 or len(model.inputs[0].shape) not in (3, 4):
            raise InputError(
                f"{model.name} does not take one image input (inputs: "
                f"{[list(s.shape) for s in model.inputs]}); use Model.run with ready tensors"
            )
        self.model = model
        self.spec = model.inputs[0]
        self.preprocessor = build_preprocessor(model.card.preprocess, self.spec)
        self._decode = decode
        self._lock = threading.Lock()

    def predict(self, image: ImageLike) -> Any:
        """Preprocess, run and decode one frame."""
        frame = read_image(image)
        with self._lock:
            tensor, geometry = self.preprocessor(frame)
            outputs = self.model.run(tensor)
            return self._decode(self.model.card, outputs, self.model.outputs, geometry)

    def batch_size(self, count: int) -> int:
        """Frames per inference: the model's fixed batch, or up to ``MAX_BATCH`` when dynamic."""
        dim = self.spec.shape[0] if len(self.spec.shape) == 4 else 1
        return min(count, MAX_BATCH) if dim < 0 else max(dim, 1)

    def predict_batch(self, images: list[ImageLike]) -> list[Any]:
        """Predict frames in order, batched when the model's batch dimension allows."""
        size = self.batch_size(len(images))
        if size <= 1:
            return [self.predict(image) for image in images]
        results: list[Any] = []
        for start in range(0, len(images), size):
            chunk = [read_image(image) for image in images[start:start + size]]
            results.extend(self._run_chunk(chunk, size))
        return results

    def _run_chunk(self, frames: list[np.ndarray], size: int) -> list[Any]:
        fixed = self.spec.shape[0] > 0
        item_shape = tuple(self.preprocessor.output_shape[1:])
        batch = np.zeros((size if fixed else len(frames), *item_shape), dtype=self.spec.dtype)
        with self._lock:
            geometries = [self.preprocessor(frame, out=batch[i:i + 1])[1] for i, frame in enumerate(frames)]
            outputs = self.model.run(batch)
            return [
                self._decode(self.model.card, {k: v[i:i + 1] for k, v in outputs.items()}, self.model.outputs, g)
                for i, g in enumerate(geometries)
            ]
