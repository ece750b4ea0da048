"""Real photos (scikit-image sample data) as BGR camera frames."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")
skimage_data = pytest.importorskip("skimage.data")


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """astronaut 512x512, chelsea 451x300 and coffee 600x400, as (H, W, 3) uint8 BGR."""
    return {
        "astronaut": _bgr(skimage_data.astronaut()),
        "chelsea": _bgr(skimage_data.chelsea()),
        "coffee": _bgr(skimage_data.coffee()),
    }
