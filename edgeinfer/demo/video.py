"""Render the demo's stand-in camera: unseen digits, each held for a few frames, with noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["render_video"]


def render_video(path: Path, images_8x8: np.ndarray, labels: np.ndarray, *, frames: int = 240, hold: int = 6,
                 size_wh: tuple[int, int] = (640, 480), fps: float = 24.0, seed: int = 0) -> list[int]:
    """Write an MP4 of digits (centred, filling the frame's height) and their labels beside it.

    Args:
        path: Output ``.mp4``; the ground truth goes to ``<path>.json``.
        images_8x8: Test digits, ``(N, 8, 8)`` values 0..16, never seen in training.
        labels: Their labels, ``(N,)``.
        frames: Video length in frames.
        hold: Frames each digit stays on screen.
        size_wh: Frame width and height, pixels.
        fps: Frame rate written in the file.
        seed: Noise seed.

    Returns:
        The label of every frame, in order.
    """
    import cv2

    from edgeinfer.demo.digits import render_digit

    w, h = size_wh
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    truth = []
    try:
        for i in range(frames):
            k = (i // hold) % len(images_8x8)
            digit = render_digit(images_8x8[k], size=h)
            frame = np.full((h, w, 3), 20, np.uint8)
            x0 = (w - h) // 2
            frame[:, x0:x0 + h] = digit[..., None]
            noise = rng.normal(0, 6, frame.shape)
            frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
            cv2.putText(frame, f"cam {i:04d}", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 200, 255), 1)
            writer.write(frame)
            truth.append(int(labels[k]))
    finally:
        writer.release()
    Path(str(path) + ".json").write_text(json.dumps({"labels": truth, "fps": fps}))
    return truth
