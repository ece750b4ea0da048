"""Daemon exit codes, reload without dropping the MQTT session, and remote commands."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
import yaml

from edgeinfer.card import write
from tests.daemon.helpers import finish, make_model, make_video, produced, start_daemon, write_config
from tests.model_mutations import drop_weights, set_op_index, tflite_edit


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeinfer", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_model(tmp_path)
    make_video(tmp_path / "clip.mp4", 20)
    return tmp_path


def test_malformed_configs_exit_78_naming_the_key(folder: Path, mosquitto: Any) -> None:
    (folder / "broken.yaml").write_text("device_id: [unclosed\n")
    result = run_cli("run", "broken.yaml", cwd=folder)
    assert result.returncode == 78 and "not valid YAML" in result.stderr
    config = write_config(folder, mosquitto, source="clip.mp4", stream_extra={"polcy": "every"})
    result = run_cli("run", str(config), cwd=folder)
    assert result.returncode == 78
    assert "streams.0.polcy: unknown key" in result.stderr
    bad_qos = yaml.safe_load(config.read_text())
    bad_qos["streams"][0].pop("polcy")
    bad_qos["mqtt"]["qos"] = 3
    config.write_text(yaml.safe_dump(bad_qos))
    result = run_cli("run", "--check", str(config), cwd=folder)
    assert result.returncode == 78 and "mqtt.qos" in result.stderr and "(got 3)" in result.stderr
    bad_qos["mqtt"]["qos"] = 1
    config.write_text(yaml.safe_dump(bad_qos))
    ok = run_cli("run", "--check", str(config), cwd=folder)
    assert ok.returncode == 0 and "valid (1 stream(s), sinks: mqtt, jsonl)" in ok.stdout


def test_missing_camera_exits_74_naming_the_device(folder: Path, mosquitto: Any) -> None:
    config = write_config(folder, mosquitto, source="/dev/video9", stream_extra={"policy": "latest"})
    result = run_cli("run", str(config), cwd=folder)
    assert result.returncode == 74, result.stderr
    assert "/dev/video9" in result.stderr


def test_bad_model_exits_65(folder: Path, mosquitto: Any) -> None:
    (folder / "cls.tflite").write_bytes(b"TFL3 nope")
    config = write_config(folder, mosquitto, source="clip.mp4")
    result = run_cli("run", str(config), cwd=folder)
    assert result.returncode == 65 and "cls.tflite" in result.stderr


def test_schema_is_printed_for_editors(folder: Path) -> None:
    result = run_cli("run", "--schema", cwd=folder)
    schema = json.loads(result.stdout)
    assert schema["title"] == "edgeinfer run configuration"
    assert {"device_id", "streams", "sinks", "mqtt"} <= set(schema["properties"])


class Commander:
    """Publishes commands and collects the replies."""

    def __init__(self, broker: Any, device_id: str) -> None:
        self.topic = f"edgeinfer/{device_id}/cmd"
        self.replies: list[dict[str, Any]] = []
        self.status: list[bytes] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(f"{self.topic}/reply", 1), (f"edgeinfer/{device_id}/status", 1)])
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        if message.topic.endswith("/reply"):
            self.replies.append(json.loads(message.payload))
        else:
            self.status.append(bytes(message.payload))

    def send(self, wait_for: Any, **command: Any) -> dict[str, Any]:
        command.setdefault("id", f"c{len(self.replies)}-{time.monotonic()}")
        self.client.publish(self.topic, json.dumps(command), qos=1)
        assert wait_for(lambda: any(r["id"] == command["id"] for r in self.replies), timeout_s=15), command
        return next(r for r in self.replies if r["id"] == command["id"])

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_remote_commands_pause_resume_and_guarded_model_switch(
    folder: Path, mosquitto: Any, wait_for: Any
) -> None:
    models = folder / "models"
    models.mkdir()
    other = models / "other.tflite"
    shutil.copy(folder / "cls.tflite", other)
    write(other, {"task": "classification", "labels": ["w", "x", "y", "z"], "preprocess": {"std": 255}})
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    config = write_config(folder, mosquitto, source="clip.mp4", device_id="cam-cmd",
                          stream_extra={"loop": True}, control={"model_dir": "models"})
    commander = Commander(mosquitto, "cam-cmd")
    daemon = start_daemon(config)
    try:
        assert wait_for(lambda: len(produced(folder)) >= 10, timeout_s=30)
        assert commander.send(wait_for, cmd="pause")["ok"]
        time.sleep(0.5)
        paused_at = len(produced(folder))
        time.sleep(1.0)
        assert len(produced(folder)) == paused_at
        assert commander.send(wait_for, cmd="resume")["ok"]
        assert wait_for(lambda: len(produced(folder)) > paused_at + 5, timeout_s=15)
        status = commander.send(wait_for, cmd="status")
        assert status["ok"] and json.loads(status["message"])["streams"]["front"]["accelerator"] == "xnnpack"
        traversal = commander.send(wait_for, cmd="model", path="../cls.tflite", sha256="0" * 64)
        assert not traversal["ok"] and "outside the allowed folder" in traversal["message"]
        wrong = commander.send(wait_for, cmd="model", path="other.tflite", sha256="1" * 64)
        assert not wrong["ok"] and "sha256" in wrong["message"]
        assert digest not in wrong["message"]  # the reply does not disclose the file's real hash
        assert not commander.send(wait_for, cmd="explode")["ok"]
        switched = commander.send(wait_for, cmd="model", path="other.tflite", sha256=digest)
        assert switched["ok"], switched
        before = len(produced(folder))
        assert wait_for(lambda: len(produced(folder)) > before + 5, timeout_s=15)
        labels = {t["label"] for e in produced(folder)[before:] for t in e["result"]["top"]}
        assert labels == {"w", "x", "y", "z"}
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
        commander.close()
    assert code == 0, err


def _written_twice(model: Any) -> str:
    """The last operator also writes the first one's output (LiteRT aborted on such files)."""
    operators = model.subgraphs[0].operators
    return set_op_index(0, len(operators) - 1, "outputs", 0, int(operators[0].outputs[0]))(model)


def test_remote_switch_to_a_bad_file_is_refused_and_the_running_model_kept(
    folder: Path, mosquitto: Any, wait_for: Any
) -> None:
    models = folder / "models"
    models.mkdir()
    base = (folder / "cls.tflite").read_bytes()
    bad = {"negative.tflite": (set_op_index(0, 0, "inputs", 0, -5), "names tensor -5"),
           "twice.tflite": (_written_twice, "which operator 0 writes already"),
           "no_weights.tflite": (drop_weights, "failed while running")}
    for name, (edit, _) in bad.items():
        (models / name).write_bytes(tflite_edit(base, edit)[0])
    (models / "garbage.tflite").write_bytes(b"TFL3" + bytes(range(256)) * 4)  # not a model at all
    bad["garbage.tflite"] = (None, "not a TFLite")
    config = write_config(folder, mosquitto, source="clip.mp4", device_id="cam-bad",
                          stream_extra={"loop": True}, control={"model_dir": "models"})
    commander = Commander(mosquitto, "cam-bad")
    daemon = start_daemon(config)
    try:
        assert wait_for(lambda: len(produced(folder)) >= 5, timeout_s=30)
        for name, (_, words) in bad.items():
            digest = hashlib.sha256((models / name).read_bytes()).hexdigest()
            reply = commander.send(wait_for, cmd="model", path=name, sha256=digest)
            assert not reply["ok"] and words in reply["message"], reply
            assert f"{name} refused, stream front keeps running cls.tflite" in reply["message"], reply
            assert daemon.poll() is None, "the daemon died on a model command"
            before = len(produced(folder))
            assert wait_for(lambda b=before: len(produced(folder)) > b + 5, timeout_s=15)  # still publishing
        labels = {t["label"] for e in produced(folder)[-5:] for t in e["result"]["top"]}
        assert labels == {"a", "b", "c", "d"}  # the running model's labels
        assert json.loads(commander.send(wait_for, cmd="status")["message"])["streams"]["front"]["model"] \
            == "cls.tflite"
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
        commander.close()
    assert code == 0, err


def test_sighup_reloads_config_and_keeps_the_mqtt_session(folder: Path, mosquitto: Any, wait_for: Any) -> None:
    config = write_config(folder, mosquitto, source="clip.mp4", device_id="cam-hup", stream_extra={"loop": True})
    commander = Commander(mosquitto, "cam-hup")
    daemon = start_daemon(config)
    try:
        assert wait_for(lambda: len(produced(folder)) >= 5, timeout_s=30)
        data = yaml.safe_load(config.read_text())
        data["sinks"].append({"type": "jsonl", "path": "second.jsonl"})
        config.write_text(yaml.safe_dump(data))
        daemon.send_signal(signal.SIGHUP)
        assert wait_for(lambda: len(produced(folder, "second.jsonl")) >= 5, timeout_s=20)
        good = config.read_text()
        for broken in ("device_id: [broken\n", good.replace("cls.tflite", "missing.tflite")):
            config.write_text(broken)  # invalid YAML, then a valid config whose model is missing
            daemon.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            count = len(produced(folder, "second.jsonl"))
            assert wait_for(lambda c=count: len(produced(folder, "second.jsonl")) > c + 5, timeout_s=15)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
        commander.close()
    assert code == 0, err
    assert "reload failed, keeping the running config" in err
    assert "reload failed while starting, going back to the running config" in err
    assert commander.status.count(b"online") == 1 and commander.status[-1] == b"offline"


def test_disabled_control_ignores_commands(folder: Path, mosquitto: Any, wait_for: Any) -> None:
    config = write_config(folder, mosquitto, source="clip.mp4", device_id="cam-noctl",
                          stream_extra={"loop": True}, control={"enabled": False})
    commander = Commander(mosquitto, "cam-noctl")
    daemon = start_daemon(config)
    try:
        assert wait_for(lambda: len(produced(folder)) >= 5, timeout_s=30)
        commander.client.publish(commander.topic, json.dumps({"cmd": "pause", "id": "x"}), qos=1)
        time.sleep(1.5)
        before = len(produced(folder))
        assert wait_for(lambda: len(produced(folder)) > before + 5, timeout_s=10)  # not paused
        assert commander.replies == []
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
        commander.close()
    assert code == 0, err


def test_tls_insecure_reaches_the_mqtt_client(tmp_path: Path, tls_files: Any) -> None:
    from edgeinfer.config import parse_config
    from edgeinfer.sinks.mqtt import MqttSink

    def sink_for(insecure: bool) -> MqttSink:
        config = parse_config({
            "device_id": "tls-check", "streams": [{"name": "s", "source": 0, "model": "m.tflite"}],
            "mqtt": {"host": "127.0.0.1", "port": 1, "queue_path": str(tmp_path / f"q{insecure}.db"),
                     "tls": {"ca": str(tls_files.ca), "insecure": insecure}},
        })
        options = config.mqtt  # the mqtt: section is the sink's options: nothing copied between them
        assert options is not None and options.tls is not None
        assert options.tls.insecure is insecure
        return MqttSink(options, device_id="tls-check")

    for insecure in (False, True):
        sink = sink_for(insecure)
        try:
            # paho keeps the SSLContext it will wrap the socket with; its host-name check is
            # what mqtt.tls.insecure turns off.
            assert sink._client._ssl_context.check_hostname is (not insecure)
        finally:
            sink.close()
