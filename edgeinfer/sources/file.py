"""Video files (``clip.mp4``, ``.avi``, ``.mkv`` ...): finite, every frame by default."""

from __future__ import annotations

from pathlib import Path

import cv2

from edgeinfer.errors import SourceError
from edgeinfer.sources._opencv import OpenCVReader
from edgeinfer.sources.base import Backoff
from edgeinfer.sources.capture import CaptureSource

__all__ = ["FileSource"]


class _FileReader(OpenCVReader):
    def open_error(self) -> str:
        return (f"Cannot decode the video file {self.target}: OpenCV's FFMPEG backend could not open it. "
                "Check that it is a complete video file (ffprobe FILE) with a codec FFMPEG supports.")


class FileSource(CaptureSource):
    """Frames of a video file, decoded with OpenCV (FFMPEG).

    Args:
        path: Path of the video file.
        width: Not applied to files (the preprocessing resizes); reported only.
        height: Not applied to files.
        fps: Not applied to files (no pacing; use :class:`ReplaySource` for that).
        policy: ``every`` by default; ``latest`` decodes as fast as possible and drops.
        loop: Start again from the first frame when the file ends.
        name: Stream name stamped on every frame.
        backoff: Unused (files do not reconnect); accepted for a uniform signature.
        open_timeout_s: Unused for files.

    Raises:
        SourceError: the file is missing or cannot be decoded.
    """

    def __init__(self, path: str | Path, *, width: int | None = None, height: int | None = None,
                 fps: float | None = None, policy: str | None = None, loop: bool = False,
                 name: str = "default", backoff: Backoff | None = None, open_timeout_s: float = 0.0) -> None:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"Video file {path} does not exist (or is not a file); check the path")
        reader = _FileReader(str(path), cv2.CAP_FFMPEG, live=False, description=f"video file {path}")
        super().__init__(reader, kind="file", uri=str(path), policy=policy, loop=loop, name=name,
                         backoff=backoff)
