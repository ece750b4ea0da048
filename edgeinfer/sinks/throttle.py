"""Decide which envelopes a sink publishes: only changes, and at most N per second.

Both rules apply per stream. With ``on_change`` an envelope passes only when its
``result`` differs from the last one that passed; a change that arrives too soon for
``max_rate_hz`` is held back, and passes with the next envelope that still differs once
the interval is over, so the latest state is never lost for good.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edgeinfer.errors import ConfigError

__all__ = ["Throttle"]


class Throttle:
    """Per-stream change and rate filter.

    Args:
        on_change: Pass an envelope only when ``envelope["result"]`` changed.
        max_rate_hz: At most this many envelopes per second per stream; ``None`` for no limit.

    Raises:
        ConfigError: ``max_rate_hz`` is not positive.
    """

    def __init__(self, *, on_change: bool = False, max_rate_hz: float | None = None) -> None:
        if max_rate_hz is not None and not max_rate_hz > 0:
            raise ConfigError(f"max_rate_hz must be positive or None, got {max_rate_hz!r}")
        self.on_change = on_change
        self.min_interval_s = 0.0 if max_rate_hz is None else 1.0 / max_rate_hz
        self._last_result: dict[str, Any] = {}
        self._last_time: dict[str, float] = {}
        self._lock = threading.Lock()

    def admit(self, envelope: dict[str, Any], now_s: float | None = None) -> bool:
        """Return True when ``envelope`` should be published, and remember it if so.

        Args:
            envelope: The envelope; ``stream`` and ``result`` are read.
            now_s: Monotonic time in seconds; ``time.monotonic()`` when ``None``.
        """
        stream = str(envelope.get("stream", ""))
        result = envelope.get("result")
        now = time.monotonic() if now_s is None else now_s
        with self._lock:
            if self.on_change and stream in self._last_result and self._last_result[stream] == result:
                return False
            last = self._last_time.get(stream)
            if last is not None and now - last < self.min_interval_s:
                return False
            self._last_time[stream] = now
            self._last_result[stream] = result
            return True
