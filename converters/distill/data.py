"""Distillation data: unlabeled images -> the student's tensors, and the teacher's outputs on them.

The teacher is either a ``torch.nn.Module`` (it sees the student's tensors) or a ``.onnx`` /
``.tflite`` file opened with :func:`edgeinfer.load`, fed by the preprocess step of its own
input kind (:func:`edgeinfer.preprocess.inputs.build_input`, the one ``ModelSteps`` runs on
the device). The student's tensors come from the same card's ``preprocess`` section, laid out
NCHW float32 as PyTorch expects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converters.calibration import IMAGE_SUFFIXES, image_files
from edgeinfer.card import ModelCard, parse
from edgeinfer.errors import ConfigError, ModelError
from edgeinfer.types import TensorSpec

__all__ = ["Teacher", "image_items", "label_images", "open_teacher", "resolve_card"]

Progress = Callable[[Sequence[Any], str], Any]


def _image_files(where: str | Path) -> list[Path]:
    files = image_files(where)
    if not files:
        raise ConfigError(f"images={str(where)!r}: no images found (looked for {', '.join(IMAGE_SUFFIXES)}); "
                          "pass a folder or glob of unlabeled images, a list of paths or an array of frames")
    return files


def image_items(images: Any) -> list[Any]:
    """The unlabeled images as a list of items :func:`edgeinfer.images.read_image` decodes.

    Args:
        images: A folder or glob of image files, a list of paths / encoded bytes / frames,
            or an array of frames ``(N, H, W, 3)`` BGR or ``(N, H, W)`` gray, uint8.

    Raises:
        ConfigError: nothing found, or an array that is not a stack of frames.
    """
    if isinstance(images, str | Path):
        return list(_image_files(images))
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ConfigError(f"images: an array must be frames (N, H, W, 3) or (N, H, W); got shape "
                              f"{list(images.shape)}")
        return list(images)
    items = list(images)
    if not items:
        raise ConfigError("images: no images given; pass a folder of unlabeled images")
    return items


def resolve_card(card: ModelCard | Mapping[str, Any] | str | Path | None) -> ModelCard | None:
    """A card argument (card, mapping or YAML path) as a :class:`ModelCard`."""
    if card is None or isinstance(card, ModelCard):
        return card
    if isinstance(card, str | Path):
        from edgeinfer.card import read

        return read(card)
    return parse(card, origin="argument")


def label_images(items: Sequence[Any], teacher: Teacher, chw: tuple[int, int, int],
                 progress: Progress) -> tuple[np.ndarray, np.ndarray]:
    """Decode each image once: the student's tensor, and the teacher's outputs on it.

    Returns:
        ``(x, y)``: ``x`` ``(N, C, H, W)`` float32, the card's preprocessing laid out NCHW;
        ``y`` the teacher's outputs ``(N, ...)`` float32.

    Raises:
        InputError: an image that cannot be decoded.
    """
    from edgeinfer.images import read_image
    from edgeinfer.preprocess import build_preprocessor

    spec = teacher.card.preprocess.model_copy(update={"layout": "nchw"})
    pre = build_preprocessor(spec, TensorSpec("input", (1, *chw), np.dtype(np.float32)))
    x = np.empty((len(items), *chw), np.float32)
    outputs = []
    try:
        for i, item in enumerate(progress(items, "preprocessing and labelling images")):
            frame = read_image(item)
            pre(frame, out=x[i:i + 1])
            if teacher.label_frame is not None:
                outputs.append(teacher.label_frame(frame))
    finally:
        teacher.close()
    y = np.concatenate(outputs) if teacher.label_frame is not None else teacher.label_tensors(x)
    return x, y.astype(np.float32)


def _nothing() -> None:
    return None


@dataclass
class Teacher:
    """The teacher, ready to label images.

    Attributes:
        card: Its effective model card (the student's artifacts carry it too).
        chw: The image input as ``(channels, height, width)``; ``None`` when unknown.
        params: Its parameter count (``None`` for TFLite files).
        label_frame: A file teacher: one frame -> outputs ``(1, ...)``, through its own preprocessing.
        label_tensors: A torch teacher: the student's tensors ``(N, C, H, W)`` -> outputs ``(N, ...)``.
        close: Frees the interpreter.
    """

    card: ModelCard
    chw: tuple[int, int, int] | None
    params: int | None
    label_frame: Callable[[np.ndarray], np.ndarray] | None = None
    label_tensors: Callable[[np.ndarray], np.ndarray] = lambda x: x
    close: Callable[[], None] = _nothing


def _torch_teacher(module: Any, card: ModelCard | None) -> Teacher:
    import torch

    def label_tensors(x: np.ndarray) -> np.ndarray:
        module.eval()
        with torch.no_grad():
            parts = [module(torch.from_numpy(x[s:s + 64])).float().numpy() for s in range(0, len(x), 64)]
        return np.concatenate(parts)

    params = sum(int(p.numel()) for p in module.parameters())
    return Teacher(card or ModelCard(), None, params, label_tensors=label_tensors)


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

    def label_frame(frame: np.ndarray) -> np.ndarray:
        tensor, _ = pre(frame)
        return next(iter(model.run(tensor).values()))

    params = _onnx_params(path) if model.kind == "onnx" else None
    # The student is NCHW float32: its artifacts get their layout from the converter, not the teacher's.
    preprocess = model.card.preprocess.model_copy(update={"layout": None})
    card_out = model.card.model_copy(update={"conversion": None, "preprocess": preprocess})
    return Teacher(card_out, (int(c), int(h), int(w)), params, label_frame=label_frame, close=model.close)


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
