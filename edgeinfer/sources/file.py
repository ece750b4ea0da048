"""Video files (``clip.mp4``, ``.avi``, ``.mkv`` ...): finite, every frame by default."""

from __future__ import annotations

from pathlib import Path

import cv2

from edgeinfer.errors import SourceError
from edgeinfer.sources._opencv import OpenCVReader
from edgeinfer.sources.base import SourceOptions
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
        options: Policy ``every`` by default (``latest`` decodes as fast as possible and
            drops); ``loop`` starts again from the first frame when the file ends. ``width``,
            ``height`` and ``fps`` are not applied (the preprocessing resizes; no pacing: use
            :class:`ReplaySource` for that), nor ``backoff`` and ``open_timeout_s`` (files do
            not reconnect).

    Raises:
        SourceError: the file is missing or cannot be decoded.
    """

    def __init__(self, path: str | Path, options: SourceOptions | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"Video file {path} does not exist (or is not a file); check the path")
        reader = _FileReader(str(path), cv2.CAP_FFMPEG, live=False, description=f"video file {path}")
        super().__init__(reader, kind="file", uri=str(path), options=options or SourceOptions())
