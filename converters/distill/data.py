"""Distillation data: unlabeled images -> the student's tensors, and the teacher's outputs on them.

The teacher is either a ``torch.nn.Module`` (it sees the student's tensors) or a ``.onnx`` /
``.tflite`` file opened with :func:`edgeinfer.load`, fed by the preprocess step of its own
input kind (:func:`edgeinfer.preprocess.inputs.build_input`, the one ``ModelSteps`` runs on
the device). The student's tensors come from the same card's ``preprocess`` section, laid out
NCHW float32 as PyTorch expects.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.calibration import IMAGE_SUFFIXES
from edgeinfer.card import ModelCard, parse
from edgeinfer.errors import ConfigError, ModelError
from edgeinfer.types import TensorSpec

__all__ = ["Teacher", "open_teacher", "read_frames", "student_tensors"]

Progress = Callable[[Sequence[Any], str], Any]


def _image_files(where: str | Path) -> list[Path]:
    path = Path(where)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in glob.glob(str(where), recursive=True) if Path(p).suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ConfigError(f"images={str(where)!r}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}); "
                          "pass a folder or glob of unlabeled images, a list of paths or an array of frames")
    return sorted(files)


def read_frames(images: Any) -> list[np.ndarray]:
    """Decode the unlabeled images into BGR (or gray) uint8 frames, as a camera gives them.

    Args:
        images: A folder or glob of image files, a list of paths / encoded bytes / frames,
            or an array of frames ``(N, H, W, 3)`` BGR or ``(N, H, W)`` gray, uint8.

    Raises:
        ConfigError: nothing found, or an array that is not a stack of frames.
        InputError: an image that cannot be decoded.
    """
    from edgeinfer.images import read_image

    if isinstance(images, str | Path):
        items: Sequence[Any] = _image_files(images)
    elif isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ConfigError(f"images: an array must be frames (N, H, W, 3) or (N, H, W); got shape "
                              f"{list(images.shape)}")
        items = list(images)
    else:
        items = list(images)
    if not items:
        raise ConfigError("images: no images given; pass a folder of unlabeled images")
    return [read_image(item) for item in items]


def resolve_card(card: ModelCard | Mapping[str, Any] | str | Path | None) -> ModelCard | None:
    """A card argument (card, mapping or YAML path) as a :class:`ModelCard`."""
    if card is None or isinstance(card, ModelCard):
        return card
    if isinstance(card, str | Path):
        from edgeinfer.card import read

        return read(card)
    return parse(card, origin="argument")


def student_tensors(frames: Sequence[np.ndarray], card: ModelCard, chw: tuple[int, int, int],
                    progress: Progress) -> np.ndarray:
    """``(N, C, H, W)`` float32: every frame through the card's preprocessing, laid out NCHW."""
    from edgeinfer.preprocess import build_preprocessor

    spec = card.preprocess.model_copy(update={"layout": "nchw"})
    pre = build_preprocessor(spec, TensorSpec("input", (1, *chw), np.dtype(np.float32)))
    out = np.empty((len(frames), *chw), np.float32)
    for i, frame in enumerate(progress(frames, "preprocessing images")):
        pre(frame, out=out[i:i + 1])
    return out


@dataclass
class Teacher:
    """The teacher, ready to label images.

    Attributes:
        card: Its effective model card (the student's artifacts carry it too).
        chw: The image input as ``(channels, height, width)``; ``None`` when unknown.
        params: Its parameter count (``None`` for TFLite files).
        label: ``(frames, student_tensors, progress) -> outputs (N, ...)`` float32.
    """

    card: ModelCard
    chw: tuple[int, int, int] | None
    params: int | None
    label: Callable[[Sequence[np.ndarray], np.ndarray, Progress], np.ndarray]


def _torch_teacher(module: Any, card: ModelCard | None) -> Teacher:
    import torch

    def label(frames: Sequence[np.ndarray], x: np.ndarray, progress: Progress) -> np.ndarray:
        module.eval()
        starts = list(range(0, len(x), 64))
        with torch.no_grad():
            parts = [module(torch.from_numpy(x[s:s + 64])).float().numpy() for s in progress(starts, "teacher outputs")]
        return np.concatenate(parts)

    params = sum(int(p.numel()) for p in module.parameters())
    return Teacher(card or ModelCard(), None, params, label)


def _onnx_params(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return sum(int(np.prod(init.dims)) for init in model.graph.initializer)


def _file_teacher(path: Path, card: ModelCard | None) -> Teacher:
    import edgeinfer
    from edgeinfer.preprocess.inputs import build_input
    from edgeinfer.preprocess.preprocessor import infer_layout

    model = edgeinfer.load(path, card=card)
    if len(model.outputs) != 1:
        model.close()
        raise ModelError(f"teacher {path.name} has {len(model.outputs)} outputs "
                         f"{[o.name for o in model.outputs]}; distill copies one output (logits or a YOLO head)")
    pre = build_input(model.card, model.inputs, model.name)
    shape = model.inputs[0].shape
    layout = infer_layout(shape, model.card.preprocess.layout, model.inputs[0].name)
    c, h, w = (shape[1], shape[2], shape[3]) if layout == "nchw" else (shape[3], shape[1], shape[2])

    def label(frames: Sequence[np.ndarray], x: np.ndarray, progress: Progress) -> np.ndarray:
        parts = []
        try:
            for frame in progress(frames, "teacher outputs"):
                tensor, _ = pre(frame)
                parts.append(next(iter(model.run(tensor).values())).astype(np.float32))
        finally:
            model.close()
        return np.concatenate(parts)

    params = _onnx_params(path) if model.kind == "onnx" else None
    # The student is NCHW float32: its artifacts get their layout from the converter, not the teacher's.
    preprocess = model.card.preprocess.model_copy(update={"layout": None})
    card_out = model.card.model_copy(update={"conversion": None, "preprocess": preprocess})
    return Teacher(card_out, (int(c), int(h), int(w)), params, label)


def open_teacher(teacher: Any, card: ModelCard | None) -> Teacher:
    """Wrap a torch module or open a ``.onnx``/``.tflite`` teacher file.

    Raises:
        ConfigError: neither a module nor an existing model file.
        ModelError: the file cannot be loaded, or has several outputs.
    """
    if isinstance(teacher, str | Path):
        path = Path(teacher)
        if path.suffix.lower() not in (".onnx", ".tflite"):
            raise ConfigError(f"teacher={str(teacher)!r}: a teacher file must be .onnx or .tflite "
                              "(load a .pt with torch and pass the module)")
        if not path.is_file():
            raise ConfigError(f"teacher={str(teacher)!r} does not exist")
        return _file_teacher(path, card)
    if callable(teacher) and hasattr(teacher, "parameters"):
        return _torch_teacher(teacher, card)
    raise ConfigError(f"teacher must be a torch.nn.Module or a .onnx/.tflite path, got {type(teacher).__name__}")
