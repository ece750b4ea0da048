"""Video sink: annotated frames to an MP4/AVI file or to a folder of images.

This sink needs pixels: the pipeline passes ``frame=`` (the BGR frame) and ``result=``
(the result object) along with the envelope, and the frame is drawn with
:func:`edgeinfer.annotate.draw`. Without a ``result`` the frame is written as it is. Zones
and lines sent with ``send_counts`` are drawn too, with their counts
(:func:`edgeinfer.overlay.draw_regions`).

``path`` ending in ``.mp4``, ``.avi``, ``.mkv`` or ``.mov`` is a video file; the
placeholder ``{stream}`` gives one file per stream (``out/{stream}.mp4``), otherwise
every stream goes to the same file and frames are resized to the first frame's size.
Any other ``path`` is a folder that receives ``<stream>_<frame_index>.jpg`` files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from edgeinfer.errors import ConfigError, MissingDependencyError, SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig

__all__ = ["VideoSink", "VideoSinkConfig"]

_VIDEO_SUFFIXES = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}


class VideoSinkConfig(SinkConfig):
    """Write annotated frames to an MP4 file or a folder of images."""

    type: Literal["video"] = "video"
    path: Path
    fps: float = Field(15.0, gt=0)


class VideoSink(BaseSink):
    """Write annotated frames.

    Args:
        path: Video file (``.mp4``, ``.avi``, ``.mkv``, ``.mov``; may contain ``{stream}``)
            or a folder for image files. Parent folders are created.
        fps: Frame rate written into video files, frames per second.
        image_format: Image file extension in folder mode (``jpg`` or ``png``).

    Raises:
        ConfigError: ``fps`` is not positive or the image format is unknown.
        MissingDependencyError: OpenCV is not installed (extra ``camera``).
    """

    Config: ClassVar[type[VideoSinkConfig]] = VideoSinkConfig
    draws: ClassVar[bool] = True  # gets every frame, also when a stream publishes only events

    def __init__(self, path: str | Path, *, fps: float = 15.0, image_format: str = "jpg") -> None:
        super().__init__()
        try:
            import cv2
        except ImportError as exc:
            raise MissingDependencyError("opencv-python-headless", "camera", "the video sink") from exc
        if not fps > 0:
            raise ConfigError(f"video fps must be positive, got {fps!r}")
        if image_format not in ("jpg", "png"):
            raise ConfigError(f"video image_format must be 'jpg' or 'png', got {image_format!r}")
        self._cv2 = cv2
        self.path = str(path)
        self.fps = float(fps)
        self.image_format = image_format
        self.is_video = Path(self.path).suffix.lower() in _VIDEO_SUFFIXES
        self._writers: dict[str, tuple[Any, tuple[int, int]]] = {}  # file -> (writer, size_wh)
        self._regions: dict[str, dict[str, dict[str, Any]]] = {}  # stream -> zone/line name -> counts
        self._closed = False

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """Keep a zone's or line's latest counts, drawn on the stream's next frames."""
        self._regions.setdefault(stream, {})[name] = counts

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Draw ``result`` on ``frame`` and write it.

        Raises:
            SinkError: no frame was given, the sink is closed, or the file cannot be written.
        """
        if self._closed:
            raise SinkError("The video sink is closed")
        if frame is None:
            self._counters.add("errors")
            raise SinkError("The video sink needs the frame: call send(envelope, frame=..., result=...)")
        regions = self._regions.get(str(envelope.get("stream", "")))
        if regions:
            from edgeinfer.overlay import draw_regions

            frame = draw_regions(frame, regions.values())
        if result is not None:
            from edgeinfer.annotate import draw

            frame = draw(frame, result)
        stream = re.sub(r"[^A-Za-z0-9_.-]", "_", str(envelope.get("stream", "stream")))
        if self.is_video:
            self._write_video(stream, frame)
        else:
            self._write_image(stream, int(envelope.get("frame_index", 0)), frame)
        self._counters.add("sent")

    def _write_video(self, stream: str, frame: np.ndarray) -> None:
        file = self.path.replace("{stream}", stream)
        if file not in self._writers:
            height, width = frame.shape[:2]
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            fourcc = self._cv2.VideoWriter.fourcc(*_VIDEO_SUFFIXES[Path(file).suffix.lower()])
            writer = self._cv2.VideoWriter(file, fourcc, self.fps, (width, height))
            if not writer.isOpened():
                self._counters.add("errors")
                raise SinkError(f"Cannot open {file} for writing video; check the folder and the codec")
            self._writers[file] = (writer, (width, height))
        writer, size_wh = self._writers[file]
        if (frame.shape[1], frame.shape[0]) != size_wh:
            frame = self._cv2.resize(frame, size_wh)
        writer.write(np.ascontiguousarray(frame))

    def _write_image(self, stream: str, frame_index: int, frame: np.ndarray) -> None:
        folder = Path(self.path)
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"{stream}_{frame_index:06d}.{self.image_format}"
        if not self._cv2.imwrite(str(file), frame):
            self._counters.add("errors")
            raise SinkError(f"Cannot write the image {file}")

    def close(self) -> None:
        """Finish the video files (an MP4 is unreadable until this runs)."""
        self._closed = True
        writers, self._writers = self._writers, {}
        for writer, _ in writers.values():
            writer.release()
