"""Memory sink: keeps every envelope in a list, for users' tests (like httpx's MockTransport).

Example:
    >>> from edgeinfer.sinks import make_envelope
    >>> from edgeinfer.sinks.memory import MemorySink
    >>> sink = MemorySink()
    >>> sink.send(make_envelope(device_id="d", stream="s", frame_index=0, result={"n": 1}))
    >>> [e["result"] for e in sink.envelopes], sink.stats()["sent"]
    ([{'n': 1}], 1)
"""

from __future__ import annotations

import copy
import threading
from typing import Any, ClassVar, Literal

import numpy as np

from edgeinfer.errors import SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig

__all__ = ["MemorySink", "MemorySinkConfig"]


class MemorySinkConfig(SinkConfig):
    """Keep results in memory (for tests)."""

    type: Literal["memory"] = "memory"


class MemorySink(BaseSink):
    """Collects envelopes (deep copies), and the frames and result objects passed along.

    Attributes:
        envelopes: Envelopes in the order they were sent.
        frames: The ``frame`` passed with each envelope (``None`` when absent).
        results: The ``result`` object passed with each envelope (``None`` when absent).
        events: Event messages (``send_event``), in order.
        counts: The latest counts per ``(stream, zone or line name)`` (``send_counts``).
    """

    Config: ClassVar[type[MemorySinkConfig]] = MemorySinkConfig

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[dict[str, Any]] = []
        self.frames: list[np.ndarray | None] = []
        self.results: list[Any] = []
        self.events: list[dict[str, Any]] = []
        self.counts: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Append a copy of ``envelope`` (and ``frame``/``result``).

        Raises:
            SinkError: the sink was closed.
        """
        if self._closed:
            raise SinkError("The memory sink is closed")
        with self._lock:
            self.envelopes.append(copy.deepcopy(envelope))
            self.frames.append(frame)
            self.results.append(result)
        self._counters.add("sent")

    def send_event(self, event: dict[str, Any]) -> None:
        """Append a copy of an event message.

        Raises:
            SinkError: the sink was closed.
        """
        if self._closed:
            raise SinkError("The memory sink is closed")
        with self._lock:
            self.events.append(copy.deepcopy(event))

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """Keep a copy of the latest counts of zone or line ``name``."""
        with self._lock:
            self.counts[stream, name] = copy.deepcopy(counts)

    def clear(self) -> None:
        """Forget everything collected so far."""
        with self._lock:
            self.envelopes.clear()
            self.frames.clear()
            self.results.clear()
            self.events.clear()
            self.counts.clear()

    def close(self) -> None:
        """Refuse further envelopes; collected ones stay readable."""
        self._closed = True
