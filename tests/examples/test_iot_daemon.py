"""examples/iot_daemon: the config validates and runs, its schema is current, the unit is complete."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.examples.conftest import DigitsModel, DigitsVideo
from tests.examples.helpers import EXAMPLES, UNIT, parse_unit

DAEMON = EXAMPLES / "iot_daemon"
CONFIG = DAEMON / "config.yaml"


def _edgeinfer(*args: str, cwd: Path | None = None, timeout_s: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeinfer", *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=cwd, check=False)


def test_schema_file_equals_the_current_schema() -> None:
    run = _edgeinfer("run", "--schema")
    assert run.returncode == 0, run.stderr
    current = json.loads(run.stdout)
    assert json.loads((DAEMON / "config.schema.json").read_text()) == current, (
        "examples/iot_daemon/config.schema.json is stale: regenerate it with "
        "`edgeinfer run --schema > examples/iot_daemon/config.schema.json`"
    )


def test_config_points_editors_at_the_schema_and_validates_as_shipped() -> None:
    assert CONFIG.read_text().splitlines()[0] == "# yaml-language-server: $schema=config.schema.json"
    # As shipped its model and camera exist only on the device: the keys and values are checked here.
    run = _edgeinfer("run", "--check", "--keys-only", str(CONFIG))
    assert run.returncode == 0, run.stderr
    assert "valid (1 stream(s), sinks: mqtt)" in run.stdout
    full = _edgeinfer("run", "--check", str(CONFIG))
    assert full.returncode == 65 and "streams.0 (kitchen).model: the model file" in full.stderr, full.stderr


def _model_keys(schema: dict[str, Any], name: str) -> set[str]:
    return set(schema["$defs"][name]["properties"]) if name != "DaemonConfig" else set(schema["properties"])


def test_config_explains_every_key_of_the_schema() -> None:
    from edgeinfer.config import json_schema

    schema = json_schema()
    text = CONFIG.read_text()
    missing = {f"{model}.{key}" for model in ("DaemonConfig", *schema["$defs"]) if model.endswith("Config")
               for key in _model_keys(schema, model) if f"{key}:" not in text and key != "type"}
    assert not missing, f"config.yaml does not mention (or comment) these keys: {sorted(missing)}"


def test_config_keeps_the_queue_in_the_units_state_directory() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    state = parse_unit(UNIT)["Service"]["StateDirectory"][0]
    assert Path(config["mqtt"]["queue_path"]).parent == Path("/var/lib") / state
    assert Path(config["control"]["model_dir"]).is_relative_to(Path("/var/lib") / state)


def test_systemd_unit_has_the_keys_the_daemon_relies_on() -> None:
    unit = parse_unit(UNIT)
    service = unit["Service"]
    assert service["Restart"] == ["on-failure"]
    assert "78" in service["RestartPreventExitStatus"][0].split()  # ConfigError: restarting cannot help
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert service["StateDirectory"] == ["edgeinfer"]
    assert service["User"] == ["edgeinfer"]
    assert "video" in service["SupplementaryGroups"][0].split()
    assert service["ExecStart"][0].endswith("/bin/edgeinfer run /etc/edgeinfer/config.yaml")
    assert "EDGEINFER_STATE_DIR=/var/lib/edgeinfer" in service["Environment"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    edgeinfer = Path(sys.executable).with_name("edgeinfer")
    unit = tmp_path / "edgeinfer.service"
    unit.write_text(UNIT.read_text().replace("/opt/edgeinfer/venv/bin/edgeinfer", str(edgeinfer)))
    run = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.slow
def test_config_with_real_paths_runs_the_daemon_to_mqtt(
    digits_model: DigitsModel, digits_video: DigitsVideo, mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path,
) -> None:
    """The shipped config with the CHANGE values set for this machine: results reach the broker."""
    config = yaml.safe_load(CONFIG.read_text())
    config["mqtt"].update(host=mosquitto.host, port=mosquitto.port, queue_path=str(tmp_path / "queue.db"))
    stream = config["streams"][0]
    stream.update(source=str(digits_video.path), model=str(digits_model.path), loop=False)
    config["control"]["model_dir"] = str(digits_model.folder)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    check = _edgeinfer("run", "--check", str(path))
    assert check.returncode == 0, check.stderr
    device = config["device_id"]
    subscriber = mqtt_subscriber(mosquitto, f"edgeinfer/{device}/#")
    run = _edgeinfer("run", str(path), cwd=tmp_path, timeout_s=120)
    assert run.returncode == 0, run.stderr[-3000:]  # every (finite) source ended: clean exit
    frames = len(digits_video.labels)
    assert subscriber.wait_count(frames + 2)
    topic = f"edgeinfer/{device}/{stream['name']}/results"
    results = {json.loads(p)["frame_index"] for p in subscriber.payloads(topic)}
    assert results == set(range(frames))
    health = [json.loads(p) for p in subscriber.payloads(f"edgeinfer/{device}/health")]
    assert health and all(h["device_id"] == device for h in health)
    assert any(stream["name"] in h["streams"] for h in health)  # the last one, after shutdown, has none
    assert subscriber.payloads(f"edgeinfer/{device}/status")[-1] == b"offline"
