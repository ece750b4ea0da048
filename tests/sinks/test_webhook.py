"""Webhook sink against a real local HTTP server that fails before it succeeds."""

from __future__ import annotations

from typing import Any

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.sinks import make_envelope
from edgeinfer.sinks.webhook import WebhookSink


def envelope(i: int) -> dict[str, Any]:
    return make_envelope(device_id="d", stream="s", frame_index=i, result={"i": i})


def test_fails_twice_then_succeeds(webhook_server: Any) -> None:
    webhook_server.script = [503, 500]
    with WebhookSink(webhook_server.url, headers={"Authorization": "Bearer t0k"}, backoff_s=0.01) as sink:
        sink.send(envelope(0))
        sink.send(envelope(1))
        assert sink.flush(5.0)
        stats = sink.stats()
    assert [(status, body["frame_index"]) for status, body, _ in webhook_server.requests] == [
        (503, 0), (500, 0), (200, 0), (200, 1)
    ]
    assert all(auth == "Bearer t0k" for _, _, auth in webhook_server.requests)
    assert stats["sent"] == 2 and stats["retries"] == 2 and stats["errors"] == 0 and stats["queued"] == 0
    assert "t0k" not in repr(sink)


def test_bounded_retries_count_the_failure_and_go_on(webhook_server: Any) -> None:
    webhook_server.script = [500, 500, 500, 400]
    with WebhookSink(webhook_server.url, retries=2, backoff_s=0.01) as sink:
        sink.send(envelope(0))  # 3 attempts, all 500: given up
        sink.send(envelope(1))  # 400: not retried
        sink.send(envelope(2))  # 200
        assert sink.flush(5.0)
        stats = sink.stats()
    assert [status for status, _, _ in webhook_server.requests] == [500, 500, 500, 400, 200]
    assert stats["errors"] == 2 and stats["sent"] == 1


def test_unreachable_server_never_raises(free_port: Any) -> None:
    with WebhookSink(f"http://127.0.0.1:{free_port()}/", retries=1, backoff_s=0.01, timeout_s=1.0) as sink:
        sink.send(envelope(0))
        assert sink.flush(5.0)
        assert sink.stats()["errors"] == 1


def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        WebhookSink("ftp://example")
