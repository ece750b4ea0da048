"""Calibration and check inputs: images through the runtime's own preprocessing, or ready arrays.

Images are turned into tensors by :mod:`edgeinfer.preprocess` with the model card's
``preprocess`` section, exactly as on the device, so the ranges int8 quantization is
calibrated on are the ranges the model will see. Samples are laid out as the *source*
model expects; :mod:`converters.api` transposes them for NHWC artifacts.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters.layout import shapes_match
from edgeinfer.card import PreprocessSpec
from edgeinfer.errors import ConversionError
from edgeinfer.types import TensorSpec

__all__ = ["IMAGE_SUFFIXES", "image_files", "load_calibration", "progress", "random_inputs"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
SEED = 0


def progress(items: Sequence[Any], description: str) -> Iterable[Any]:
    """Iterate with a rich progress bar on stderr (shown only on a terminal)."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    return track(items, description=description, console=console, transient=True,
                 disable=not console.is_terminal)


def image_files(where: str | Path) -> list[Path]:
    """The image files at ``where`` (a file, a folder searched recursively, or a glob), sorted; may be empty."""
    path = Path(where)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in glob.glob(str(where), recursive=True)
                 if Path(p).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files)


def _calibration_files(where: str | Path) -> list[Path]:
    files = image_files(where)
    if not files:
        raise ConversionError(
            f"No calibration images found at {str(where)!r} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return files


def _sample(items: list[Any], size: int, seed: int) -> list[Any]:
    if len(items) <= size:
        return items
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(items), size=size, replace=False).tolist())
    return [items[i] for i in picked]


def _from_images(where: str | Path, preprocess: PreprocessSpec, *, input_shape: tuple[int, ...],
                 layout: str | None, size: int, seed: int) -> list[np.ndarray]:
    from edgeinfer.preprocess import build_preprocessor, import_cv2

    cv2 = import_cv2()
    if len(input_shape) != 4:
        raise ConversionError(f"Calibration images need a 4-D image input; the model takes {list(input_shape)}")
    spec = preprocess.model_copy(update={"layout": layout or preprocess.layout})
    pre = build_preprocessor(spec, TensorSpec("input", (1, *input_shape[1:]), np.dtype(np.float32)))
    samples = []
    for file in progress(_sample(_calibration_files(where), size, seed), "calibration images"):
        frame = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if frame is None:
            raise ConversionError(f"Calibration image {file} cannot be read; remove it or fix it")
        tensor, _ = pre(frame)
        samples.append(np.array(tensor, dtype=np.float32).reshape(1, *input_shape[1:]))
    return samples


def _from_arrays(items: Iterable[Any], input_shape: tuple[int, ...], size: int) -> list[np.ndarray]:
    samples: list[np.ndarray] = []
    for item in items:
        array = np.asarray(item, dtype=np.float32)
        if array.ndim == len(input_shape) - 1:
            array = array[None]
        if not shapes_match(input_shape[1:], array.shape[1:]) or array.ndim != len(input_shape):
            raise ConversionError(
                f"A calibration array has shape {list(array.shape)}; the model input is {list(input_shape)}"
            )
        samples.extend(array[i:i + 1].reshape(1, *input_shape[1:]) for i in range(array.shape[0]))
        if len(samples) >= size:
            break
    if not samples:
        raise ConversionError("The calibration data gave no arrays")
    return samples[:size]


def load_calibration(calibration: str | Path | Iterable[Any] | Callable[[], Iterable[Any]] | None, *,
                     preprocess: PreprocessSpec, input_shape: tuple[int, ...], layout: str | None,
                     size: int = 200, seed: int = SEED) -> list[np.ndarray]:
    """Return up to ``size`` float32 samples ``(1, *input_shape[1:])`` in the source layout.

    Args:
        calibration: A folder or glob of images, one image file, an iterable of arrays
            (each one sample or a batch), a callable returning such an iterable, or ``None``.
        preprocess: The card's preprocessing, applied to images.
        input_shape: The source model's input shape, batch first.
        layout: The source layout (``nchw``/``nhwc``) for image inputs.
        size: How many samples at most; images beyond it are sampled with ``seed``,
            iterables are read up to it.
        seed: Seed of the image sampling.

    Raises:
        ConversionError: no images found, an unreadable image, arrays of the wrong shape.
    """
    if calibration is None:
        return []
    if isinstance(calibration, str | Path):
        return _from_images(calibration, preprocess, input_shape=input_shape, layout=layout, size=size,
                            seed=seed)
    if callable(calibration):
        calibration = calibration()
    return _from_arrays(calibration, input_shape, size)


def random_inputs(input_shape: tuple[int, ...], count: int, layout: str | None,
                  preprocess: PreprocessSpec | None, seed: int = SEED) -> list[np.ndarray]:
    """Seeded random samples for the check when no calibration data is given.

    With a card, image inputs get random pixels 0..255 normalised with the card's
    mean/std (what the model sees on the device); otherwise values uniform in [0, 1).
    """
    rng = np.random.default_rng(seed)
    shape = (1, *input_shape[1:])
    if preprocess is None or len(shape) != 4 or layout is None:
        return [rng.random(shape, dtype=np.float32) for _ in range(count)]
    channel_axis = 1 if layout == "nchw" else 3
    channels = shape[channel_axis]
    view = [1, 1, 1, 1]
    view[channel_axis] = channels
    mean = np.resize(np.asarray(preprocess.mean, np.float32), channels).reshape(view)
    std = np.resize(np.asarray(preprocess.std, np.float32), channels).reshape(view)
    return [((rng.integers(0, 256, shape).astype(np.float32) - mean) / std) for _ in range(count)]
