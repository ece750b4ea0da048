"""The shared source: a :class:`FrameReader` plus policy, reconnection and frame stamping.

Every source kind builds one of these around its reader. With policy ``every`` the
caller's thread reads the device; with ``latest`` a grabber thread reads continuously
and keeps only the newest frame, so a slow consumer never sees a backlog and memory
stays flat (one frame held). Live readers that fail are closed and reopened with capped
exponential backoff until the source is closed; finite ones end (or loop).
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from edgeinfer.errors import SourceError
from edgeinfer.sources.base import FrameReader, Policy, SourceInfo, SourceOptions, SourceStats, check_policy
from edgeinfer.types import Frame

__all__ = ["CaptureSource"]

log = logging.getLogger("edgeinfer.sources")

JOIN_TIMEOUT_S = 5.0


class CaptureSource:
    """A :class:`~edgeinfer.sources.base.Source` built on a :class:`FrameReader`.

    Args:
        reader: The device, file or stream; opened here.
        kind: Registry key of the source kind.
        uri: What was opened, for ``info``.
        options: Policy (default ``latest`` for live readers, else ``every``), loop
            (restart a finite source when it ends), stream name, backoff of a live source
            and how long its first open is retried (drops after that are retried forever).
            ``width``, ``height`` and ``fps`` are the reader's business.

    Raises:
        SourceError: the reader cannot be opened.
        ConfigError: unknown policy.
    """

    def __init__(self, reader: FrameReader, *, kind: str, uri: str, options: SourceOptions) -> None:
        self._reader = reader
        self._policy: Policy = check_policy(options.policy, live=reader.live)
        self._loop = options.loop
        self._name = options.name
        self._backoff = options.backoff
        self._closed = threading.Event()
        self._read_lock = threading.Lock()  # one thread touches the reader at a time
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._counts = {"captured": 0, "delivered": 0, "dropped": 0, "disconnects": 0, "reconnects": 0}
        self._connected = True
        self._open_first(options.open_timeout_s)
        width, height, fps, count = reader.size_fps()
        self._info = SourceInfo(kind, uri, options.name, reader.live, self._policy, width, height, fps,
                                None if reader.live else count)
        self._grabber: threading.Thread | None = None
        if self._policy == "latest":
            self._grabber = threading.Thread(target=self._grab_loop, name=f"grab-{options.name}", daemon=True)
            self._grabber.start()

    # -- Source protocol ----------------------------------------------------------------

    @property
    def info(self) -> SourceInfo:
        """What the source is and what it delivers (actual size and fps)."""
        return self._info

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the reader was released."""
        return self._closed.is_set()

    def read(self) -> Frame | None:
        """Return the next frame (the newest with ``latest``), or ``None`` when ended/closed.

        Raises:
            SourceError: a finite source failed mid-way (corrupt image in a folder).
        """
        if self._grabber is not None:
            return self._take_latest()
        with self._read_lock:
            if self._closed.is_set():
                return None
            image = self._next_image()
            if self._closed.is_set():
                self._reader.close()  # close() gave up waiting for this read; release here
                return None
            if image is None:
                return None
            frame = self._stamp(image)
        self._count("delivered")
        return frame

    def stats(self) -> SourceStats:
        """Counters since the source was opened."""
        with self._cond:
            c = dict(self._counts)
            connected = self._connected
        return SourceStats(c["captured"], c["delivered"], c["dropped"], c["disconnects"], c["reconnects"],
                           connected)

    def close(self) -> None:
        """Stop the grabber and release the device. Idempotent."""
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        if self._grabber is not None:
            # The grabber thread owns the reader and releases it in its finally.
            if self._grabber is not threading.current_thread():
                self._grabber.join(JOIN_TIMEOUT_S)
                if self._grabber.is_alive():
                    log.warning("%s: capture thread still blocked in read after %.0f s; it will release "
                                "the device when the read returns", self._reader.description, JOIN_TIMEOUT_S)
            return
        # A read in progress (a stalled network stream) may hold the lock; it then releases
        # the device itself when it returns, so close() never hangs on it.
        if self._read_lock.acquire(timeout=JOIN_TIMEOUT_S):
            try:
                self._reader.close()
            finally:
                self._read_lock.release()
        else:
            log.warning("%s: a read is still blocked after %.0f s; the device is released when it returns",
                        self._reader.description, JOIN_TIMEOUT_S)

    def __enter__(self) -> CaptureSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> CaptureSource:
        return self

    def __next__(self) -> Frame:
        frame = self.read()
        if frame is None:
            raise StopIteration
        return frame

    def __repr__(self) -> str:
        i = self._info
        return f"<{type(self).__name__} {i.kind} {i.uri!r} {i.width}x{i.height}@{i.fps:g} policy={i.policy}>"

    # -- internals ----------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._cond:
            self._counts[key] += n

    def _stamp(self, image: np.ndarray) -> Frame:
        with self._cond:
            index = self._counts["captured"]
            self._counts["captured"] += 1
        return Frame(image=image, index=index, timestamp=time.time(), stream=self._name)

    def _open_first(self, open_timeout_s: float) -> None:
        deadline = time.monotonic() + open_timeout_s
        attempt = 0
        while True:
            try:
                self._reader.open()
                return
            except SourceError as exc:
                wait_s = self._backoff.delay_s(attempt)
                if not self._reader.live or time.monotonic() + wait_s > deadline:
                    raise
                log.warning("%s: %s; retrying in %.1f s", self._reader.description, exc, wait_s)
                attempt += 1
                if self._closed.wait(wait_s):
                    raise

    def _next_image(self) -> np.ndarray | None:
        """Read one image; reconnect (live) or loop (finite) as needed. ``None``: ended."""
        read_since_open = True  # the first pass may have started before this call
        while not self._closed.is_set():
            image = self._reader.read()
            if image is not None:
                return image
            if self._reader.live and not self._reader.ended:
                self._reconnect()
            elif self._loop and read_since_open:
                # Loop only after a pass that gave frames, so an empty file cannot spin.
                self._reader.close()
                self._reader.open()
                read_since_open = False
            else:
                return None
        return None

    def _reconnect(self) -> None:
        description = self._reader.description
        with self._cond:
            self._counts["disconnects"] += 1
            self._connected = False
        log.warning("%s: lost the source; reconnecting (backoff %g s doubling to %g s)",
                    description, self._backoff.initial_s, self._backoff.max_s)
        self._reader.close()
        attempt = 0
        while not self._closed.wait(self._backoff.delay_s(attempt)):
            try:
                self._reader.open()
            except SourceError as exc:
                attempt += 1
                log.warning("%s: reconnect attempt %d failed: %s", description, attempt, exc)
                continue
            with self._cond:
                self._counts["reconnects"] += 1
                self._connected = True
            log.warning("%s: reconnected after %d failed attempt(s)", description, attempt)
            return

    def _grab_loop(self) -> None:
        try:
            while not self._closed.is_set():
                image = self._next_image()
                if image is None:
                    break
                frame = self._stamp(image)
                with self._cond:
                    if self._slot is not None:
                        self._counts["dropped"] += 1
                    self._slot = frame
                    self._cond.notify_all()
        except BaseException as exc:
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            self._reader.close()

    def _take_latest(self) -> Frame | None:
        with self._cond:
            while self._slot is None and not self._ended and not self._closed.is_set():
                self._cond.wait()
            frame, self._slot = self._slot, None
            if frame is not None:
                self._counts["delivered"] += 1
                return frame
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return None
