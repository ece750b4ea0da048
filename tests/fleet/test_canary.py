"""Canary rollouts (``fleet push --canary``), ``fleet status`` and ``fleet rollback`` against a real
broker and three real fleet agents whose switch really loads the model with ``edgeinfer.load``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from edgeinfer.cli.fleet import command as main
from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import desired_topic, group_topic, reported_topic
from edgeinfer.fleet.rollout import collect, pick_canaries, previous_topic
from edgeinfer.fleet.signing import keygen, load_public_key
from tests.model_factory import onnx_cnn_bytes

GROUP = "canary-g"
DEVICES = ["cam-1", "cam-2", "cam-3"]


class LoadingSwitch:
    """Loads the artifact with edgeinfer.load and warms it up; a model that does not load fails."""

    def __init__(self, device: str, calls: list[tuple[str, str]], lock: threading.Lock) -> None:
        self.device, self.calls, self.lock = device, calls, lock

    def __call__(self, stream: str, path: Path, sha: str, card: dict[str, Any], desired: Any) -> tuple[str, Any]:
        import edgeinfer

        with self.lock:
            self.calls.append((self.device, sha))
        try:
            model = edgeinfer.load(path)
            model.warm()
            model.close()
        except Exception as exc:
            return "failed", f"does not load: {exc}"
        return "running", None


@pytest.fixture()
def fleet(tmp_path: Path, mosquitto: Any, wait_for: Any) -> Iterator[dict[str, Any]]:
    private, public = keygen(tmp_path / "keys")
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()
    ops = BrokerClient(mosquitto.host, mosquitto.port)
    reports, _ = collect(ops, [reported_topic(d) for d in DEVICES], 0.0)
    agents, clients = [], []
    for device in DEVICES:
        client = BrokerClient(mosquitto.host, mosquitto.port)
        agent = FleetAgent(device, [GROUP], tmp_path / device, load_public_key(public), client,
                           switch=LoadingSwitch(device, calls, lock), running={"front": "0" * 64})
        agent.start()
        agents.append(agent)
        clients.append(client)
    assert wait_for(lambda: len(reports) == 3, timeout_s=10)
    yield {"key": str(private), "calls": calls, "reports": reports, "ops": ops,
           "broker": f"{mosquitto.host}:{mosquitto.port}", "agents": agents}
    for agent, client in zip(agents, clients, strict=True):
        agent.stop()
        client.close()
    for topic in [group_topic(GROUP), previous_topic(GROUP), *(desired_topic(d) for d in DEVICES)]:
        ops.publish(topic, b"", retain=True)
    ops.close()


def push(fleet: dict[str, Any], model: Path, *args: str) -> Any:
    return CliRunner().invoke(main, ["push", str(model), "--group", GROUP, "--key", fleet["key"],
                                     "--broker", fleet["broker"], "--chunk-kb", "4", "--watch-s", "0", *args])


def test_canaries_are_picked_from_the_sorted_ids() -> None:
    assert pick_canaries(["c", "a", "b"], "10%") == ["a"]
    assert pick_canaries(["c", "a", "b"], "2") == ["a", "b"]
    assert pick_canaries(["c", "a", "b"], "100%") == ["a", "b", "c"]
    with pytest.raises(Exception, match="share of the group"):
        pick_canaries(["a"], "ten")


def test_canary_first_then_the_group_and_a_bad_model_stops_at_the_canaries(
    tmp_path: Path, fleet: dict[str, Any], mosquitto: Any, mqtt_subscriber: Any, wait_for: Any
) -> None:
    desired = mqtt_subscriber(mosquitto, "edgeinfer/+/desired")
    group_docs = mqtt_subscriber(mosquitto, group_topic(GROUP))
    good = tmp_path / "good.onnx"
    good.write_bytes(onnx_cnn_bytes(seed=40))
    result = push(fleet, good, "--canary", "10%", "--version", "v1", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["result"] == "done" and record["canaries"] == ["cam-1"] and record["devices"] == DEVICES
    # the canary's own document came first, the group's after the canary ran it, then the canary's was cleared
    assert record["published"] == [desired_topic("cam-1"), group_topic(GROUP), desired_topic("cam-1")]
    assert next(p for p in desired.payloads(desired_topic("cam-1")) if p) and not desired.payloads()[-1]
    assert fleet["calls"][0] == ("cam-1", record["sha256"])
    assert sorted(d for d, _ in fleet["calls"]) == DEVICES
    assert wait_for(lambda: all(r.get("version") == "v1" for r in fleet["reports"].values()), timeout_s=10)
    assert group_docs.wait_count(1) and json.loads(group_docs.payloads()[-1])["version"] == "v1"

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model " * 100)  # signed and delivered, but it does not load
    calls_before = len(fleet["calls"])
    result = push(fleet, bad, "--canary", "2", "--version", "v2", "--wait-s", "20")
    assert result.exit_code == 1
    assert "rollout canary-g-v2 stopped" in result.output and "cam-1: failed" in result.output
    assert "group canary-g was not changed" in result.output and "2/3" in result.output  # the live table
    switched = [d for d, _ in fleet["calls"][calls_before:]]
    assert sorted(switched) == ["cam-1", "cam-2"]  # cam-3 never tried the bad model
    assert json.loads(group_docs.payloads()[-1])["version"] == "v1"  # the group's document was never touched
    assert not desired.payloads(desired_topic("cam-2"))[-1]  # the canaries follow the group again
    assert wait_for(lambda: all(r.get("desired_version") == "v1" and r.get("state") == "running"
                                for r in fleet["reports"].values()), timeout_s=10), fleet["reports"]

    status = CliRunner().invoke(main, ["status", "canary-g-v2", "--broker", fleet["broker"], "--json"])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    assert shown["counts"] == {"failed": 2, "pending": 1} and shown["result"] == "stopped"
    table = CliRunner().invoke(main, ["status", "canary-g-v1", "--broker", fleet["broker"]])
    assert table.exit_code == 0 and "running" in table.output and "3/3" in table.output, table.output
    missing = CliRunner().invoke(main, ["status", "nope", "--broker", fleet["broker"], "--wait-s", "0.2"])
    assert missing.exit_code != 0 and "no rollout 'nope'" in missing.output

    rolled = CliRunner().invoke(main, ["rollback", "--group", GROUP, "--broker", fleet["broker"]])
    assert rolled.exit_code == 0 and "none (cleared)" in rolled.output, rolled.output
    docs, _ = collect(fleet["ops"], [group_topic(GROUP), previous_topic(GROUP)], 0.5)
    assert group_topic(GROUP) not in docs  # back to before v1: no group document
    assert docs[previous_topic(GROUP)]["desired"]["version"] == "v1"  # a second rollback would restore v1


def test_a_canary_push_needs_a_group_whose_devices_reported(tmp_path: Path, mosquitto: Any) -> None:
    from edgeinfer.errors import ConfigError

    keys = keygen(tmp_path / "keys")
    model = tmp_path / "m.onnx"
    model.write_bytes(onnx_cnn_bytes(seed=41))
    args = [str(model), "--key", str(keys[0]), "--broker", f"{mosquitto.host}:{mosquitto.port}", "--canary", "1"]
    lonely = CliRunner().invoke(main, ["push", *args, "--group", "nobody-here"])
    assert isinstance(lonely.exception, ConfigError) and "no device of group 'nobody-here'" in str(lonely.exception)
    assert CliRunner().invoke(main, ["push", *args, "--device", "d"]).exit_code == 2  # --canary needs --group
    ops = BrokerClient(mosquitto.host, mosquitto.port)
    try:  # a device that follows its own document is not the group's to roll out to
        ops.publish(reported_topic("pin-1"), json.dumps({"device_id": "pin-1", "groups": ["pin-g"]}), retain=True)
        ops.publish(desired_topic("pin-1"), json.dumps({"version": "mine", "streams": {}}), retain=True)
        pinned = CliRunner().invoke(main, ["push", *args, "--group", "pin-g"])
        assert isinstance(pinned.exception, ConfigError) and "(pin-1)" in str(pinned.exception)
    finally:
        for topic in (reported_topic("pin-1"), desired_topic("pin-1")):
            ops.publish(topic, b"", retain=True)
        ops.close()
