"""The sink interface: the last stage of the flow, where results leave the process.

``sources -> preprocess -> backend -> postprocess -> sinks``. The pipeline wraps every
result in an *envelope* (see :func:`make_envelope`) and hands it to each sink with
:meth:`Sink.send`; sinks that draw on pixels (``video``) also receive the frame and the
result object. A sink never blocks the pipeline for long: slow work (network, retries)
happens on the sink's own thread, and a broker or server that is away never raises
from ``send``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

__all__ = [
    "BaseSink", "Connection", "Sink", "SinkConfig", "SinkContext", "SinkCounters", "encode_envelope", "make_envelope",
    "undelivered",
]


@runtime_checkable
class Sink(Protocol):
    """Where results go: MQTT, a JSON-lines file, a video, an HTTP endpoint, memory."""

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Deliver one envelope (or queue it for delivery) without blocking for long.

        Args:
            envelope: The dict built by :func:`make_envelope`; JSON-serialisable.
            frame: The ``(H, W, 3)`` uint8 BGR frame the result was computed on, for sinks
                that draw (ignored by the others).
            result: The result object (``Detections``, ``Classification``, ...) whose
                ``to_dict()`` is ``envelope["result"]``, for sinks that draw.

        Raises:
            SinkError: the sink cannot accept it at all (closed, disk full, no frame for
                a sink that needs one). A remote end that is away is not an error here.
        """
        ...

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` seconds until everything sent so far is delivered.

        Returns:
            True when nothing is left to deliver, False on timeout.
        """
        ...

    def close(self) -> None:
        """Release threads, connections and files. Undelivered durable data stays on disk."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters for the health message: ``sent``, ``queued``, ``dropped``, ``errors``."""
        ...

    # Optional (BaseSink has no-op versions; the pipeline calls them only when present):
    #   send_event(event: dict) -> None                 one event message (edgeinfer.events)
    #   send_counts(stream: str, name: str, counts: dict) -> None
    #                                                   a zone's or line's counts, when they change


@runtime_checkable
class Connection(Protocol):
    """A sink that is also a message connection (MQTT): what control and health use."""

    def publish_raw(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        """Publish one message now, outside the result queue; False when not connected."""
        ...

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        """Call ``callback(topic, payload)`` for each message on ``topic``."""
        ...


class SinkConfig(BaseModel):
    """Base of the sinks' configs: frozen, unknown keys refused.

    A subclass adds ``type: Literal["<name>"] = "<name>"`` and the sink's keys. Class
    attributes the daemon reads: ``uses`` (daemon config keys the sink reads, such as
    ``("mqtt", "device_id")``; each must be set) and ``keep_on_reload`` (a running sink
    is kept on reload when its config and the ``uses`` keys are unchanged).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    uses: ClassVar[tuple[str, ...]] = ()
    keep_on_reload: ClassVar[bool] = False


@dataclass(frozen=True)
class SinkContext:
    """What a sink's ``from_config`` may use besides its own config.

    Attributes:
        device_id: This device's name.
        config: The whole daemon config (sections such as ``mqtt:``), or ``None``.
        stream_stats: Returns per-stream stats (stream name -> figures), for sinks that show them.
    """

    device_id: str
    config: Any = None
    stream_stats: Callable[[], dict[str, dict[str, Any]]] | None = None


class SinkCounters:
    """Thread-safe counters shared by the sinks; ``sent``, ``dropped``, ``errors``, ``skipped``
    always exist, others (``retries``) appear when first added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"sent": 0, "dropped": 0, "errors": 0, "skipped": 0}

    def add(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the counter ``name``."""
        with self._lock:
            self._values[name] = self._values.get(name, 0) + count

    def snapshot(self) -> dict[str, int]:
        """Return a copy of all counters."""
        with self._lock:
            return dict(self._values)


class BaseSink:
    """Shared code for sinks: counters and the context manager that calls ``close()``."""

    def __init__(self) -> None:
        self._counters = SinkCounters()

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """See :meth:`Sink.send`."""
        raise NotImplementedError

    def send_event(self, event: dict[str, Any]) -> None:
        """One event message (``new``, ``update``, ``end``; see :mod:`edgeinfer.events`). Ignored by default."""

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """The counts of zone or line ``name`` of ``stream``, sent when they change. Ignored by default."""

    def flush(self, timeout_s: float) -> bool:
        """Synchronous sinks have nothing pending: always True."""
        return True

    def close(self) -> None:
        """Nothing to release by default."""

    def stats(self) -> dict[str, int]:
        """``sent``, ``queued`` (0 for synchronous sinks), ``dropped``, ``errors``, ``skipped``."""
        values = self._counters.snapshot()
        values["queued"] = 0
        return values

    def __enter__(self) -> BaseSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def make_envelope(
    *,
    device_id: str,
    stream: str,
    frame_index: int,
    result: Any,
    model: str = "",
    latency_ms: float | None = None,
    timestamp: float | None = None,
) -> dict[str, Any]:
    """Wrap one result in the envelope every sink receives.

    Args:
        device_id: Name of this device (also the MQTT topic level).
        stream: Name of the source the frame came from.
        frame_index: 0-based index of the frame in its stream.
        result: A result object with ``to_dict()`` or an already JSON-friendly mapping.
        model: Model name or file name.
        latency_ms: Preprocess + inference + decode time, milliseconds.
        timestamp: Capture time, seconds since the Unix epoch; now when ``None``.

    Returns:
        ``{"device_id", "stream", "frame_index", "timestamp", "model", "latency_ms", "result"}``.

    Example:
        >>> env = make_envelope(device_id="cam1", stream="front", frame_index=3,
        ...                     result={"labels": ["cat"]}, timestamp=0.0)
        >>> env["result"], env["frame_index"]
        ({'labels': ['cat']}, 3)
    """
    if hasattr(result, "to_dict"):
        payload = result.to_dict()
    elif isinstance(result, Mapping):
        payload = dict(result)
    else:
        raise TypeError(f"result must have to_dict() or be a mapping, got {type(result).__name__}")
    return {
        "device_id": device_id,
        "stream": stream,
        "frame_index": int(frame_index),
        "timestamp": time.time() if timestamp is None else float(timestamp),
        "model": model,
        "latency_ms": None if latency_ms is None else float(latency_ms),
        "result": payload,
    }


def _to_json_value(value: Any) -> Any:
    # numpy scalars and arrays slip into result dicts easily; send them as plain JSON.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_envelope(envelope: Mapping[str, Any]) -> bytes:
    """Encode an envelope as compact UTF-8 JSON (numpy values become lists and numbers).

    Raises:
        TypeError: a value cannot be represented in JSON.
    """
    return json.dumps(envelope, separators=(",", ":"), default=_to_json_value).encode()


def undelivered(sink: Any) -> str:
    """Say what a sink that did not flush in time still holds, for the exit message.

    A sink with a ``queue_path`` (MQTT) keeps its rows there for the next start; the
    others (webhook) lose what they hold when the process ends.
    """
    stats = sink.stats() if hasattr(sink, "stats") else {}
    count = int(stats.get("queued", 0))
    where = getattr(sink, "queue_path", None)
    if where is not None:
        return f"{sink!r} still has {count} result(s) queued on disk in {where}; they will be sent on the next start"
    return f"{sink!r} could not deliver {count} result(s); they are lost"
