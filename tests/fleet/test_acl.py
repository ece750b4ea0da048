"""The fleet ACL (devices/kits/broker) in a real mosquitto with per-device passwords: a device's
own reported document arrives, a forged one for another device or a group never does, and it
reads only its own and its groups' desired documents."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgeinfer.fleet.acl import acl_text
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import desired_topic, group_topic, reported_topic
from edgeinfer.fleet.rollout import collect
from edgeinfer.fleet.transfer import artifact_topic

KIT = Path(__file__).resolve().parents[2] / "devices" / "kits" / "broker"
USERS = {"ops": "ops-pw", "cam-1": "pw-1", "cam-2": "pw-2"}


def test_the_kit_acl_is_the_generated_one() -> None:
    assert (KIT / "edgeinfer.acl").read_text() == acl_text({"cam-1": ["lobby"], "cam-2": ["lobby", "site-a"]},
                                                           ["ops"], ["edgeinfer-bridge-site-a"])
    assert "acl_file" in (KIT / "mosquitto.conf").read_text()


def test_a_device_publishes_and_reads_only_its_own_and_its_groups_topics(
    mosquitto_factory: Any, wait_for: Any
) -> None:
    broker = mosquitto_factory(users=USERS, start=False)
    acl = Path(broker.folder) / "edgeinfer.acl"
    acl.write_text((KIT / "edgeinfer.acl").read_text())
    broker.conf_path.write_text(broker.conf_path.read_text() + f"acl_file {acl}\n")
    broker.start()
    ops = BrokerClient(broker.host, broker.port, username="ops", password="ops-pw")
    cam = BrokerClient(broker.host, broker.port, client_id="cam-1", username="cam-1", password="pw-1")
    try:
        seen, _ = collect(ops, ["edgeinfer/+/reported", group_topic("lobby")], 0.0)
        for topic in (group_topic("lobby"), group_topic("site-a"), desired_topic("cam-2"), desired_topic("cam-1"),
                      artifact_topic("ab" * 32, "manifest")):
            ops.publish(topic, json.dumps({"from": "ops", "topic": topic}), retain=True)
        # forged first, then its own: once its own arrived, the forged ones would have too. QoS 0:
        # mosquitto 2.0.11 answers a denied QoS 1 publication of an MQTT 3.1.1 client with a
        # PUBACK carrying a reason code, which paho takes for a broken connection.
        for topic in (reported_topic("cam-2"), group_topic("lobby")):
            cam.client.publish(topic, json.dumps({"forged": True}), qos=0, retain=True)
        cam.publish(reported_topic("cam-1"), json.dumps({"device_id": "cam-1"}), retain=True)
        assert wait_for(lambda: reported_topic("cam-1") in seen, timeout_s=5), seen
        assert reported_topic("cam-2") not in seen
        assert seen[group_topic("lobby")] == {"from": "ops", "topic": group_topic("lobby")}
        assert "Denied PUBLISH from cam-1" in broker.log_text()

        read, _ = collect(cam, [group_topic("site-a"), desired_topic("cam-2")], 0.0)  # not its group, not its id
        allowed = [group_topic("lobby"), desired_topic("cam-1"), artifact_topic("ab" * 32, "manifest")]
        mine, _ = collect(cam, allowed, 0.0)
        assert wait_for(lambda: len(mine) == 3, timeout_s=5), mine
        assert read == {}
    finally:
        cam.close()
        ops.close()
