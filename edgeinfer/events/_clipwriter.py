"""The background half of :mod:`edgeinfer.events.clips`: encoding, finalising and retention.

:class:`~edgeinfer.events.clips.ClipRecorder` (in a stream's publish thread) only appends
commands to a queue; :class:`ClipWriter` runs them on its own thread: it opens an OpenCV
``VideoWriter`` on ``<stream>/.part/<event_id>.mp4``, places each frame on the clip's frame
grid (repeating the last frame over a gap, so the clip plays in real time), and when a clip
is done releases the writer, checks that OpenCV can read the file back and renames it into
``<stream>/``. A write error (full disk) abandons the clip and removes its ``.part``.
After every clip, :func:`enforce_retention` deletes the oldest finished clips.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.images import import_cv2

__all__ = ["ClipJob", "ClipStats", "ClipWriter", "enforce_retention", "open_video", "remove_parts"]

log = logging.getLogger("edgeinfer.events.clips")
PART_DIR = ".part"
MAX_FILL_S = 2.0  # a longer gap between frames is shortened to this in the clip (a camera that stalled)


@dataclass
class ClipStats:
    """Counters shared by a recorder and its writer thread (guarded by ``lock``)."""

    clips_written: int = 0
    clips_failed: int = 0
    frames_dropped: int = 0
    bytes_on_disk: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        """The counters, as ``{name: value}``."""
        with self.lock:
            return {"clips_written": self.clips_written, "clips_failed": self.clips_failed,
                    "frames_dropped": self.frames_dropped, "bytes_on_disk": self.bytes_on_disk}


@dataclass
class ClipJob:
    """One clip as the writer thread sees it."""

    event_id: str
    part: Path
    final: Path
    fps: float
    fourcc: str
    video: Any = None  # cv2.VideoWriter once the first frame came
    size_wh: tuple[int, int] = (0, 0)
    t0: float = 0.0
    frames_written: int = 0
    last: np.ndarray | None = None
    failed: bool = False


def open_video(path: Path, fourcc: str, fps: float, size_wh: tuple[int, int]) -> Any:
    """Open an OpenCV ``VideoWriter`` on ``path``.

    Raises:
        OSError: OpenCV could not open it (no codec, or the file cannot be created).
    """
    cv2 = import_cv2("writing event clips")
    video = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size_wh)
    if not video.isOpened():
        raise OSError(f"OpenCV could not open a {fourcc!r} VideoWriter on {path} (is the disk full, "
                      "or is the codec missing from this OpenCV build?)")
    return video


def _fit(image: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """``image`` as ``(H, W, 3)`` uint8 BGR of the clip's size (a stream may change resolution)."""
    cv2 = import_cv2("writing event clips")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if (image.shape[1], image.shape[0]) != size_wh:
        image = cv2.resize(image, size_wh, interpolation=cv2.INTER_AREA)
    return image


def _playable(path: Path) -> bool:
    """Whether OpenCV opens ``path`` and finds frames in it (an mp4 cut short has no index)."""
    cv2 = import_cv2("checking event clips")
    cap = cv2.VideoCapture(str(path))
    try:
        return bool(cap.isOpened()) and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
    finally:
        cap.release()


def _finished_clips(root: Path) -> list[tuple[float, str, Path, int]]:
    """``(mtime, name, path, bytes)`` of every finished clip under ``root/<stream>/``, oldest first."""
    found = []
    for path in root.glob("*/*.mp4"):
        try:
            st = path.stat()
        except OSError:  # deleted meanwhile (another stream's retention)
            continue
        found.append((st.st_mtime, path.name, path, st.st_size))
    return sorted(found)


def enforce_retention(root: Path, *, max_bytes: int, max_age_s: float | None,
                      keep: Path | None = None) -> int:
    """Delete finished clips under ``root`` (every stream), oldest first, until within the limits.

    Clips older than ``max_age_s`` go first, then the oldest until the total is at most
    ``max_bytes``. Clips being written (in ``.part`` folders) are never touched; neither is
    ``keep`` (the clip just finished, even when it alone is over ``max_bytes``).

    Args:
        root: The clips folder (``ClipConfig.dir``).
        max_bytes: The most bytes the finished clips may take.
        max_age_s: The oldest a clip may be, in seconds of file age; ``None``: no limit.
        keep: A clip never deleted.

    Returns:
        The bytes the remaining clips take.
    """
    clips = _finished_clips(root)
    total = sum(c[3] for c in clips)
    now = time.time()
    for mtime, _, path, size in clips:
        too_old = max_age_s is not None and now - mtime > max_age_s
        if not (too_old or total > max_bytes) or path == keep:
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("clip %s not deleted by retention (%s)", path, exc.strerror or exc)
            continue
        total -= size
        log.info("clip %s deleted by retention (%s)", path, "older than max_age_h" if too_old else "over max_total_mb")
    return total


def remove_parts(folder: Path) -> None:
    """Delete the half-written clips a killed process left in ``folder/.part`` (they do not play)."""
    try:
        leftovers = sorted((folder / PART_DIR).glob("*.mp4"))
    except OSError:
        return
    for path in leftovers:
        try:
            path.unlink()
            log.warning("deleted the unfinished clip %s (left by a process that stopped while writing it)", path)
        except OSError as exc:
            log.warning("unfinished clip %s not deleted (%s)", path, exc.strerror or exc)


class ClipWriter:
    """The writer thread of one stream's recorder: runs the commands of :meth:`put` in order.

    Commands: ``("open", job)``, ``("frame", job, image, timestamp)``, ``("finish", job)``,
    ``("exit",)``. The queue itself is unbounded; the recorder bounds the frames in it.

    Args:
        root: The clips folder (for retention).
        max_bytes: Retention's size limit.
        max_age_s: Retention's age limit.
        stats: The counters to update.
    """

    def __init__(self, root: Path, *, max_bytes: int, max_age_s: float | None, stats: ClipStats) -> None:
        self.root, self.max_bytes, self.max_age_s, self.stats = root, max_bytes, max_age_s, stats
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._queued_frames = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"clips:{root}", daemon=True)
        self._thread.start()

    @property
    def queued_frames(self) -> int:
        """Frames waiting to be encoded, and the one being encoded."""
        with self._lock:
            return self._queued_frames

    def put(self, command: tuple[Any, ...]) -> None:
        """Queue one command (never blocks)."""
        if command[0] == "frame":
            with self._lock:
                self._queued_frames += 1
        self._queue.put(command)

    def join(self, timeout_s: float) -> bool:
        """Queue ``exit`` and wait for the thread; ``False`` when it was still busy at ``timeout_s``."""
        self._queue.put(("exit",))
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        expected = (OSError, ValueError, import_cv2("writing event clips").error)
        while True:
            command = self._queue.get()
            if command[0] == "exit":
                return
            job: ClipJob = command[1]
            try:
                if not job.failed:
                    self._do(command)
            except expected as exc:
                self._abandon(job, exc)
            except Exception as exc:  # a bug must not stop the thread: the other clips go on
                log.exception("clip %s: unexpected error", job.final)
                self._abandon(job, exc)
            finally:
                if command[0] == "frame":  # counted until encoded, so the bound holds the one in hand too
                    with self._lock:
                        self._queued_frames -= 1

    def _do(self, command: tuple[Any, ...]) -> None:
        job: ClipJob = command[1]
        if command[0] == "open":
            job.part.parent.mkdir(parents=True, exist_ok=True)
        elif command[0] == "frame":
            self._write(job, command[2], float(command[3]))
        elif command[0] == "finish":
            self._finish(job)

    def _write(self, job: ClipJob, image: np.ndarray, t: float) -> None:
        if job.video is None:
            job.size_wh = (int(image.shape[1]), int(image.shape[0]))
            job.video = open_video(job.part, job.fourcc, job.fps, job.size_wh)
            job.t0 = t
        frame = _fit(image, job.size_wh)
        # The frame's place on the clip's grid: repeat the last frame over a gap (a dropped
        # frame, a slow camera), skip a frame that comes early, so the clip plays in real time.
        index = round((t - job.t0) * job.fps)
        if job.last is not None:
            index = min(index, job.frames_written + round(MAX_FILL_S * job.fps))
            while job.frames_written < index:
                job.video.write(job.last)
                job.frames_written += 1
        if index < job.frames_written:
            return
        job.video.write(frame)
        job.frames_written += 1
        job.last = frame

    def _finish(self, job: ClipJob) -> None:
        if job.video is None:
            raise ValueError("no frame came for it")
        job.video.release()
        job.video = None
        if not _playable(job.part):
            raise OSError(f"OpenCV cannot read {job.part} back (is the disk full?)")
        os.replace(job.part, job.final)
        self.stats.add("clips_written")
        log.debug("clip %s written (%d frames at %.3g fps)", job.final, job.frames_written, job.fps)
        self._retain(keep=job.final)

    def _abandon(self, job: ClipJob, exc: BaseException) -> None:
        job.failed = True
        if job.video is not None:
            with contextlib.suppress(Exception):  # the clip is lost anyway; the .part still goes
                job.video.release()
            job.video = None
        job.last = None
        try:
            job.part.unlink(missing_ok=True)
        except OSError as unlink_exc:
            log.warning("unfinished clip %s not deleted (%s)", job.part, unlink_exc.strerror or unlink_exc)
        self.stats.add("clips_failed")
        message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        log.warning("clip %s abandoned (%s); the event goes on without it", job.final, message)
        self._retain(keep=None)

    def _retain(self, keep: Path | None) -> None:
        try:
            total = enforce_retention(self.root, max_bytes=self.max_bytes, max_age_s=self.max_age_s, keep=keep)
        except OSError as exc:
            log.warning("clip retention in %s failed (%s)", self.root, exc.strerror or exc)
            return
        with self.stats.lock:
            self.stats.bytes_on_disk = total
