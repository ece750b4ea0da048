"""The same rollout through a mosquitto bridge: two devices (the real fleet agent with a
plain switch) on a SITE broker bridged with the kit's bridge.conf to a CENTRAL broker that
has the kit's client-certificate listener and ACL (the bridge logs in with its own
certificate, the operator with ops's); ``edgeinfer fleet push --canary 1`` to the central
broker converges both, and the central side sees their reported state."""

from __future__ import annotations

import hashlib
import json
import os
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
from tests.fleet.cert_kit import KIT, cert_broker, make_pki
from tests.model_factory import onnx_cnn_bytes

DEVICES = ("site-cam-1", "site-cam-2")
BRIDGE = "edgeinfer-bridge-site-a"


def bridge_lines(central: Any, certs: Path) -> list[str]:
    """The kit's bridge section, pointed at ``central``, with its client-certificate lines in use."""
    files = {"bridge_cafile": certs / "ca.crt", "bridge_certfile": certs / f"{BRIDGE}.crt",
             "bridge_keyfile": certs / f"{BRIDGE}.key"}
    lines = []
    for line in (KIT / "bridge.conf").read_text().splitlines():
        key = line.lstrip("#").split(" ", 1)[0]
        if key in files:
            lines.append(f"{key} {files[key]}")
        elif key == "address":
            lines.append(f"address {central.host}:{central.port}")
        elif line and not line.startswith("#"):
            lines.append(line)
    assert lines[0].startswith("connection ") and len(lines) > 10
    return lines


def test_a_rollout_pushed_to_the_central_broker_reaches_devices_on_the_site_broker(
    tmp_path: Path, mosquitto_factory: Any, wait_for: Any
) -> None:
    certs = make_pki(tmp_path / "pki", ["ops", BRIDGE])
    assert f"clientid {BRIDGE}" in (KIT / "bridge.conf").read_text()
    central = cert_broker(mosquitto_factory, certs)  # the kit's ACL has the bridge's user
    site = mosquitto_factory(start=False)
    site.conf_path.write_text(site.conf_path.read_text() + "\n".join(bridge_lines(central, certs)) + "\n")
    site.start()
    ops_tls = (str(certs / "ca.crt"), str(certs / "ops.crt"), str(certs / "ops.key"))
    _, public = keygen(tmp_path / "keys")
    calls: list[tuple[str, str]] = []

    def switch(stream: str, path: Path, sha: str, card: dict[str, Any], desired: Any) -> tuple[str, Any]:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        calls.append((stream, sha))
        return "running", None

    clients = [BrokerClient(site.host, site.port) for _ in DEVICES]
    agents = [FleetAgent(device, ["site-g"], tmp_path / device, load_public_key(public), client, switch=switch,
                         running={"front": "0" * 64}) for device, client in zip(DEVICES, clients, strict=True)]
    ops = BrokerClient(central.host, central.port, tls=ops_tls)
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
            cwd=tmp_path, capture_output=True, text=True, timeout=90, check=False,
            env={**os.environ, "EDGEINFER_MQTT_CA": ops_tls[0], "EDGEINFER_MQTT_CERT": ops_tls[1],
                 "EDGEINFER_MQTT_KEY": ops_tls[2]})
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
        assert "New bridge connected from 127.0.0.1" in central.log_text()  # try_private: it knows the bridge
        assert f"u'{BRIDGE}'" in central.log_text()  # logged in with its certificate's CN
    finally:
        for agent in agents:
            agent.stop()
        for client in clients:
            client.close()
        for topic in (group_topic("site-g"), *(desired_topic(d) for d in DEVICES)):
            ops.publish(topic, b"", retain=True)
        ops.close()
