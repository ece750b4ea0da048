"""Per-device credentials with client certificates: the kit's make-certs.sh and certs.conf
settings in a real mosquitto (require_certificate, use_identity_as_username, the fleet ACL).
A device with its certificate connects through the daemon's MQTT sink and its reported
state arrives; its publication on another device's topic is denied; without a certificate
the connection is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.errors import SinkError
from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import reported_topic
from edgeinfer.fleet.rollout import collect
from edgeinfer.fleet.signing import keygen, load_public_key
from edgeinfer.sinks.mqtt import MqttOptions, MqttSink, TlsOptions
from tests.fleet.cert_kit import cert_broker, make_pki


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("fleet-pki"), ["cam-1", "ops"])


def test_a_device_logs_in_with_its_certificate_and_the_acl_applies_to_its_cn(
    tmp_path: Path, certs: Path, mosquitto_factory: Any, wait_for: Any
) -> None:
    broker = cert_broker(mosquitto_factory, certs)
    ops = BrokerClient(broker.host, broker.port, tls=(str(certs / "ca.crt"), str(certs / "ops.crt"),
                                                      str(certs / "ops.key")))
    seen, _ = collect(ops, ["edgeinfer/+/reported"], 0.0)
    tls = TlsOptions(ca=certs / "ca.crt", cert=certs / "cam-1.crt", key=certs / "cam-1.key")
    sink = MqttSink(MqttOptions(host=broker.host, port=broker.port, tls=tls, queue_path=tmp_path / "q.sqlite3"),
                    device_id="cam-1")
    _, public = keygen(tmp_path / "keys")
    agent = FleetAgent("cam-1", ["lobby"], tmp_path / "artifacts", load_public_key(public), sink,
                       switch=lambda *a: ("running", None), running={"front": "0" * 64})
    try:
        sink.wait_connected(10)
        agent.start()  # publishes its reported state (no desired document yet)
        assert wait_for(lambda: reported_topic("cam-1") in seen, timeout_s=10), broker.log_text()[-2000:]
        assert seen[reported_topic("cam-1")]["groups"] == ["lobby"]
        sink._client.publish(reported_topic("cam-2"), json.dumps({"forged": True}), qos=0, retain=True)
        assert wait_for(lambda: "Denied PUBLISH from edgeinfer-cam-1" in broker.log_text(), timeout_s=10)
        # the forged one first, then its own again: once its own arrived, the forged one would have too
        first = seen[reported_topic("cam-1")]["timestamp"]
        sink.wait_connected(10)  # mosquitto 2.0.11 may drop a TLS client after a denial; the sink reconnects
        assert wait_for(lambda: sink.connected and agent.publish() and
                        seen[reported_topic("cam-1")]["timestamp"] > first, timeout_s=10)
        assert reported_topic("cam-2") not in seen
    finally:
        agent.stop()
        sink.close()
        ops.close()
    with pytest.raises(SinkError):  # no client certificate: refused in the TLS handshake
        BrokerClient(broker.host, broker.port, timeout_s=2, tls=(str(certs / "ca.crt"), None, None))
    bare = MqttSink(MqttOptions(host=broker.host, port=broker.port, tls=TlsOptions(ca=certs / "ca.crt"),
                                queue_path=tmp_path / "q2.sqlite3"), device_id="cam-1")
    try:
        with pytest.raises(SinkError):
            bare.wait_connected(2)
    finally:
        bare.close()
    assert "peer did not return a certificate" in broker.log_text()
