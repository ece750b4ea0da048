"""Frame sources: the first stage of ``sources -> preprocess -> backend -> postprocess -> sinks``.

One URI-style argument picks the kind (:func:`resolve_uri`)::

    0, "0", "/dev/video0"         camera     V4L2 on Linux (OpenCV)
    "clip.mp4"                    file       every frame, ends (or loops)
    "rtsp://...", "http(s)://..." stream     FFMPEG, reconnects
    "gst:<pipeline> ! appsink"    gstreamer  needs an OpenCV built with GStreamer
    "images/", "images/*.jpg"     images     sorted, every image
    "picam:0"                     picamera2  Raspberry Pi camera modules

:class:`~edgeinfer.sources.replay.ReplaySource` (registry key ``replay``) is the fake
camera for tests. Implementations are imported on first use, so importing this package
imports neither OpenCV nor picamera2.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import SourceError
from edgeinfer.registry import Registry
from edgeinfer.sources.base import POLICIES, Backoff, FrameReader, Source, SourceInfo, SourceOptions, SourceStats

if TYPE_CHECKING:
    from edgeinfer.sources.replay import ReplaySource

__all__ = [
    "POLICIES", "Backoff", "FrameReader", "ReplaySource", "Source", "SourceInfo", "SourceOptions", "SourceStats",
    "open_source", "registry", "resolve_uri",
]

registry: Registry[Any] = Registry("source", entry_point_group="edgeinfer.sources")
_CV = {"extra": "camera", "package": "opencv-python-headless"}
registry.register("camera", "edgeinfer.sources.camera:CameraSource", **_CV)
registry.register("file", "edgeinfer.sources.file:FileSource", **_CV)
registry.register("stream", "edgeinfer.sources.stream:StreamSource", **_CV)
registry.register("gstreamer", "edgeinfer.sources.gstreamer:GStreamerSource", **_CV)
registry.register("images", "edgeinfer.sources.images:ImagesSource", **_CV)
registry.register("picamera2", "edgeinfer.sources.picamera2:Picamera2Source",
                  extra="camera", package="picamera2")
registry.register("replay", "edgeinfer.sources.replay:ReplaySource")

STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def resolve_uri(uri: str | int | Path) -> tuple[str, str]:
    """Return ``(kind, target)`` for a source argument, without opening anything.

    Examples:
        >>> resolve_uri(0), resolve_uri("/dev/video2"), resolve_uri("gst:videotestsrc ! appsink")
        (('camera', '0'), ('camera', '/dev/video2'), ('gstreamer', 'videotestsrc ! appsink'))
        >>> resolve_uri("rtsp://cam.local/live"), resolve_uri("picam:1")
        (('stream', 'rtsp://cam.local/live'), ('picamera2', '1'))

    Raises:
        SourceError: a path that does not exist.
    """
    if isinstance(uri, bool):
        raise SourceError(f"Bad source {uri!r}: pass a camera index, a path or a URL")
    text = str(uri).strip()
    scheme = re.match(r"^([a-z][a-z0-9+.-]*):", text, flags=re.IGNORECASE)
    prefix = scheme.group(1).lower() if scheme else ""
    kind, target = "", text
    if isinstance(uri, int) or text.isdigit() or re.fullmatch(r"/dev/video\d+", text):
        kind = "camera"
    elif prefix == "gst":
        kind, target = "gstreamer", text[4:].strip()
    elif prefix == "picam":
        kind, target = "picamera2", text[6:].strip() or "0"
    elif prefix in STREAM_SCHEMES and text[len(prefix):].startswith("://"):
        kind = "stream"
    elif prefix == "file" and text.startswith("file://"):
        return resolve_uri(text[len("file://"):])
    return (kind, target) if kind else _resolve_path(text)


def _resolve_path(text: str) -> tuple[str, str]:
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?["):
        return "images", str(path)
    if path.is_dir():
        return "images", str(path)
    if path.is_file():
        return ("images" if path.suffix.lower() in IMAGE_SUFFIXES else "file"), str(path)
    if text.startswith("/dev/"):
        return "camera", text
    raise SourceError(
        f"Source {text!r} is not a camera, URL or existing path. Use a camera index (0), /dev/videoN, "
        "rtsp:// or http(s):// URL, gst:<pipeline>, picam:N, a video file, a folder or a glob of images"
    )


def open_source(
    uri: str | int | Path, *, width: int | None = None, height: int | None = None, fps: float | None = None,
    policy: str | None = None, loop: bool = False, name: str = "default", backoff: Backoff | None = None,
    open_timeout_s: float = 0.0,
) -> Source:
    """Open a camera, stream, file, GStreamer pipeline, image folder or Pi camera.

    Args:
        uri: See :func:`resolve_uri` (``0``, ``/dev/video0``, ``clip.mp4``, ``rtsp://...``,
            ``gst:...``, ``images/*.jpg``, ``picam:0``).
        width: Requested frame width, pixels, where the device supports it.
        height: Requested frame height, pixels.
        fps: Requested frame rate.
        policy: ``latest`` (default for live sources: only the newest frame, drops counted)
            or ``every`` (default for files and folders: no frame skipped).
        loop: Start files and folders again when they end.
        name: Stream name stamped on every frame.
        backoff: Reconnection waits of live sources (0.5 s doubling to 30 s by default).
        open_timeout_s: Keep retrying the first open of a live source this long, seconds.

    Returns:
        An open :class:`Source`, built by the registered class of the kind as
        ``cls(target, SourceOptions(...))``; close it (or use ``with``) to release the device.

    Raises:
        SourceError: it cannot be opened; the message says what to check.
        MissingDependencyError: OpenCV or picamera2 is not installed.
        ConfigError: unknown policy.
    """
    kind, target = resolve_uri(uri)
    cls = registry.get(kind)
    options = SourceOptions(width=width, height=height, fps=fps, policy=policy, loop=loop, name=name,
                            backoff=backoff or Backoff(), open_timeout_s=open_timeout_s)
    source: Source = cls(target, options)
    return source


def __getattr__(name: str) -> Any:
    if name == "ReplaySource":
        from edgeinfer.sources.replay import ReplaySource

        return ReplaySource
    raise AttributeError(f"module 'edgeinfer.sources' has no attribute {name!r}")
