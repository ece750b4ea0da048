"""The result of :func:`converters.distill.distill`, and its loss plot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeinfer.card import ModelCard
from edgeinfer.errors import MissingDependencyError

__all__ = ["DistillReport", "plot_losses"]


@dataclass(frozen=True)
class DistillReport:
    """What a distillation did and how close the student came.

    Attributes:
        task: ``classification`` or ``detection`` (chooses loss and agreement).
        epochs: Epochs trained.
        temperature: Softmax temperature (classification).
        train_images: Images the student was trained on.
        held_out_images: Images held back for ``agreement`` and ``held_out_loss``.
        train_loss: Mean training loss per epoch.
        held_out_loss: Loss on the held-back images after each epoch (empty without any).
        agreement: Student/teacher agreement on the held-back images:
            ``{"top1": %}`` for classification; ``score_corr``, ``box_iou``,
            ``class_agreement`` for detection (:mod:`converters.distill.losses`).
        teacher_params: The teacher's parameter count (``None`` for a TFLite file).
        student_params: The student's parameter count.
        input_shape: The student's input, ``(1, C, H, W)``.
        plot: The loss PNG, when one was written.
        duration_s: Wall time of the whole call.
        card: The teacher's card (without its conversion record), for the student's artifacts.
    """

    task: str
    epochs: int
    temperature: float
    train_images: int
    held_out_images: int
    train_loss: tuple[float, ...]
    held_out_loss: tuple[float, ...]
    agreement: dict[str, float]
    teacher_params: int | None
    student_params: int
    input_shape: tuple[int, ...]
    plot: str | None = None
    duration_s: float = 0.0
    card: ModelCard = field(default_factory=ModelCard, repr=False)

    @property
    def param_ratio(self) -> float | None:
        """Student parameters / teacher parameters (``None`` when the teacher's are unknown)."""
        return self.student_params / self.teacher_params if self.teacher_params else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the card)."""
        return {
            "task": self.task, "epochs": self.epochs, "temperature": self.temperature,
            "train_images": self.train_images, "held_out_images": self.held_out_images,
            "train_loss": list(self.train_loss), "held_out_loss": list(self.held_out_loss),
            "agreement": dict(self.agreement), "teacher_params": self.teacher_params,
            "student_params": self.student_params, "param_ratio": self.param_ratio,
            "input_shape": list(self.input_shape), "plot": self.plot, "duration_s": self.duration_s,
        }

    def summary(self) -> str:
        """One line for a terminal."""
        agree = ", ".join(f"{k} {v:.3g}" for k, v in self.agreement.items()) or "no held-out images"
        ratio = f" ({self.param_ratio:.2f}x)" if self.param_ratio is not None else ""
        return (f"{self.task}: {self.epochs} epochs on {self.train_images} images, final loss "
                f"{self.train_loss[-1]:.4g}; agreement on {self.held_out_images} held-out images: {agree}; "
                f"student {self.student_params:,} params{ratio}")


def plot_losses(path: str | Path, train: list[float], held_out: list[float], task: str) -> str:
    """Write the loss per epoch as a PNG (matplotlib, Agg canvas; no pyplot state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError("matplotlib", "plot", "the distillation loss plot") from exc
    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    epochs = list(range(1, len(train) + 1))
    axes.plot(epochs, train, marker="o", label="train")
    if held_out:
        axes.plot(epochs, held_out, marker="s", label="held out")
    axes.set_xlabel("epoch")
    axes.set_ylabel("distillation loss")
    axes.set_title(f"student vs teacher ({task})")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(str(path))
    return str(path)
