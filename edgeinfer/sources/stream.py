"""Network streams (``rtsp://``, ``http(s)://`` MJPEG/HLS ...) through OpenCV's FFMPEG backend.

Live: a dropped connection, a failed read or the end of the stream is a disconnect; the
source reconnects with capped exponential backoff and keeps going.
"""

from __future__ import annotations

import re

import cv2

from edgeinfer.sources._opencv import OpenCVReader
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["StreamSource", "redact_url"]


def redact_url(url: str) -> str:
    """Hide a password in ``scheme://user:password@host`` so it never reaches a log.

    >>> redact_url("rtsp://admin:secret@10.0.0.5/live")
    'rtsp://admin:***@10.0.0.5/live'
    """
    return re.sub(r"^([a-z0-9+.-]+://[^:/@]+):[^@/]*@", r"\1:***@", url, flags=re.IGNORECASE)


class _StreamReader(OpenCVReader):
    def open_error(self) -> str:
        return (f"Cannot open the stream {self.description}: check the URL, that the camera or server is "
                "reachable from here (ping, `ffprobe URL`), and the credentials in the URL")


class StreamSource(CaptureSource):
    """Frames from an RTSP/HTTP stream (or any URL or path FFMPEG opens), reconnecting after drops.

    Args:
        url: Stream URL (``rtsp://user:pass@host/path``, ``http://host/video.mjpg``).
        options: ``width``, ``height`` and ``fps`` are applied where the backend supports
            them; policy ``latest`` by default (newest frame first; ``every`` keeps all
            frames); ``open_timeout_s`` keeps retrying the first connection; ``loop`` is
            unused (streams reconnect instead of ending).

    Raises:
        SourceError: the stream cannot be opened (within ``open_timeout_s``).
    """

    def __init__(self, url: str, options: SourceOptions | None = None) -> None:
        options = options or SourceOptions()
        shown = redact_url(url)
        reader = _StreamReader(url, cv2.CAP_FFMPEG, live=True, description=f"stream {shown}",
                               width=options.width, height=options.height, fps=options.fps)
        super().__init__(reader, kind="stream", uri=shown, options=options)
