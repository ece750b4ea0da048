"""The demo's data: scikit-learn's bundled 8x8 digits, scaled to 32x32 and split train/test.

The runtime half of the demo (the rendered camera video, the accuracy of the int8 models)
and the training in :mod:`converters.demo` read the same split from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeinfer.errors import MissingDependencyError

__all__ = ["DigitsData", "SIZE", "load_digits_data", "render_digit"]

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
