"""MQTT sink against a real mosquitto: order, once-only delivery, auth, TLS, status, commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.control import command_topic
from edgeinfer.errors import ConfigError, SinkError
from edgeinfer.health import publish_health
from edgeinfer.sinks import make_envelope, registry
from edgeinfer.sinks.mqtt import MqttOptions, MqttSink, TlsOptions


def envelope(i: int, device_id: str, stream: str = "front", result: Any = None) -> dict[str, Any]:
    return make_envelope(device_id=device_id, stream=stream, frame_index=i, model="m.tflite",
                         latency_ms=1.5, result=result if result is not None else {"index": i})


def frame_indices(payloads: list[bytes]) -> list[int]:
    return [json.loads(p)["frame_index"] for p in payloads]


def make_sink(broker: Any, tmp_path: Path, device_id: str, **options: Any) -> MqttSink:
    opts = MqttOptions(host=broker.host, port=broker.port, queue_path=str(tmp_path / f"{device_id}.sqlite3"),
                       **options)
    return MqttSink(opts, device_id=device_id)


def test_registry_returns_the_mqtt_sink() -> None:
    assert registry.get("mqtt") is MqttSink
    with pytest.raises(ConfigError, match="Did you mean 'mqtt'"):
        registry.get("mqt")


def test_every_envelope_arrives_once_in_order(mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path) -> None:
    sub = mqtt_subscriber(mosquitto, "edgeinfer/dev-order/+/results")
    n = 300
    with make_sink(mosquitto, tmp_path, "dev-order", qos=1) as sink:
        for i in range(n):
            sink.send(envelope(i, "dev-order"))
        assert sink.flush(10.0)
        assert sub.wait_count(n)
        stats = sink.stats()
    assert frame_indices(sub.payloads()) == list(range(n))
    assert sub.messages[0][0] == "edgeinfer/dev-order/front/results"
    assert stats["sent"] == n and stats["queued"] == 0 and stats["dropped"] == 0


@pytest.mark.parametrize("qos", [0, 2])
def test_other_qos_levels_deliver_in_order(
    wait_for: Any, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path, qos: int
) -> None:
    device = f"dev-qos{qos}"
    sub = mqtt_subscriber(mosquitto, f"edgeinfer/{device}/#")
    with make_sink(mosquitto, tmp_path, device, qos=qos) as sink:
        for i in range(50):
            sink.send(envelope(i, device))
        assert sink.flush(10.0)
        assert wait_for(lambda: len(sub.payloads(f"edgeinfer/{device}/front/results")) >= 50)
    assert frame_indices(sub.payloads(f"edgeinfer/{device}/front/results")) == list(range(50))


def test_broker_restart_mid_stream_loses_nothing_and_keeps_order(
    wait_for: Any, mosquitto_factory: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    # A persistent broker and a persistent subscriber session keep the test's own view
    # complete across the restart; what is under test is the sink's queue and resend.
    broker = mosquitto_factory(persistence=True)
    topic = "edgeinfer/dev-restart/front/results"
    sub = mqtt_subscriber(broker, topic, client_id="sub-restart", clean_session=False)
    n = 200
    with make_sink(broker, tmp_path, "dev-restart", qos=1) as sink:
        for i in range(n):
            sink.send(envelope(i, "dev-restart"))
            if i == 80:
                broker.stop()
                assert wait_for(lambda: not sink.connected)
            if i == 150:
                assert sink.stats()["queued"] >= 60  # produced while the broker was down
                broker.start()
        assert sink.flush(20.0), sink.stats()
        assert sub.wait_count(n, timeout_s=10.0)
    received = frame_indices(sub.payloads(topic))
    first_seen = list(dict.fromkeys(received))
    assert first_seen == list(range(n))  # none lost, in order (QoS 1 may repeat one in flight)


def test_wrong_password_is_refused_with_a_clear_error(
    mosquitto_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broker = mosquitto_factory(users={"camera": "right-horse-battery"})
    opts = MqttOptions(host=broker.host, port=broker.port, username="camera",
                       queue_path=str(tmp_path / "q.sqlite3"))
    caplog.set_level(logging.DEBUG)
    with MqttSink(opts, device_id="dev-auth", environ={"EDGEINFER_MQTT_PASSWORD": "wrong-staple"}) as sink:
        with pytest.raises(SinkError, match=r"refused the connection: Not authorized.*password"):
            sink.wait_connected(3.0)
        assert not sink.connected
        sink.send(envelope(0, "dev-auth"))  # still accepted: queued until credentials are fixed
        assert sink.stats()["queued"] == 1 and sink.stats()["connected"] == 0
    assert "refused" in caplog.text
    assert "wrong-staple" not in caplog.text and "wrong-staple" not in repr(sink)


def test_tls_with_client_certificate_and_password_file(
    wait_for: Any, mosquitto_factory: Any, mqtt_subscriber: Any, tls_files: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory(tls=tls_files, users={"camera": "right-horse-battery", "viewer": "v"})
    sub = mqtt_subscriber(broker, "edgeinfer/dev-tls/#", tls=tls_files, username="viewer", password="v")
    password_file = tmp_path / "password"
    password_file.write_text("right-horse-battery\n")
    tls = TlsOptions(ca=str(tls_files.ca), cert=str(tls_files.client_cert), key=str(tls_files.client_key))
    opts = MqttOptions(host=broker.host, port=broker.port, username="camera", tls=tls,
                       password_file=str(password_file), queue_path=str(tmp_path / "q.sqlite3"))
    with MqttSink(opts, device_id="dev-tls", environ={}) as sink:
        sink.wait_connected(5.0)
        for i in range(10):
            sink.send(envelope(i, "dev-tls"))
        assert sink.flush(10.0)
        assert wait_for(lambda: len(sub.payloads("edgeinfer/dev-tls/front/results")) == 10)
    assert frame_indices(sub.payloads("edgeinfer/dev-tls/front/results")) == list(range(10))


# paho leaks the socket of a failed TLS handshake (ResourceWarning from its network thread).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_tls_without_trusted_ca_never_connects(
    mosquitto_factory: Any, tls_files: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory(tls=tls_files)
    opts = MqttOptions(host=broker.host, port=broker.port, tls=TlsOptions(),  # system CAs: untrusted
                       queue_path=str(tmp_path / "q.sqlite3"))
    with MqttSink(opts, device_id="dev-notrust", environ={}) as sink, \
            pytest.raises(SinkError, match="Could not connect"):
        sink.wait_connected(1.5)


def test_password_never_in_repr() -> None:
    opts = MqttOptions(username="u", password="hunter2-secret")
    assert "hunter2-secret" not in repr(opts)
    with pytest.raises(ConfigError, match="qos must be 0, 1 or 2"):
        MqttOptions(qos=3)
    with pytest.raises(ConfigError, match=r"unknown fields \['camera'\]"):
        MqttOptions(topic="x/{camera}")


def test_on_change_publishes_only_changes(mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path) -> None:
    sub = mqtt_subscriber(mosquitto, "edgeinfer/dev-change/front/results")
    labels = ["cat", "cat", "dog", "dog", "dog", "cat"]
    with make_sink(mosquitto, tmp_path, "dev-change", on_change=True) as sink:
        for i, label in enumerate(labels):
            sink.send(envelope(i, "dev-change", result={"label": label}))
        assert sink.flush(5.0)
        skipped = sink.stats()["skipped"]
    assert sub.wait_count(3)
    assert frame_indices(sub.payloads()) == [0, 2, 5]
    assert skipped == 3


def test_max_rate_limits_each_stream(
    wait_for: Any, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    sub = mqtt_subscriber(mosquitto, "edgeinfer/dev-rate/+/results")
    with make_sink(mosquitto, tmp_path, "dev-rate", max_rate_hz=4.0) as sink:
        for i in range(20):  # a burst far faster than 4 Hz
            sink.send(envelope(i, "dev-rate", stream="a"))
            sink.send(envelope(i, "dev-rate", stream="b"))
        assert wait_for(lambda: False, timeout_s=0.3) is False  # let the 250 ms interval pass
        sink.send(envelope(20, "dev-rate", stream="a"))
        assert sink.flush(5.0)
    assert sub.wait_count(3)
    per_stream = {t.split("/")[2]: frame_indices(sub.payloads(t)) for t, _, _ in sub.messages}
    assert per_stream == {"a": [0, 20], "b": [0]}


def test_status_online_then_offline_on_close(
    wait_for: Any, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    sub = mqtt_subscriber(mosquitto, "edgeinfer/dev-status/status")
    sink = make_sink(mosquitto, tmp_path, "dev-status")
    sink.wait_connected(5.0)
    assert wait_for(lambda: sub.payloads() == [b"online"])
    sink.close()
    assert wait_for(lambda: sub.payloads() == [b"online", b"offline"])


def test_health_and_command_round_trip(mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path) -> None:
    with make_sink(mosquitto, tmp_path, "dev-cmd") as sink:
        def on_command(topic: str, payload: bytes) -> None:
            sink.publish_raw(f"{topic}/reply", json.dumps({"ok": True, "echo": payload.decode()}))

        sink.subscribe(command_topic("dev-cmd"), on_command)
        sink.wait_connected(5.0)
        live = mqtt_subscriber(mosquitto, "edgeinfer/dev-cmd/health")
        assert publish_health(sink, "dev-cmd", {"fps": 9.5, **sink.stats()})
        assert live.wait_count(1)
        health = mqtt_subscriber(mosquitto, "edgeinfer/dev-cmd/health")  # subscribes after: retained
        assert health.wait_count(1)
        _, payload, retained = health.messages[0]
        assert retained and json.loads(payload)["fps"] == 9.5
        replies = mqtt_subscriber(mosquitto, "edgeinfer/dev-cmd/cmd/reply")
        replies.client.publish("edgeinfer/dev-cmd/cmd", "status", qos=1)
        assert replies.wait_count(1)
        with pytest.raises(SinkError, match="Cannot publish to MQTT topic 'edgeinfer/#'"):
            sink.publish_raw("edgeinfer/#", "x")
    assert json.loads(replies.payloads()[0]) == {"ok": True, "echo": "status"}


def test_publish_raw_while_disconnected_returns_false(tmp_path: Path, free_port: Any) -> None:
    opts = MqttOptions(host="127.0.0.1", port=free_port(), queue_path=str(tmp_path / "q.sqlite3"))
    with MqttSink(opts, device_id="dev-nobroker") as sink:
        assert sink.publish_raw("edgeinfer/x", "y") is False
        sink.send(envelope(0, "dev-nobroker"))
        assert sink.flush(0.2) is False
        assert sink.stats()["queued"] == 1


def test_full_queue_drops_oldest_counts_it_and_sends_the_rest_in_order(
    mosquitto_factory: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory(start=False)  # down while the results pile up
    with make_sink(broker, tmp_path, "dev-full", queue_max=5) as sink:
        for i in range(8):
            sink.send(envelope(i, "dev-full"))
        stats = sink.stats()
    assert (stats["queued"], stats["dropped"]) == (5, 3)

    broker.start()
    sub = mqtt_subscriber(broker, "edgeinfer/dev-full/front/results")
    with make_sink(broker, tmp_path, "dev-full", queue_max=5) as sink:  # same queue file
        assert sink.flush(10.0)
        assert sink.stats()["dropped"] == 3  # the count is kept on disk for the health message
    assert sub.wait_count(5)
    assert frame_indices(sub.payloads()) == [3, 4, 5, 6, 7]
