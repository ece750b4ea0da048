"""Raspberry Pi camera modules (``picam:0``) through the ``picamera2`` package (libcamera).

``picamera2`` is installed with the OS (``sudo apt install python3-picamera2``), not
from PyPI; the virtualenv needs ``--system-site-packages`` to see it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgeinfer.errors import MissingDependencyError, SourceError
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["Picamera2Source"]

DEFAULT_SIZE_WH = (1280, 720)


def _import_picamera2() -> Any:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise MissingDependencyError(
            "picamera2", "camera",
            "Raspberry Pi camera modules; it comes with Raspberry Pi OS: `sudo apt install "
            "python3-picamera2` and a virtualenv made with --system-site-packages",
        ) from exc
    return Picamera2


class _PicameraReader:
    live = True
    ended = False

    def __init__(self, index: int, width: int | None, height: int | None, fps: float | None) -> None:
        self.index = index
        self.description = f"Raspberry Pi camera {index}"
        self.size_wh = (width or DEFAULT_SIZE_WH[0], height or DEFAULT_SIZE_WH[1])
        self.fps = fps
        self._camera: Any = None

    def open(self) -> None:
        picamera2_cls = _import_picamera2()
        self.close()
        try:
            camera = picamera2_cls(self.index)
            controls = {"FrameRate": float(self.fps)} if self.fps else {}
            # "RGB888" in libcamera terms is B, G, R byte order in memory: OpenCV's BGR.
            config = camera.create_video_configuration(
                main={"size": self.size_wh, "format": "RGB888"}, controls=controls)
            camera.configure(config)
            camera.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(
                f"Cannot open {self.description}: {exc}. Check the ribbon cable, "
                "`rpicam-hello --list-cameras`, "
                "and that no other process (rpicam-*, another edgeinfer) holds the camera"
            ) from exc
        self._camera = camera

    def read(self) -> np.ndarray | None:
        if self._camera is None:
            return None
        try:
            image = self._camera.capture_array("main")
        except (RuntimeError, OSError):
            return None
        return np.ascontiguousarray(image[:, :, :3])

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
            finally:
                camera.close()

    def size_fps(self) -> tuple[int, int, float, int | None]:
        return self.size_wh[0], self.size_wh[1], float(self.fps or 0.0), None


class Picamera2Source(CaptureSource):
    """Frames from a Raspberry Pi camera module.

    Args:
        camera: ``picam:N`` or the camera number ``N``.
        options: ``width`` and ``height`` default to 1280 x 720; ``fps`` sets the
            ``FrameRate`` control; policy ``latest`` by default; ``loop`` is unused.

    Raises:
        MissingDependencyError: ``picamera2`` is not importable.
        SourceError: the camera cannot be started.
    """

    def __init__(self, camera: int | str = 0, options: SourceOptions | None = None) -> None:
        options = options or SourceOptions()
        text = str(camera).removeprefix("picam:") or "0"
        if not text.isdigit():
            raise SourceError(f"Bad Raspberry Pi camera {camera!r}: use picam:0, picam:1, ...")
        _import_picamera2()
        reader = _PicameraReader(int(text), options.width, options.height, options.fps)
        super().__init__(reader, kind="picamera2", uri=f"picam:{text}", options=options)
