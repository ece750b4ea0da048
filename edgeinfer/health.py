"""The daemon's health document: what a fleet dashboard needs to know about a device.

It is published, retained, on ``edgeinfer/{device_id}/health`` over the daemon's message
connection (the MQTT sink), see :func:`publish_health`.
"""

from __future__ import annotations

import glob
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeinfer.sinks.base import Connection, encode_envelope

__all__ = ["cpu_temperature_c", "health_document", "health_topic", "publish_health"]


def health_topic(device_id: str) -> str:
    """Where the health document of ``device_id`` is published (retained)."""
    return f"edgeinfer/{device_id}/health"


def publish_health(connection: Connection, device_id: str, document: Mapping[str, Any]) -> bool:
    """Publish ``document``, retained, on :func:`health_topic` (not queued: False when not connected).

    Raises:
        SinkError: the document is too large for the connection.
    """
    return connection.publish_raw(health_topic(device_id), encode_envelope(document), retain=True)


def cpu_temperature_c(root: str | Path = "/") -> float | None:
    """The hottest thermal zone in degrees Celsius, or ``None`` where none is readable."""
    temps = []
    for path in glob.glob(str(Path(root) / "sys/class/thermal/thermal_zone*/temp")):
        try:
            temps.append(int(Path(path).read_text().strip()) / 1000.0)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


def health_document(device_id: str, started_at: float, streams: dict[str, dict[str, Any]],
                    sinks: dict[str, dict[str, int]], *, paused: bool = False) -> dict[str, Any]:
    """Build the health message published (retained) every ``health_interval_s``.

    Args:
        device_id: The device's name.
        started_at: ``time.time()`` when the daemon started.
        streams: Stream name -> its pipeline stats plus ``model`` and ``accelerator``.
        sinks: Sink name -> its counters (sent, queued, dropped, errors).
        paused: Whether inference is paused by a remote command.

    Returns:
        ``{"device_id", "timestamp", "uptime_s", "state", "cpu_temp_c", "streams", "sinks",
        "queue_depth", "dropped"}``.
    """
    queue_depth = sum(s.get("queued", 0) for s in sinks.values())
    dropped = sum(s.get("dropped", 0) for s in sinks.values())
    return {
        "device_id": device_id,
        "timestamp": time.time(),
        "uptime_s": round(time.time() - started_at, 1),
        "state": "paused" if paused else "running",
        "cpu_temp_c": cpu_temperature_c(),
        "streams": streams,
        "sinks": sinks,
        "queue_depth": queue_depth,
        "dropped": dropped,
    }
