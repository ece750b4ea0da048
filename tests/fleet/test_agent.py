"""The fleet agent against a real broker: catching up after being offline, device over group,
refusals remembered across a restart, pruning. The switch is a plain function here (the
daemon's health-gated switch is tested in test_fleet_daemon.py)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import desired_topic, group_topic, reported_topic
from edgeinfer.fleet.signing import keygen, load_private_key, load_public_key
from edgeinfer.fleet.transfer import publish_artifact
from tests.model_factory import onnx_cnn_bytes


class Switch:
    """Accepts every artifact except those whose sha256 is in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        self.refuse = refuse or set()
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, stream: str, path: Path, sha: str, card: dict[str, Any], desired: Any) -> tuple[str, Any]:
        assert path.read_bytes()  # a verified file in artifact_dir
        self.calls.append((stream, sha, card))
        return ("rolled_back", "errors went up") if sha in self.refuse else ("running", None)


def doc(manifest: Any, version: str, **card: Any) -> str:
    return json.dumps({"version": version, "watch_s": 0,
                       "streams": {"*": {"sha256": manifest.sha256, "size": manifest.size, "card": card}}})


def test_agent_catches_up_prefers_its_own_doc_and_remembers_refusals(
    tmp_path: Path, mosquitto: Any, wait_for: Any
) -> None:
    private, public = keygen(tmp_path / "keys")
    key, pub = load_private_key(private), load_public_key(public)
    ops = BrokerClient(mosquitto.host, mosquitto.port)
    reports: dict[str, dict[str, Any]] = {}
    ops.subscribe(reported_topic("dev-a"), lambda t, p: reports.update(last=json.loads(p)))
    models = [publish_artifact(ops, onnx_cnn_bytes(seed=10 + i), key, chunk_size=512) for i in range(3)]
    # pushed while the device is offline: it converges when it comes up
    ops.publish(group_topic("agents-g"), doc(models[0], "g1"), retain=True)
    ops.publish(desired_topic("dev-a"), doc(models[1], "d1", labels=list("abcde")), retain=True)
    artifacts = tmp_path / "artifacts"

    def start(switch: Switch) -> tuple[FleetAgent, BrokerClient]:
        client = BrokerClient(mosquitto.host, mosquitto.port)
        agent = FleetAgent("dev-a", ["agents-g"], artifacts, pub, client, switch=switch, running={"front": "0" * 64})
        agent.start()
        return agent, client

    switch = Switch(refuse={models[2].sha256})
    agent, client = start(switch)
    try:
        assert wait_for(lambda: reports.get("last", {}).get("version") == "d1", timeout_s=15), reports
        assert switch.calls == [("front", models[1].sha256, {"labels": list("abcde")})]  # its own doc won
        assert reports["last"]["streams"]["front"]["sha256"] == models[1].sha256
        ops.publish(desired_topic("dev-a"), b"", retain=True)  # cleared: the group's doc applies
        assert wait_for(lambda: reports["last"].get("version") == "g1", timeout_s=15), reports
        ops.publish(group_topic("agents-g"), doc(models[2], "g2"), retain=True)
        assert wait_for(lambda: reports["last"].get("state") == "rolled_back", timeout_s=15), reports
        assert reports["last"]["version"] == "g1" and reports["last"]["reason"] == "errors went up"
        kept = {p.name.split(".")[0] for p in artifacts.iterdir() if p.is_file() and p.suffix == ".onnx"}
        assert kept == {models[0].sha256, models[1].sha256}  # the running and the previous one; refused pruned
    finally:
        agent.stop()
        client.close()
    # a restart
    restarted = time.time()
    again = Switch()
    agent, client = start(again)
    try:
        assert wait_for(lambda: reports["last"]["timestamp"] > restarted, timeout_s=15)
        assert wait_for(lambda: reports["last"]["desired_version"] == "g2", timeout_s=15)
        assert reports["last"]["state"] == "rolled_back" and "errors went up" in reports["last"]["reason"]
        assert again.calls == []  # the rolled-back model is not tried again under g2
        ops.publish(group_topic("agents-g"), doc(models[2], "g3"), retain=True)  # a new version: tried again
        assert wait_for(lambda: reports["last"].get("version") == "g3", timeout_s=15), reports
        assert [sha for _, sha, _ in again.calls] == [models[2].sha256]
    finally:
        agent.stop()
        client.close()
        for topic in (group_topic("agents-g"), desired_topic("dev-a")):
            ops.publish(topic, b"", retain=True)
        ops.close()


def test_agent_converges_on_a_document_published_while_it_was_disconnected(
    tmp_path: Path, mosquitto: Any, wait_for: Any
) -> None:
    private, public = keygen(tmp_path / "keys")
    ops = BrokerClient(mosquitto.host, mosquitto.port)
    reports: list[dict[str, Any]] = []
    ops.subscribe(reported_topic("dev-r"), lambda t, p: reports.append(json.loads(p)))
    manifest = publish_artifact(ops, onnx_cnn_bytes(seed=20), load_private_key(private), chunk_size=512)
    client = BrokerClient(mosquitto.host, mosquitto.port)
    client.client.reconnect_delay_set(min_delay=2, max_delay=2)
    switch = Switch()
    agent = FleetAgent("dev-r", ["recon-g"], tmp_path / "artifacts", load_public_key(public), client,
                       switch=switch, running={"front": "0" * 64})
    agent.start()
    try:
        sock = client.client.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)  # the network drops; paho reconnects after 2 s
        assert wait_for(lambda: not client.connected, timeout_s=5)
        ops.publish(group_topic("recon-g"), doc(manifest, "r1"), retain=True)
        assert not client.connected and switch.calls == []
        assert wait_for(lambda: bool(reports) and reports[-1].get("version") == "r1", timeout_s=20), reports
        assert switch.calls == [("front", manifest.sha256, {})]
    finally:
        agent.stop()
        client.close()
        ops.publish(group_topic("recon-g"), b"", retain=True)
        ops.close()
