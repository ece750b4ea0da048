"""``edgeinfer fleet keygen`` and ``push`` against a real broker, with no device listening."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeinfer.fleet.desired import desired_topic
from edgeinfer.fleet.signing import load_public_key, verify
from edgeinfer.fleet.transfer import Manifest, artifact_topic
from tests.model_factory import onnx_cnn_bytes


def fleet(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgeinfer", "fleet", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def test_keygen_and_push_publish_a_signed_manifest_and_the_desired_state(
    tmp_path: Path, mosquitto: Any, mqtt_subscriber: Any
) -> None:
    made = fleet("keygen", "--out", "keys", cwd=tmp_path)
    assert made.returncode == 0 and "fleet.pub" in made.stdout, made.stderr
    again = fleet("keygen", "--out", "keys", cwd=tmp_path)
    assert again.returncode == 78 and "never overwritten" in again.stderr
    (tmp_path / "m.onnx").write_bytes(onnx_cnn_bytes(seed=30))
    broker = f"{mosquitto.host}:{mosquitto.port}"
    pushed = fleet("push", "m.onnx", "--device", "nobody-1", "--key", "keys/fleet.key", "--wait-s", "0",
                   "--watch-s", "7", "--broker", broker, "--json", cwd=tmp_path)
    assert pushed.returncode == 1 and "no device of device nobody-1 reported" in pushed.stderr
    out = json.loads(pushed.stdout)
    assert out["devices"] == [] and out["version"] == out["sha256"][:12]
    retained = mqtt_subscriber(mosquitto, desired_topic("nobody-1"))
    assert retained.wait_count(1)
    desired = json.loads(retained.payloads()[0])
    assert desired["watch_s"] == 7 and desired["streams"]["*"]["sha256"] == out["sha256"]
    manifests = mqtt_subscriber(mosquitto, artifact_topic(out["sha256"], "manifest"))
    assert manifests.wait_count(1)
    manifest = Manifest.from_json(manifests.payloads()[0])
    verify(load_public_key(tmp_path / "keys" / "fleet.pub"), (tmp_path / "m.onnx").read_bytes(), manifest.signature)
    both = fleet("push", "m.onnx", "--key", "keys/fleet.key", "--broker", broker, cwd=tmp_path)
    assert both.returncode == 2 and "exactly one of --group G or --device D" in both.stderr
    bad = fleet("push", "m.onnx", "--group", "g", "--key", "keys/fleet.pub", "--broker", broker, cwd=tmp_path)
    assert bad.returncode == 78 and "not a readable PEM private key" in bad.stderr


def test_fleet_config_keys_are_checked_and_paths_resolved(tmp_path: Path) -> None:
    import pytest
    import yaml

    from edgeinfer.config import load_config, parse_config
    from edgeinfer.errors import ConfigError

    base = {"device_id": "d", "streams": [{"name": "s", "source": "v.mp4", "model": "m.onnx"}], "sinks": ["jsonl"]}
    with pytest.raises(ConfigError, match=r"fleet\.public_key"):
        parse_config({**base, "fleet": {"groups": ["g"]}})
    with pytest.raises(ConfigError, match=r"fleet\.max_artifact_mb"):
        parse_config({**base, "fleet": {"public_key": "k.pub", "max_artifact_mb": 0}})
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({**base, "fleet": {"groups": ["g"], "public_key": "k.pub"}}))
    fleet_config = load_config(tmp_path / "c.yaml").fleet
    assert fleet_config is not None and fleet_config.groups == ["g"]
    assert fleet_config.public_key == tmp_path / "k.pub" and fleet_config.artifact_dir == tmp_path / "artifacts"
