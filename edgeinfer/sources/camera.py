"""USB and built-in cameras: ``0`` or ``/dev/video0`` (V4L2 on Linux, OpenCV's default elsewhere).

Live: a camera that is unplugged or stops delivering is closed and reopened with capped
exponential backoff until it comes back; the pipeline never crashes on it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2

from edgeinfer.sources._opencv import OpenCVReader
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["CameraSource", "camera_open_error"]

LIST_HINT = "list the cameras with `v4l2-ctl --list-devices` (package v4l-utils)"


def camera_open_error(device: str) -> str:
    """Explain why a V4L2 device could not be opened and what to check.

    Args:
        device: The device path, e.g. ``/dev/video0``.
    """
    path = Path(device)
    if not path.exists():
        return (f"Camera {device} not found: no such device. Check the cable or ribbon and that the "
                f"driver is loaded, and {LIST_HINT}.")
    if not os.access(path, os.R_OK | os.W_OK):
        return (f"Camera {device}: permission denied. Add the user to the 'video' group "
                "(`sudo usermod -aG video $USER`, then log in again) or run with access to the device.")
    return (f"Camera {device} exists but could not be opened: is it in use by another process "
            f"(`fuser {device}`)? Is it a capture node and not a metadata node? {LIST_HINT}, and "
            f"`v4l2-ctl -d {device} --list-formats-ext` for its formats.")


class _CameraReader(OpenCVReader):
    def open_error(self) -> str:
        if sys.platform.startswith("linux"):
            return camera_open_error(self.description.removeprefix("camera "))
        return f"Cannot open camera {self.target}: check that it is connected and not used by another app"


def _device(target: int | str) -> tuple[int | str, int, str]:
    """Return (OpenCV target, backend, device name) for ``0``, ``"0"`` or ``/dev/video0``."""
    text = str(target)
    if not sys.platform.startswith("linux"):
        index = int(text) if text.isdigit() else text
        return index, cv2.CAP_ANY, text
    device = f"/dev/video{text}" if text.isdigit() else text
    return device, cv2.CAP_V4L2, device


class CameraSource(CaptureSource):
    """Frames from a local camera.

    Args:
        device: Camera index (``0``) or V4L2 device path (``/dev/video0``).
        options: ``width``, ``height`` and ``fps`` are applied with ``cap.set`` (``info`` has
            the actual values); policy ``latest`` by default (``every`` keeps every frame the
            driver delivers); ``loop`` is unused.

    Raises:
        SourceError: the camera cannot be opened; the message names the device and what to
            check (existence, ``video`` group, another process holding it).
    """

    def __init__(self, device: int | str = 0, options: SourceOptions | None = None) -> None:
        options = options or SourceOptions()
        target, api, shown = _device(device)
        reader = _CameraReader(target, api, live=True, description=f"camera {shown}",
                               width=options.width, height=options.height, fps=options.fps)
        super().__init__(reader, kind="camera", uri=shown, options=options)
