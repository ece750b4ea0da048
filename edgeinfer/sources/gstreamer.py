"""GStreamer pipelines (``gst:<pipeline>``), e.g. Jetson CSI cameras through ``nvarguscamerasrc``.

The pipeline must end in an ``appsink``; OpenCV's GStreamer backend reads BGR frames
from it. Live: reconnects with backoff like a camera.
"""

from __future__ import annotations

import cv2

from edgeinfer.errors import SourceError
from edgeinfer.sources._opencv import OpenCVReader, has_gstreamer
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["GStreamerSource", "JETSON_CSI_EXAMPLE"]

JETSON_CSI_EXAMPLE = (
    "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
    "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
    "appsink drop=true max-buffers=1"
)

NO_GSTREAMER = (
    "This OpenCV build has no GStreamer support (cv2.getBuildInformation() says 'GStreamer: NO'), "
    "so 'gst:' sources cannot be opened. The pip wheels (opencv-python*) are built without it: on a "
    "Jetson or Raspberry Pi use the distribution's OpenCV (`sudo apt install python3-opencv`; JetPack "
    "ships one built with GStreamer), create the virtualenv with --system-site-packages and "
    "`pip uninstall opencv-python-headless` so the system cv2 is imported."
)


class _GStreamerReader(OpenCVReader):
    def open_error(self) -> str:
        return (f"Cannot start the GStreamer pipeline {self.target!r}: test it with `gst-launch-1.0 "
                f"{self.target}` (replace appsink by fakesink), and check that it ends in "
                "'! video/x-raw,format=BGR ! appsink'")


class GStreamerSource(CaptureSource):
    """Frames from a GStreamer pipeline string.

    Args:
        pipeline: The pipeline, ending in ``appsink`` (without the ``gst:`` prefix).
        options: ``width``, ``height`` and ``fps`` are requested with ``cap.set`` (set them
            in the pipeline caps instead); policy ``latest`` by default; ``loop`` is unused.

    Raises:
        SourceError: OpenCV lacks GStreamer (with how to fix it), or the pipeline fails.
    """

    def __init__(self, pipeline: str, options: SourceOptions | None = None) -> None:
        options = options or SourceOptions()
        pipeline = pipeline.removeprefix("gst:").strip()
        if not has_gstreamer():
            raise SourceError(NO_GSTREAMER)
        reader = _GStreamerReader(pipeline, cv2.CAP_GSTREAMER, live=True, description=f"gstreamer {pipeline}",
                                  width=options.width, height=options.height, fps=options.fps)
        super().__init__(reader, kind="gstreamer", uri=f"gst:{pipeline}", options=options)
