"""The dev-machine half of ``edgeinfer demo``: train the digit classifier and convert it.

Trains a small CNN (PyTorch) on the digits of :mod:`edgeinfer.demo.digits` and converts it
to int8 TFLite and ONNX with :func:`converters.convert`. ``edgeinfer demo`` (a dev-machine
command) passes :func:`build_models` to :func:`edgeinfer.demo.run_demo`, which streams the
artifacts through the runtime, so the runtime package never imports torch or the converters.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from converters.api import convert
from edgeinfer.demo.digits import SIZE, DigitsData, load_digits_data
from edgeinfer.errors import MissingDependencyError

__all__ = ["CARD", "build_models", "train_classifier"]

CARD = {
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "preprocess": {"color": "gray", "resize": "center_crop", "crop_fraction": 1.0, "std": 255},
    "postprocess": {"activation": "softmax", "top_k": 3},
}


def _network() -> Any:
    import torch
    from torch import nn

    class DigitNet(nn.Module):
        """A small CNN: 1x32x32 grey digits -> 10 logits."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
            )
            self.head = nn.Linear(64, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(torch.reshape(self.features(x), (-1, 64)))

    return DigitNet()


def train_classifier(data: DigitsData, *, epochs: int = 12, seed: int = 0, progress: Any = None) -> tuple[Any, float]:
    """Train the CNN on ``data``; returns ``(model in eval mode, float test accuracy)``.

    Args:
        data: The split digits.
        epochs: Passes over the training set.
        seed: Torch seed, for repeatable runs.
        progress: Optional callable ``(epoch, loss)`` after each epoch.
    """
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "convert-torch", "training the demo model") from exc
    torch.manual_seed(seed)
    model = _network()
    x = torch.from_numpy(data.train_images[:, None].astype(np.float32) / 255.0)
    y = torch.from_numpy(data.train_labels.astype(np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=1e-4)
    steps = epochs * ((len(x) + 63) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for start in range(0, len(x), 64):
            idx = order[start:start + 64]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        if progress is not None:
            progress(epoch, total / len(x))
    model.eval()
    with torch.no_grad():
        test_x = torch.from_numpy(data.test_images[:, None].astype(np.float32) / 255.0)
        accuracy = float((model(test_x).argmax(1).numpy() == data.test_labels).mean())
    return model, accuracy


def build_models(out: Path, epochs: int, console: Any) -> dict[str, Any]:
    """Train and convert (steps 1/5 and 2/5), unless a previous run left the artifacts (then reuse them).

    Args:
        out: The demo folder; the artifacts, their reports and ``training.json`` go there.
        epochs: Training epochs.
        console: A ``rich`` console for the progress lines.

    Returns:
        ``{"artifacts": {"tflite": path, "onnx": path}, "training": {...}, "reports": {...}}``,
        what :func:`edgeinfer.demo.run_demo` streams and summarises.
    """
    artifacts = {"tflite": out / "digits_int8.tflite", "onnx": out / "digits_int8.onnx"}
    reports = {k: Path(str(p) + ".report.json") for k, p in artifacts.items()}
    info_path = out / "training.json"
    if all(p.exists() for p in [*artifacts.values(), *reports.values(), info_path]):
        console.print(f"[dim]reusing the models in {out} (delete the folder to start over)[/]")
        return {"artifacts": artifacts, "training": json.loads(info_path.read_text()),
                "reports": {k: json.loads(p.read_text()) for k, p in reports.items()}}
    data = load_digits_data()
    started = time.perf_counter()
    with console.status("[bold]1/5 training a digit classifier on scikit-learn's digits[/]"):
        model, accuracy = train_classifier(data, epochs=epochs)
    training = {"float_accuracy": accuracy, "seconds": round(time.perf_counter() - started, 1),
                "train_images": len(data.train_labels), "test_images": len(data.test_labels)}
    info_path.write_text(json.dumps(training))
    console.print(f"1/5 trained in {training['seconds']} s: float accuracy {accuracy:.1%} on "
                  f"{training['test_images']} unseen digits")
    calibration = [data.train_images[i][None, None].astype(np.float32) / 255.0 for i in range(200)]
    for target, path in artifacts.items():
        console.print(f"2/5 converting to int8 {target} (calibrated on 200 training digits, checked against torch)")
        convert(model, to=target, quantize="int8", calibration=calibration, card=CARD,
                input_shape=(1, 1, SIZE, SIZE), out=path, verbose=False)
    return {"artifacts": artifacts, "training": training,
            "reports": {k: json.loads(p.read_text()) for k, p in reports.items()}}
