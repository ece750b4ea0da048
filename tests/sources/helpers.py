"""Real test media: videos written with cv2.VideoWriter and photos from skimage.data."""

from __future__ import annotations

from pathlib import Path

import numpy as np

BITS = 16  # two rows of 8 black/white blocks: survives lossy mp4v coding


def index_frames(count: int, size_wh: tuple[int, int] = (96, 64), start: int = 0) -> list[np.ndarray]:
    """BGR frames whose index (``start + i``) is drawn as 16 black/white blocks."""
    w, h = size_wh
    frames = []
    for i in range(start, start + count):
        image = np.zeros((h, w, 3), np.uint8)
        for bit in range(BITS):
            if (i >> bit) & 1:
                row, col = divmod(bit, 8)
                image[row * h // 2:(row + 1) * h // 2, col * w // 8:(col + 1) * w // 8] = 255
        frames.append(image)
    return frames


def decode_index(image: np.ndarray) -> int:
    """The index drawn by :func:`index_frames`."""
    h, w = image.shape[:2]
    value = 0
    for bit in range(BITS):
        row, col = divmod(bit, 8)
        block = image[row * h // 2:(row + 1) * h // 2, col * w // 8:(col + 1) * w // 8]
        # Block centres only: codec ringing blurs the edges.
        bh, bw = block.shape[:2]
        if block[bh // 4:3 * bh // 4, bw // 4:3 * bw // 4].mean() > 127:
            value |= 1 << bit
    return value


def write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Write ``frames`` as an MPEG-4 Part 2 (mp4v) video and return its path."""
    import cv2

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cv2.VideoWriter cannot write {path}")
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    return path


def photos() -> dict[str, np.ndarray]:
    """Real photos from skimage.data as BGR uint8 (grey ones expanded to 3 channels)."""
    import cv2
    from skimage import data

    out = {}
    for name in ("astronaut", "camera", "chelsea", "coffee"):
        image = getattr(data, name)()
        code = cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR
        out[name] = np.ascontiguousarray(cv2.cvtColor(image, code))
    return out
