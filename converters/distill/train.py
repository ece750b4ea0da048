"""``distill()``: unlabeled images -> teacher outputs -> a trained student and a :class:`DistillReport`.

The teacher labels every image once (no augmentation, so its outputs are fixed), a share
is held back, and the student is trained with Adam on the rest against the task's loss
(:mod:`converters.distill.losses`). The student module is trained in place.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from converters.distill.data import image_items, label_images, open_teacher, resolve_card
from converters.distill.losses import agreement, as_logits, loss
from converters.distill.report import DistillReport, plot_losses
from edgeinfer.card import ModelCard
from edgeinfer.errors import ConfigError

__all__ = ["TASKS", "distill"]

TASKS = ("classification", "detection")


def _progress_factory(enabled: bool) -> Any:
    def progress(items: Sequence[Any], description: str) -> Any:
        if not enabled:
            return items
        from converters.calibration import progress as bar

        return bar(items, description)

    return progress


def _check_numbers(epochs: int, temperature: float, lr: float, batch_size: int, held_out: float) -> None:
    for key, value, ok in (("epochs", epochs, epochs >= 1), ("temperature", temperature, temperature > 0),
                           ("lr", lr, lr > 0), ("batch_size", batch_size, batch_size >= 1),
                           ("held_out", held_out, 0 <= held_out < 1)):
        if not ok:
            raise ConfigError(f"{key}={value!r} is out of range (epochs >= 1, temperature > 0, lr > 0, "
                              "batch_size >= 1, 0 <= held_out < 1)")


def _input_chw(found: tuple[int, int, int] | None, input_shape: Sequence[int] | None,
               card: ModelCard) -> tuple[int, int, int]:
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if len(shape) != 4:
            raise ConfigError(f"input_shape={list(shape)} must be (1, C, H, W)")
        return shape[1], shape[2], shape[3]
    if found is not None:
        return found
    if card.preprocess.size_wh is not None:
        w, h = card.preprocess.size_wh
        return (1 if card.preprocess.color == "gray" else 3), h, w
    raise ConfigError("A torch teacher needs the input size: pass input_shape=(1, C, H, W) "
                      "(--input-shape) or a card with preprocess.size_wh")


def _task(asked: str | None, card: ModelCard, shape: tuple[int, ...]) -> str:
    task = asked or (card.task if card.task in TASKS else {2: "classification", 3: "detection"}.get(len(shape)))
    if task not in TASKS:
        raise ConfigError(f"task={task!r}: distill covers classification (outputs [N, classes]) and detection "
                          f"(a YOLO head [N, 4 + classes, anchors]); the teacher outputs {list(shape)}")
    if (task == "classification") != (len(shape) == 2) or (task == "detection" and shape[1] < 5):
        raise ConfigError(f"task {task!r} does not fit the teacher's output shape {list(shape)}: classification "
                          "needs [N, classes], detection a YOLO head [N, 4 + classes, anchors]")
    return task


def _check_student(student: Any, x: np.ndarray, teacher_shape: tuple[int, ...]) -> None:
    import torch

    student.eval()
    try:
        with torch.no_grad():
            out = student(torch.from_numpy(x[:2]))
    except Exception as exc:
        raise ConfigError(f"The student cannot run on the teacher's input {[1, *x.shape[1:]]} "
                          f"(NCHW float32): {exc}") from exc
    got, want = tuple(out.shape[1:]), tuple(teacher_shape[1:])
    if got != want:
        raise ConfigError(f"Student and teacher outputs disagree: the student outputs {[1, *got]}, the teacher "
                          f"{[1, *want]}; give the student's last layer the teacher's output shape")


def _split(count: int, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    n_hold = min(count - 1, max(1, round(held_out * count))) if held_out > 0 else 0
    return order[n_hold:], order[:n_hold]


def _evaluate(student: Any, task: str, x: Any, y: Any, *, temperature: float, size: float) -> tuple[float, Any]:
    import torch

    student.eval()
    with torch.no_grad():
        outs = torch.cat([student(x[s:s + 256]) for s in range(0, len(x), 256)])
        return float(loss(task, outs, y, temperature, size)), outs.numpy()


def _train(student: Any, task: str, data: tuple[Any, Any, Any, Any], *, epochs: int, temperature: float,
           lr: float, batch_size: int, size: float, seed: int, bars: bool) -> tuple[list[float], list[float]]:
    import torch
    from rich.console import Console
    from rich.progress import Progress

    x_train, y_train, x_hold, y_hold = data
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    steps = (len(x_train) + batch_size - 1) // batch_size
    train_loss: list[float] = []
    held_loss: list[float] = []
    console = Console(stderr=True)
    with Progress(console=console, transient=True, disable=not bars or not console.is_terminal) as bar:
        job = bar.add_task("distilling", total=epochs * steps)
        for epoch in range(epochs):
            student.train()
            order = torch.randperm(len(x_train), generator=generator)
            total = 0.0
            for start in range(0, len(x_train), batch_size):
                idx = order[start:start + batch_size]
                optimizer.zero_grad()
                value = loss(task, student(x_train[idx]), y_train[idx], temperature, size)
                value.backward()
                optimizer.step()
                total += value.item() * len(idx)
                bar.update(job, advance=1, description=f"epoch {epoch + 1}/{epochs} loss {value.item():.4f}")
            train_loss.append(total / len(x_train))
            if len(x_hold):
                held_loss.append(_evaluate(student, task, x_hold, y_hold, temperature=temperature, size=size)[0])
    student.eval()
    return train_loss, held_loss


def distill(teacher: Any, student: Any, images: Any, *, epochs: int = 10, temperature: float = 4.0,
            lr: float = 3e-3, batch_size: int = 64, held_out: float = 0.1,
            card: ModelCard | Mapping[str, Any] | str | Path | None = None,
            input_shape: Sequence[int] | None = None, task: str | None = None, progress: bool = True,
            plot: str | Path | None = None, seed: int = 0) -> DistillReport:
    """Train ``student`` to copy ``teacher`` on unlabeled images; the student is trained in place.

    Args:
        teacher: A ``torch.nn.Module`` (fed the same NCHW float32 tensors as the student) or a
            ``.onnx``/``.tflite`` file run through :func:`edgeinfer.load` and its card's
            preprocessing, as on the device.
        student: A ``torch.nn.Module`` taking ``(N, C, H, W)`` float32 and giving the teacher's
            output shape (classification logits ``[N, classes]``, or a YOLO head
            ``[N, 4 + classes, anchors]`` with sigmoid scores).
        images: Unlabeled images: a folder or glob, a list of paths/frames, or an array of
            uint8 frames ``(N, H, W, 3)`` BGR (``(N, H, W)`` gray).
        epochs: Passes over the training images.
        temperature: Softmax temperature ``T`` of the classification loss.
        lr: Adam learning rate.
        batch_size: Images per step.
        held_out: Fraction of the images held back to measure agreement (0 for none).
        card: The card whose ``preprocess`` makes the tensors: overrides a teacher file's own
            card; for a torch teacher the only source (default: the default card).
        input_shape: ``(1, C, H, W)``; a teacher file's input by default.
        task: ``classification`` or ``detection``; default from the card, else the output rank.
        progress: Show progress bars (rich, on stderr, on a terminal only).
        plot: Write the loss per epoch to this PNG.
        seed: Seed of the held-out split and the batch order.

    Returns:
        A :class:`DistillReport`.

    Raises:
        ConfigError: bad option values, no images, a student that cannot run on the input
            or whose output shape differs from the teacher's, an unsupported output layout.
        ModelError: a teacher file that cannot be loaded or has several outputs.
        MissingDependencyError: matplotlib is missing and ``plot`` was asked for.
    """
    import torch

    started = time.perf_counter()
    _check_numbers(epochs, temperature, lr, batch_size, held_out)
    bars = _progress_factory(progress)
    items = image_items(images)
    wrapped = open_teacher(teacher, resolve_card(card))
    try:
        chw = _input_chw(wrapped.chw, input_shape, wrapped.card)
    except ConfigError:
        wrapped.close()
        raise
    x, raw = label_images(items, wrapped, chw, bars)
    kind = _task(task, wrapped.card, raw.shape)
    y = as_logits(raw, kind)
    _check_student(student, x, y.shape)
    train_idx, hold_idx = _split(len(x), held_out, seed)
    if len(train_idx) < 1:
        raise ConfigError(f"images: {len(x)} image(s) leave none to train on; give more images")
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    data = (xt[train_idx], yt[train_idx], xt[hold_idx], yt[hold_idx])
    size = float(max(chw[1:]))
    train_loss, held_loss = _train(student, kind, data, epochs=epochs, temperature=temperature, lr=lr,
                                   batch_size=batch_size, size=size, seed=seed, bars=progress)
    agree: dict[str, float] = {}
    if len(hold_idx):
        _, outs = _evaluate(student, kind, data[2], data[3], temperature=temperature, size=size)
        agree = agreement(kind, outs, y[hold_idx])
    plot_path = plot_losses(plot, train_loss, held_loss, kind) if plot is not None else None
    return DistillReport(
        task=kind, epochs=epochs, temperature=temperature, train_images=len(train_idx),
        held_out_images=len(hold_idx), train_loss=tuple(train_loss), held_out_loss=tuple(held_loss),
        agreement=agree, teacher_params=wrapped.params,
        student_params=sum(int(p.numel()) for p in student.parameters()), input_shape=(1, *chw),
        plot=plot_path, duration_s=time.perf_counter() - started, card=wrapped.card,
    )
