"""JSON-lines sink: one envelope per line to stdout or a file, flushed after every line."""

from __future__ import annotations

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
        self._stream: IO[str] | None
        if self.path is None:
            self._stream = sys.stdout
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise SinkError(f"Cannot open the JSON-lines file {self.path}: {exc}") from exc

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Write one line and flush it.

        Raises:
            SinkError: the sink is closed or the write failed (disk full).
        """
        line = encode_envelope(envelope).decode() + "\n"
        with self._lock:
            if self._stream is None:
                raise SinkError("The JSON-lines sink is closed")
            try:
                self._stream.write(line)
                self._stream.flush()
            except OSError as exc:
                self._counters.add("errors")
                raise SinkError(f"Cannot write to {self.path or 'stdout'}: {exc}") from exc
        self._counters.add("sent")

    def close(self) -> None:
        """Close the file (stdout is left open)."""
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None and self.path is not None:
            stream.close()
