"""The source interface: where frames enter the flow (``sources -> preprocess -> ...``).

A :class:`Source` yields :class:`~edgeinfer.types.Frame` objects with ``read()`` until
it returns ``None`` (a file or folder has ended, or the source was closed). Every
implementation is built on a :class:`FrameReader` (open / read one image / close) and
the shared :class:`~edgeinfer.sources.capture.CaptureSource`, which adds the frame
policy, reconnection with backoff, frame indices and capture timestamps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.types import Frame

__all__ = [
    "POLICIES", "Backoff", "FrameReader", "Policy", "Source", "SourceInfo", "SourceOptions", "SourceStats",
    "check_policy",
]

Policy = Literal["latest", "every"]
POLICIES: tuple[str, ...] = ("latest", "every")


def check_policy(policy: str | None, *, live: bool) -> Policy:
    """Return ``policy``, or the default for the source (``latest`` live, ``every`` finite).

    Raises:
        ConfigError: ``policy`` is not one of :data:`POLICIES`.
    """
    if policy is None:
        return "latest" if live else "every"
    if policy == "latest":
        return "latest"
    if policy == "every":
        return "every"
    raise ConfigError(f"Unknown frame policy {policy!r}; choose one of {', '.join(POLICIES)}")


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff between reconnection attempts.

    Attributes:
        initial_s: Wait before the first attempt, seconds.
        factor: Multiplier applied after every failed attempt.
        max_s: Longest wait, seconds.
    """

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0-based).

        >>> [Backoff().delay_s(n) for n in (0, 1, 2, 10)]
        [0.5, 1.0, 2.0, 30.0]
        """
        return float(min(self.max_s, self.initial_s * self.factor ** min(attempt, 64)))


@dataclass(frozen=True)
class SourceOptions:
    """The options every source kind takes, built by :func:`~edgeinfer.sources.open_source`.

    A source applies the ones that mean something for it (a file ignores ``width``, a
    camera ignores ``loop``), so every kind has the same ``(target, options)`` signature.

    Attributes:
        width: Requested frame width, pixels, where the device supports it.
        height: Requested frame height, pixels.
        fps: Requested frame rate (the pacing rate of a realtime replay).
        policy: ``latest`` or ``every``; ``None``: ``latest`` for live sources, ``every``
            for files and folders.
        loop: Start files and folders again when they end.
        name: Stream name stamped on every frame.
        backoff: Waits between reconnection attempts of live sources.
        open_timeout_s: Keep retrying the first open of a live source this long, seconds
            (0: fail at once).
    """

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    policy: str | None = None
    loop: bool = False
    name: str = "default"
    backoff: Backoff = Backoff()
    open_timeout_s: float = 0.0


@dataclass(frozen=True)
class SourceInfo:
    """What a source is and what it actually delivers.

    Attributes:
        kind: Registry key (``camera``, ``file``, ``stream``, ``gstreamer``, ``images``,
            ``picamera2``, ``replay``).
        uri: What was opened (device, path, URL, pipeline).
        name: Stream name stamped on every frame.
        live: True for cameras and streams (reconnect, ``latest`` by default).
        policy: ``latest`` or ``every``.
        width: Actual frame width, pixels (0 when not known yet).
        height: Actual frame height, pixels (0 when not known yet).
        fps: Frame rate reported by the device or file (0.0 when unknown).
        frame_count: Frames in a file or folder; ``None`` for live sources.
    """

    kind: str
    uri: str
    name: str
    live: bool
    policy: Policy
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frame_count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class SourceStats:
    """Counters of one source since it was opened.

    Attributes:
        frames_captured: Images read from the device or file.
        frames_delivered: Frames returned by ``read()``.
        frames_dropped: Frames replaced by a newer one before anyone read them (``latest``).
        disconnects: Times a live source dropped (read failed or stream ended).
        reconnects: Times it came back.
        connected: False while a live source is waiting to reconnect.
    """

    frames_captured: int = 0
    frames_delivered: int = 0
    frames_dropped: int = 0
    disconnects: int = 0
    reconnects: int = 0
    connected: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@runtime_checkable
class Source(Protocol):
    """Frames in: a camera, a stream, a file, a folder of images or a replay."""

    @property
    def info(self) -> SourceInfo:
        """What the source is and what it delivers (actual size and fps)."""
        ...

    def read(self) -> Frame | None:
        """Return the next frame (the newest one with policy ``latest``).

        Blocks until a frame is there. Live sources reconnect inside ``read`` after a
        drop and never end on their own.

        Returns:
            The frame, or ``None`` once the source has ended or was closed.
        """
        ...

    def stats(self) -> SourceStats:
        """Counters: frames captured, delivered and dropped; disconnects and reconnects."""
        ...

    def close(self) -> None:
        """Release the device or file; ``read()`` then returns ``None``. Idempotent."""
        ...


class FrameReader(Protocol):
    """One device, file or stream, read image by image (used by ``CaptureSource``).

    Attributes:
        live: True when a failed read is a drop to reconnect from, not the end.
        description: Human-readable name used in messages (``camera /dev/video0``).
        ended: True when a live reader has nothing more to give (a replay past its last
            frame): the source then ends instead of reconnecting. False for real devices.
    """

    live: bool
    description: str
    ended: bool

    def open(self) -> None:
        """Open (or reopen) the device. Raises ``SourceError`` saying what to check."""
        ...

    def read(self) -> np.ndarray | None:
        """Return the next ``(H, W, 3)`` uint8 BGR image, or ``None`` (ended or dropped)."""
        ...

    def close(self) -> None:
        """Release the device. Idempotent."""
        ...

    def size_fps(self) -> tuple[int, int, float, int | None]:
        """Actual ``(width, height, fps, frame_count)``; zeros / ``None`` when unknown."""
        ...
