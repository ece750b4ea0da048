"""JSON-lines sink: one envelope (or event, or zone counts) per line to stdout or a file, flushed per line.

Each record leaves the process as one ``write`` of a whole line (JSON and ``"\\n"``) on an
unbuffered, append-mode file, so a reader tailing the file never gets half a record from
this sink. A reader polling the file may still catch the kernel copying a line across a
page boundary: it should treat a last line without its ``"\\n"`` as not yet written.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

import numpy as np

from edgeinfer.errors import SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig, encode_envelope

__all__ = ["JsonlSink", "JsonlSinkConfig"]


class JsonlSinkConfig(SinkConfig):
    """Write one JSON line per result to stdout (``path: null``) or a file."""

    type: Literal["jsonl"] = "jsonl"
    path: Path | None = None


def _write_all(fd: int, data: bytes) -> None:
    """``os.write`` the whole of ``data``: one call, more only after a short write."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _stdout_fd() -> int | None:
    """The file descriptor behind ``sys.stdout``, or None when it is not a real file (captured)."""
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


class JsonlSink(BaseSink):
    """Write envelopes as JSON lines.

    Args:
        path: File to append to (its folder is created); ``None`` or ``"-"`` for stdout.

    Raises:
        SinkError: the file cannot be opened.
    """

    Config: ClassVar[type[JsonlSinkConfig]] = JsonlSinkConfig

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()
        self.path = None if path in (None, "-") else Path(str(path))
        self._lock = threading.Lock()
        self._closed = False
        self._file: IO[bytes] | None = None
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab", buffering=0)  # O_APPEND, no buffer: one write per line
        except OSError as exc:
            raise SinkError(f"Cannot open the JSON-lines file {self.path}: {exc}") from exc

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Write one whole line with one ``write`` (nothing is buffered).

        Raises:
            SinkError: the sink is closed or the write failed (disk full).
        """
        self._write_line(encode_envelope(envelope) + b"\n")

    def send_event(self, event: dict[str, Any]) -> None:
        """Write an event message as one line (its ``"kind": "event"`` tells it from results).

        Raises:
            SinkError: the sink is closed or the write failed (disk full).
        """
        self._write_line(encode_envelope(event) + b"\n")

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """Write a zone's or line's counts as one line (``"kind": "zone"`` or ``"line"``).

        Raises:
            SinkError: the sink is closed or the write failed (disk full).
        """
        self._write_line(encode_envelope(counts) + b"\n")

    def _write_line(self, line: bytes) -> None:
        with self._lock:
            if self._closed:
                raise SinkError("The JSON-lines sink is closed")
            try:
                self._write(line)
            except OSError as exc:
                self._counters.add("errors")
                raise SinkError(f"Cannot write to {self.path or 'stdout'}: {exc}") from exc
        self._counters.add("sent")

    def _write(self, line: bytes) -> None:
        if self._file is not None:
            _write_all(self._file.fileno(), line)
            return
        fd = _stdout_fd()
        if fd is None:  # a replaced sys.stdout (tests, notebooks): its own write and flush
            sys.stdout.write(line.decode())
            sys.stdout.flush()
            return
        sys.stdout.flush()  # what others printed before this line goes first
        _write_all(fd, line)

    def close(self) -> None:
        """Close the file (stdout is left open)."""
        with self._lock:
            self._closed = True
            file, self._file = self._file, None
        if file is not None:
            file.close()
