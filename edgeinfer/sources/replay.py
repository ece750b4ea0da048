"""``ReplaySource``: a fake camera for tests, shipped with the package (like httpx's MockTransport).

It replays a list of arrays or a video file. With ``realtime=True`` it paces frames at
``fps`` and behaves like a live camera (``latest`` policy by default, reconnection);
``disconnect_at`` and ``failed_reconnects`` simulate a camera that drops and comes back.

>>> import numpy as np
>>> frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
>>> with ReplaySource(frames) as source:
...     [int(f.image[0, 0, 0]) for f in source]
[0, 1, 2]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.errors import SourceError
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["ReplaySource"]


class _ReplayReader:
    def __init__(self, frames: Sequence[np.ndarray] | str | Path, *, fps: float, realtime: bool,
                 disconnect_at: Collection[int], failed_reconnects: int, loop: bool) -> None:
        self.live = realtime
        self.loop = loop
        self.ended = False
        self.description = f"replay {frames}" if isinstance(frames, str | Path) else "replay"
        self.fps = fps
        self._frames = frames
        self._pending_drops = sorted(set(disconnect_at))
        self._failed_reconnects = failed_reconnects
        self._failures_left = 0
        self._position = 0
        self._cap: Any = None
        self._next_due = 0.0
        self._lock = threading.Lock()
        self.opens = 0

    def open(self) -> None:
        with self._lock:
            if self._failures_left > 0:
                self._failures_left -= 1
                raise SourceError(f"{self.description}: simulated camera still away")
            self.opens += 1
            if not self.live:
                self._position = 0
            if isinstance(self._frames, str | Path):
                self._open_video(Path(self._frames))
            self._next_due = time.monotonic()

    def _open_video(self, path: Path) -> None:
        import cv2

        self._close_video()
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"Cannot open the video {path} for replay; check the path")
        if self._position:
            cap.set(cv2.CAP_PROP_POS_FRAMES, self._position)
        self._cap = cap

    def _next(self) -> np.ndarray | None:
        if self._cap is not None:
            ok, image = self._cap.read()
            return image if ok else None
        frames: Any = self._frames
        if self._position >= len(frames):
            return None
        return np.asarray(frames[self._position])

    def read(self) -> np.ndarray | None:
        if self._pending_drops and self._position >= self._pending_drops[0]:
            self._pending_drops.pop(0)
            self._failures_left = self._failed_reconnects
            return None  # the simulated disconnect
        image = self._next()
        if image is None and self.live and self.loop:
            self._position = 0
            if self._cap is not None:
                self._open_video(Path(str(self._frames)))
            image = self._next()
        if image is None:
            self.ended = True
            return None
        self._position += 1
        if self.live:
            self._pace()
        return image

    def _pace(self) -> None:
        self._next_due += 1.0 / self.fps
        delay = self._next_due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            self._next_due = time.monotonic()  # late: do not burst to catch up

    def _close_video(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def close(self) -> None:
        self._close_video()

    def size_fps(self) -> tuple[int, int, float, int | None]:
        if isinstance(self._frames, str | Path):
            import cv2

            cap = cv2.VideoCapture(str(self._frames), cv2.CAP_FFMPEG)
            try:
                w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
                return w, h, self.fps, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            finally:
                cap.release()
        if not self._frames:
            return 0, 0, self.fps, 0
        h, w = np.shape(self._frames[0])[:2]
        return int(w), int(h), self.fps, len(self._frames)


class ReplaySource(CaptureSource):
    """Replays frames as a source; optionally paced and disconnecting like a real camera.

    Args:
        frames: ``(H, W, 3)`` uint8 BGR arrays, or the path of a video file.
        options: ``fps`` is the pacing rate with ``realtime=True`` (default 30); policy
            ``latest`` when ``realtime`` else ``every``; ``loop`` replays from the start
            after the last frame; use a small ``backoff`` in tests. ``width`` and ``height``
            are not applied. Default: ``SourceOptions(name="replay")``.
        realtime: Pace frames at ``fps`` and act as a live source (``latest`` policy,
            reconnection after simulated drops); it still ends after the last frame unless ``loop``.
        disconnect_at: Frame positions (0-based) before which the fake camera drops once.
        failed_reconnects: Reconnection attempts that fail after each drop before it recovers.
        **fields: :class:`SourceOptions` fields that replace those of ``options``, so a test
            can write ``ReplaySource(frames, fps=200, realtime=True)``.

    Attributes:
        reader_opens: How many times the underlying capture was opened (1 + reconnections).

    Raises:
        SourceError: ``fps`` is not positive.
        TypeError: a keyword in ``fields`` is not a :class:`SourceOptions` field.
    """

    def __init__(self, frames: Sequence[np.ndarray] | str | Path, options: SourceOptions | None = None, *,
                 realtime: bool = False, disconnect_at: Collection[int] = (), failed_reconnects: int = 0,
                 **fields: Any) -> None:
        options = replace(options or SourceOptions(name="replay"), **fields)
        if options.fps is not None and options.fps <= 0:
            raise SourceError(f"ReplaySource fps must be > 0, got {options.fps}")
        self._replay = _ReplayReader(frames, fps=options.fps or 30.0, realtime=realtime,
                                     disconnect_at=disconnect_at, failed_reconnects=failed_reconnects,
                                     loop=options.loop)
        super().__init__(self._replay, kind="replay", uri=self._replay.description,
                         options=replace(options, loop=options.loop and not realtime))

    @property
    def reader_opens(self) -> int:
        """How many times the underlying fake capture was opened."""
        return self._replay.opens
