"""Event clips: an MP4 per event, from ``pre_s`` before its ``new`` to ``post_s`` after its ``end``.

A :class:`ClipRecorder` sits beside the :class:`~edgeinfer.events.engine.EventEngine` of one
stream (it implements :class:`~edgeinfer.events.engine.ClipRecording`). Every frame goes into a
ring of the last ``pre_s`` seconds; an event's start sends the ring and then every new frame
to a background writer thread (:mod:`edgeinfer.events._clipwriter`), until the frames reach
``post_s`` after the event's end. A clip is written to ``<dir>/<stream>/.part/<event_id>.mp4``
and renamed to ``<dir>/<stream>/<event_id>.mp4`` once OpenCV can read it back, so a reader
never sees half a clip. After every clip the oldest finished clips of the whole ``dir`` are
deleted until they fit ``max_total_mb`` and ``max_age_h``.

The publish thread never waits on the encoder: at most ``max_queued_frames`` frames wait for
it, and the frames beyond are dropped from their clip (counted in :meth:`ClipRecorder.stats`).
A failed write (full disk) is logged and abandons that clip; nothing is raised to the caller.
"""

from __future__ import annotations

import logging
import statistics
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.events._clipwriter import PART_DIR, ClipJob, ClipStats, ClipWriter, enforce_retention, remove_parts

__all__ = ["FALLBACK_FPS", "ClipConfig", "ClipRecorder", "measure_fps"]

log = logging.getLogger(__name__)
FALLBACK_FPS = 15.0  # when the frames' timestamps give no rate (fewer than two frames)
MAX_FPS = 240.0
FPS_WINDOW = 64  # timestamps kept for measuring the frame rate
EPS_S = 1e-6  # timestamps are floats: 0.1 * 40 - 1.0 is not 3.0


class ClipConfig(BaseModel):
    """Where event clips go, how long they are, and how many are kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dir: Path = Field(Path("clips"), description="clips folder; a clip is <dir>/<stream>/<event_id>.mp4")
    pre_s: float = Field(5.0, ge=0.0, description="seconds of video before the event's start")
    post_s: float = Field(5.0, ge=0.0, description="seconds of video after the event's end")
    max_total_mb: float = Field(1024.0, gt=0.0, description=(
        "the most MB (10^6 bytes) the finished clips of all streams may take; the oldest are deleted first"))
    max_age_h: float | None = Field(72.0, gt=0.0, description=(
        "clips older than this many hours are deleted; null: no age limit"))
    fps: float | None = Field(None, gt=0.0, le=MAX_FPS, description=(
        "frame rate of the clips; null: measured from the frames' timestamps"))
    codec: str = Field("mp4v", description=(
        "FourCC of the OpenCV codec: mp4v (MPEG-4 Part 2, in every OpenCV build) or one the build has, "
        "such as avc1"))

    @field_validator("codec")
    @classmethod
    def _fourcc(cls, value: str) -> str:
        if len(value) != 4 or not value.isascii() or not value.isprintable():
            raise ValueError(f"codec must be a FourCC of 4 printable ASCII characters, such as 'mp4v'; "
                             f"got {value!r}")
        return value


def measure_fps(timestamps: Iterable[float]) -> float | None:
    """The frame rate of frames with these timestamps: one over the median step between them.

    Args:
        timestamps: Frame times in seconds, in frame order.

    Returns:
        Frames per second (rounded to 0.01, at most 240), or ``None`` when no two timestamps
        increase.
    """
    t = np.asarray(list(timestamps), np.float64)
    steps = np.diff(t)
    steps = steps[steps > 0]
    if not len(steps):
        return None
    return round(min(MAX_FPS, 1.0 / statistics.median(steps.tolist())), 2)


def _check_name(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a file or folder name, or ``None`` when it can."""
    if not value or value.startswith(".") or "/" in value or "\\" in value or "\0" in value:
        return f"{what} {value!r} cannot be a file name (empty, starts with '.', or holds a path separator)"
    return None


@dataclass
class _Clip:
    """An open clip, as the recorder (the caller's thread) sees it."""

    job: ClipJob
    end_t: float | None = None  # the last frame's time, once the event ended
    dropped: int = 0


class ClipRecorder:
    """Records one stream's event clips (implements :class:`~edgeinfer.events.engine.ClipRecording`).

    On construction it deletes the unfinished clips a killed process left in
    ``<dir>/<stream>/.part`` and applies retention to ``dir``. Use as a context manager, or
    call :meth:`close` when the stream ends.

    Args:
        config: The clip settings.
        stream: The stream's name (a folder under ``config.dir``).
        max_queued_frames: The most frames waiting for the encoder (of all this stream's clips);
            frames beyond are dropped from their clip.
        source_fps: The source's nominal frame rate, for a clip that starts before two frames
            have come (``config.fps`` first, then the rate measured from the timestamps).

    Raises:
        ConfigError: ``stream`` cannot be a folder name.
    """

    def __init__(self, config: ClipConfig, *, stream: str, max_queued_frames: int = 300,
                 source_fps: float | None = None) -> None:
        problem = _check_name(stream, "stream name")
        if problem:
            raise ConfigError(f"clips: {problem}; rename the stream")
        if max_queued_frames < 1:
            raise ConfigError(f"clips: max_queued_frames must be at least 1; got {max_queued_frames}")
        self.config, self.stream, self.max_queued_frames = config, stream, max_queued_frames
        self.source_fps = source_fps if source_fps and 0 < source_fps <= MAX_FPS else None
        self.folder = config.dir / stream
        self._ring: deque[tuple[np.ndarray, float]] = deque()
        self._times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._open: dict[str, _Clip] = {}
        self._lock = threading.Lock()
        self._stats = ClipStats()
        self._writer: ClipWriter | None = None
        self._closed = False
        remove_parts(self.folder)
        try:
            self._stats.bytes_on_disk = enforce_retention(config.dir, max_bytes=self._max_bytes,
                                                          max_age_s=self._max_age_s)
        except OSError as exc:
            log.warning("clip retention in %s failed (%s)", config.dir, exc.strerror or exc)

    @property
    def _max_bytes(self) -> int:
        return int(self.config.max_total_mb * 1e6)

    @property
    def _max_age_s(self) -> float | None:
        return None if self.config.max_age_h is None else self.config.max_age_h * 3600.0

    def __enter__(self) -> ClipRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_frame(self, image: np.ndarray, timestamp: float) -> None:
        """Keep one frame in the ring and pass it to the open clips.

        The frame is kept by reference, not copied: do not write into it afterwards.

        Args:
            image: ``(H, W, 3)`` uint8 BGR frame (``(H, W)`` gray and BGRA are converted).
            timestamp: The frame's time in seconds; frames come in time order.
        """
        t = float(timestamp)
        with self._lock:
            if self._closed:
                return
            if self._ring and t < self._ring[-1][1]:  # the clock went back (a source restarted)
                self._ring.clear()
                self._times.clear()
            self._ring.append((image, t))
            self._times.append(t)
            while self._ring[0][1] < t - self.config.pre_s - EPS_S:
                self._ring.popleft()
            for event_id, clip in list(self._open.items()):
                self._feed(clip, image, t)
                if clip.end_t is not None and t >= clip.end_t - EPS_S:
                    self._finish(event_id)

    def start(self, event_id: str, timestamp: float) -> Path:
        """Start the clip of an event, with the ring's frames from ``pre_s`` before ``timestamp``.

        Starting a clip that is already open changes nothing.

        Args:
            event_id: The event's id (the clip's file name).
            timestamp: The event's start, in seconds on the frames' clock.

        Returns:
            The clip's final path, ``<dir>/<stream>/<event_id>.mp4`` (there once it is finished).

        Raises:
            InputError: ``event_id`` cannot be a file name.
            RuntimeError: the recorder is closed.
        """
        problem = _check_name(event_id, "event id")
        if problem:
            raise InputError(f"clip not started: {problem}")
        with self._lock:
            if self._closed:
                raise RuntimeError(f"ClipRecorder of stream {self.stream!r} is closed; no clip for {event_id}")
            if event_id in self._open:
                return self._open[event_id].job.final
            fps = self.config.fps or measure_fps(self._times) or self.source_fps or FALLBACK_FPS
            job = ClipJob(event_id, self.folder / PART_DIR / f"{event_id}.mp4", self.folder / f"{event_id}.mp4",
                          fps, self.config.codec)
            if self._writer is None:
                self._writer = ClipWriter(self.config.dir, max_bytes=self._max_bytes, max_age_s=self._max_age_s,
                                          stats=self._stats)
            self._writer.put(("open", job))
            clip = self._open[event_id] = _Clip(job)
            first = float(timestamp) - self.config.pre_s - EPS_S
            for image, t in self._ring:
                if t >= first:
                    self._feed(clip, image, t)
            return job.final

    def stop(self, event_id: str, timestamp: float) -> None:
        """End an event's clip once the frames reach ``timestamp + post_s``.

        An unknown ``event_id`` (never started, or already finished) is ignored.

        Args:
            event_id: The event's id.
            timestamp: The event's end, in seconds on the frames' clock.
        """
        with self._lock:
            clip = self._open.get(event_id)
            if clip is None:
                log.debug("stream %s: no open clip for event %s", self.stream, event_id)
                return
            clip.end_t = float(timestamp) + self.config.post_s
            if self._ring and self._ring[-1][1] >= clip.end_t - EPS_S:
                self._finish(event_id)

    def close(self, timeout_s: float = 30.0) -> None:
        """Finish every open clip with the frames it has, and wait for the writer thread.

        Call when the stream ends or the pipeline stops. Later frames are ignored.

        Args:
            timeout_s: The longest to wait for the encoder, in seconds; clips still unfinished
                then stay in ``.part`` (a warning says so) and are deleted at the next start.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for event_id in list(self._open):
                self._finish(event_id)
            self._ring.clear()
            writer = self._writer
        if writer is not None and not writer.join(timeout_s):
            log.warning("stream %s: the clip writer was still busy after %.3g s (%d frames queued); "
                        "its unfinished clips stay in %s", self.stream, timeout_s, writer.queued_frames,
                        self.folder / PART_DIR)

    def stats(self) -> dict[str, Any]:
        """The counters: ``clips_written``, ``clips_failed``, ``frames_dropped`` and ``bytes_on_disk``.

        ``bytes_on_disk`` is what the finished clips of all streams under ``dir`` took after the
        last retention pass.
        """
        return dict(self._stats.as_dict())

    @property
    def open_clips(self) -> list[str]:
        """The event ids whose clip is still being recorded."""
        with self._lock:
            return list(self._open)

    def _feed(self, clip: _Clip, image: np.ndarray, t: float) -> None:
        writer = self._writer
        assert writer is not None  # a clip is open, so the writer exists
        if writer.queued_frames >= self.max_queued_frames:
            clip.dropped += 1
            self._stats.add("frames_dropped")
            if clip.dropped == 1:
                log.warning("clip %s: the encoder is behind (%d frames queued); dropping this clip's frames "
                            "until it catches up", clip.job.final, writer.queued_frames)
            return
        writer.put(("frame", clip.job, image, t))

    def _finish(self, event_id: str) -> None:
        clip = self._open.pop(event_id)
        assert self._writer is not None
        self._writer.put(("finish", clip.job))
        if clip.dropped:
            log.warning("clip %s: %d frames dropped (the encoder was behind)", clip.job.final, clip.dropped)
