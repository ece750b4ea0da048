"""Train the demo's digit classifier on scikit-learn's bundled 8x8 digits (a minute at most)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeinfer.errors import MissingDependencyError

__all__ = ["DigitsData", "SIZE", "load_digits_data", "render_digit", "train_classifier"]

SIZE = 32  # model input side, pixels


@dataclass(frozen=True)
class DigitsData:
    """Digits as uint8 ``(N, 32, 32)`` images (0..255) with labels, split train/test."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def render_digit(image_8x8: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Scale a 0..16 8x8 digit to a ``size`` x ``size`` uint8 image (0..255), smoothly."""
    import cv2

    scaled = (np.asarray(image_8x8, np.float32) * (255.0 / 16.0)).astype(np.uint8)
    return np.asarray(cv2.resize(scaled, (size, size), interpolation=cv2.INTER_CUBIC))


def load_digits_data(seed: int = 0) -> DigitsData:
    """The 1,797 digits from ``sklearn.datasets.load_digits`` (no download), 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "demo", "the demo's training data") from exc
    digits = load_digits()
    images = np.stack([render_digit(img) for img in digits.images])
    order = np.random.default_rng(seed).permutation(len(images))
    split = int(0.8 * len(images))
    train, test = order[:split], order[split:]
    return DigitsData(images[train], digits.target[train], images[test], digits.target[test])


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
