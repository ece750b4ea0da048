"""The same rollout through a mosquitto bridge: two devices (the real fleet agent with a
plain switch) on a SITE broker bridged with the kit's bridge.conf to a CENTRAL broker;
``edgeinfer fleet push --canary 1`` to the central broker converges both, and the central
side sees their reported state."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import desired_topic, group_topic, reported_topic
from edgeinfer.fleet.rollout import collect
from edgeinfer.fleet.signing import keygen, load_public_key
from edgeinfer.fleet.transfer import artifact_topic
from tests.model_factory import onnx_cnn_bytes

KIT = Path(__file__).resolve().parents[2] / "devices" / "kits" / "broker"
DEVICES = ("site-cam-1", "site-cam-2")


def bridge_lines(central: Any) -> list[str]:
    """The kit's bridge section, pointed at ``central`` (no credentials: both test brokers are anonymous)."""
    lines = [line for line in (KIT / "bridge.conf").read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("connection ")
    return [f"address {central.host}:{central.port}" if line.startswith("address ") else line for line in lines]


def test_a_rollout_pushed_to_the_central_broker_reaches_devices_on_the_site_broker(
    tmp_path: Path, mosquitto_factory: Any, wait_for: Any
) -> None:
    central = mosquitto_factory()
    site = mosquitto_factory(start=False)
    site.conf_path.write_text(site.conf_path.read_text() + "\n".join(bridge_lines(central)) + "\n")
    site.start()
    _, public = keygen(tmp_path / "keys")
    calls: list[tuple[str, str]] = []

    def switch(stream: str, path: Path, sha: str, card: dict[str, Any], desired: Any) -> tuple[str, Any]:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        calls.append((stream, sha))
        return "running", None

    clients = [BrokerClient(site.host, site.port) for _ in DEVICES]
    agents = [FleetAgent(device, ["site-g"], tmp_path / device, load_public_key(public), client, switch=switch,
                         running={"front": "0" * 64}) for device, client in zip(DEVICES, clients, strict=True)]
    ops = BrokerClient(central.host, central.port)
    try:
        seen, lock = collect(ops, ["edgeinfer/+/reported"], 0.0)
        for agent in agents:
            agent.start()
        assert wait_for(lambda: all(reported_topic(d) in seen for d in DEVICES), timeout_s=15), \
            site.log_text()[-3000:]
        data = onnx_cnn_bytes(seed=50)
        (tmp_path / "m.onnx").write_bytes(data)
        pushed = subprocess.run(
            [sys.executable, "-m", "edgeinfer", "fleet", "push", "m.onnx", "--group", "site-g", "--canary", "1",
             "--key", "keys/fleet.key", "--version", "b1", "--watch-s", "0", "--wait-s", "30", "--chunk-kb", "2",
             "--broker", f"{central.host}:{central.port}", "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False)
        assert pushed.returncode == 0, pushed.stderr + site.log_text()[-3000:]
        record = json.loads(pushed.stdout)
        assert record["result"] == "done" and record["canaries"] == [DEVICES[0]]
        sha = hashlib.sha256(data).hexdigest()
        assert wait_for(lambda: all(seen[reported_topic(d)].get("version") == "b1" for d in DEVICES), timeout_s=15)
        with lock:
            assert all(seen[reported_topic(d)]["streams"]["front"]["sha256"] == sha for d in DEVICES)
        assert calls == [("front", sha), ("front", sha)]
        # the site broker holds its own retained copies of the group's document and the chunks
        local = BrokerClient(site.host, site.port)
        try:
            kept, _ = collect(local, [group_topic("site-g"), artifact_topic(sha, "manifest")], 0.0)
            assert wait_for(lambda: len(kept) == 2, timeout_s=5), kept
            assert kept[group_topic("site-g")]["version"] == "b1"
        finally:
            local.close()
        assert "New bridge connected from" in central.log_text()  # try_private: it knows the bridge
    finally:
        for agent in agents:
            agent.stop()
        for client in clients:
            client.close()
        for topic in (group_topic("site-g"), *(desired_topic(d) for d in DEVICES)):
            ops.publish(topic, b"", retain=True)
        ops.close()
