"""Webhook sink: POST each envelope as JSON to an HTTP endpoint, retrying with backoff.

``send`` only appends to a bounded in-memory queue; one worker thread posts envelopes
in order with the standard library's ``urllib`` (no extra dependency). Connection
errors, timeouts, HTTP 429 and 5xx are retried up to ``retries`` times with
exponential backoff; other 4xx answers are not (the request itself is wrong). An
envelope that still fails is counted in ``errors`` and logged; nothing raises into the
pipeline. Unlike the MQTT sink, nothing is kept on disk: a full queue drops its oldest
envelope (counted in ``dropped``).
"""

from __future__ import annotations

import base64
import collections
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from edgeinfer.errors import ConfigError, SinkError
from edgeinfer.sinks.base import BaseSink, SinkConfig, encode_envelope

__all__ = ["WebhookSink", "WebhookSinkConfig"]

log = logging.getLogger(__name__)


class _Retry(Exception):
    """A failure worth another attempt."""


class WebhookSinkConfig(SinkConfig):
    """POST each result as JSON to a URL."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0)
    inline_snapshots: bool = Field(False, description=(
        "events carry their snapshot JPEGs inline, base64 (snapshot.frame_b64, snapshot.crop_b64)"))


def _inline(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """``snapshot`` with ``frame_b64`` / ``crop_b64`` added from its JPEG files (left out when unreadable)."""
    out = dict(snapshot)
    for key in ("frame", "crop"):
        path = snapshot.get(key)
        if not path:
            continue
        try:
            out[f"{key}_b64"] = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        except OSError as exc:
            log.warning("webhook: snapshot %s not inlined: %s", path, exc)
    return out


class WebhookSink(BaseSink):
    """POST envelopes to ``url``.

    Args:
        url: ``http://`` or ``https://`` endpoint.
        headers: Extra request headers (an ``Authorization`` token, say).
        timeout_s: Per-request timeout, seconds.
        retries: Further attempts after the first one fails.
        backoff_s: Wait before the first retry, seconds; doubles on each retry.
        max_backoff_s: Upper bound of the wait, seconds.
        queue_max: Envelopes waiting in memory at most; the oldest is dropped beyond.
        inline_snapshots: Add each event's snapshot JPEGs to its body as base64
            (``snapshot.frame_b64``, ``snapshot.crop_b64``), for receivers that cannot read
            the device's snapshot folder.

    Raises:
        ConfigError: the URL or a number is invalid.
    """

    Config: ClassVar[type[WebhookSinkConfig]] = WebhookSinkConfig
    close_timeout_s = 2.0

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        queue_max: int = 1000,
        inline_snapshots: bool = False,
    ) -> None:
        super().__init__()
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook url must start with http:// or https://, got {url!r}")
        if retries < 0 or queue_max < 1 or timeout_s <= 0:
            raise ConfigError(
                f"webhook needs retries >= 0, queue_max >= 1 and timeout_s > 0; got "
                f"{retries}, {queue_max}, {timeout_s}"
            )
        self.url = url
        self.inline_snapshots = inline_snapshots
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._timeout_s = timeout_s
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._pending: collections.deque[bytes] = collections.deque()
        self._queue_max = queue_max
        self._cond = threading.Condition()
        self._busy = False
        self._closing = threading.Event()
        self._worker = threading.Thread(target=self._run, name="edgeinfer-webhook", daemon=True)
        self._worker.start()

    def __repr__(self) -> str:
        return f"WebhookSink(url={self.url!r})"  # headers may hold tokens: not shown

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Queue one envelope for posting; returns at once.

        Raises:
            SinkError: the sink is closed.
        """
        if self._closing.is_set():
            raise SinkError("The webhook sink is closed; create a new one to send more results")
        self._queue_body(encode_envelope(envelope))

    def send_event(self, event: dict[str, Any]) -> None:
        """Queue one event message for posting, its snapshots inline when ``inline_snapshots``.

        Raises:
            SinkError: the sink is closed.
        """
        if self._closing.is_set():
            raise SinkError("The webhook sink is closed; create a new one to send more events")
        if self.inline_snapshots and event.get("snapshot"):
            event = {**event, "snapshot": _inline(event["snapshot"])}
        self._queue_body(encode_envelope(event))

    def _queue_body(self, body: bytes) -> None:
        with self._cond:
            if len(self._pending) >= self._queue_max:
                self._pending.popleft()
                self._counters.add("dropped")
            self._pending.append(body)
            self._cond.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued envelope was posted or given up; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stats(self) -> dict[str, int]:
        """``sent``, ``queued``, ``dropped``, ``errors`` (given up) and ``retries``."""
        values = self._counters.snapshot()
        with self._cond:
            values["queued"] = len(self._pending) + int(self._busy)
        values.setdefault("retries", 0)
        return values

    def close(self) -> None:
        """Post what is queued for up to ``close_timeout_s`` seconds, then stop; the rest is dropped."""
        if self._closing.is_set():
            return
        self.flush(self.close_timeout_s)
        self._closing.set()
        with self._cond:
            self._counters.add("dropped", len(self._pending))
            self._pending.clear()
            self._cond.notify_all()
        self._worker.join(self._timeout_s + self.close_timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing.is_set():
                    self._cond.wait()
                if not self._pending:
                    return
                body = self._pending.popleft()
                self._busy = True
            try:
                self._post_with_retries(body)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _post_with_retries(self, body: bytes) -> None:
        for attempt in range(self._retries + 1):
            try:
                self._post(body)
                self._counters.add("sent")
                return
            except _Retry as exc:
                if attempt == self._retries:
                    log.warning("webhook %s: giving up after %d attempts: %s", self.url, attempt + 1, exc)
                    break
                self._counters.add("retries")
                delay = min(self._backoff_s * 2**attempt, self._max_backoff_s)
                if self._closing.wait(delay):
                    break
            except SinkError as exc:
                log.warning("webhook %s: %s", self.url, exc)
                break
        self._counters.add("errors")

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 429 or exc.code >= 500:
                raise _Retry(f"HTTP {exc.code} {exc.reason}") from exc
            raise SinkError(f"the server rejected the envelope: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise _Retry(str(exc)) from exc
