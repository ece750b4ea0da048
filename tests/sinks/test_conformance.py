"""The contract every sink keeps; each implementation subclasses :class:`SinkContract`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.errors import SinkError
from edgeinfer.sinks import Sink, make_envelope, registry


class SinkContract:
    """Subclasses set ``name`` and implement ``make`` (fixtures come through ``request``)."""

    name = ""

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        raise NotImplementedError

    def send_some(self, sink: Any, count: int) -> None:
        frame = np.zeros((48, 64, 3), np.uint8)
        for i in range(count):
            envelope = make_envelope(device_id="contract", stream="s", frame_index=i, result={"i": i})
            sink.send(envelope, frame=frame, result=None)

    def test_is_registered_and_follows_the_protocol(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        with self.make(tmp_path, request) as sink:
            assert isinstance(sink, registry.get(self.name))
            assert isinstance(sink, Sink)

    def test_delivers_everything_sent_and_counts_it(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        with self.make(tmp_path, request) as sink:
            self.send_some(sink, 5)
            assert sink.flush(10.0)
            stats = sink.stats()
        assert {"sent", "queued", "dropped", "errors"} <= set(stats)
        assert (stats["sent"], stats["queued"], stats["dropped"], stats["errors"]) == (5, 0, 0, 0)

    def test_send_after_close_is_a_sink_error(self, tmp_path: Path, request: pytest.FixtureRequest) -> None:
        sink = self.make(tmp_path, request)
        sink.close()
        sink.close()  # closing twice is harmless
        with pytest.raises(SinkError, match="closed"):
            self.send_some(sink, 1)
        assert "sent" in sink.stats()  # the daemon's health message may still ask


class TestMemory(SinkContract):
    name = "memory"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return registry.get("memory")()


class TestJsonl(SinkContract):
    name = "jsonl"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return registry.get("jsonl")(path=tmp_path / "out.jsonl")  # type: ignore[call-arg]


class TestVideo(SinkContract):
    name = "video"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return registry.get("video")(path=tmp_path / "out.mp4", fps=5.0)  # type: ignore[call-arg]


class TestWebhook(SinkContract):
    name = "webhook"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        server = request.getfixturevalue("webhook_server")
        return registry.get("webhook")(url=server.url, timeout_s=5.0, retries=1)  # type: ignore[call-arg]


class TestMqtt(SinkContract):
    name = "mqtt"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        from edgeinfer.sinks.mqtt import MqttOptions

        broker = request.getfixturevalue("mosquitto")
        options = MqttOptions(host=broker.host, port=broker.port, queue_path=str(tmp_path / "q.sqlite3"))
        return registry.get("mqtt")(options, device_id="contract")  # type: ignore[call-arg]


class TestLive(SinkContract):
    name = "live"

    def make(self, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
        return registry.get("live")(lambda: {"s": {"fps": 1.0}})  # type: ignore[call-arg]
