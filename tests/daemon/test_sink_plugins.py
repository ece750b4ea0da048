"""A sink is one file: registered (in code or by entry point), it is configurable in YAML,
built by the daemon and listed by ``edgeinfer run --schema``, with no edit to config.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml

from edgeinfer.errors import ConfigError
from edgeinfer.sinks import BaseSink, SinkConfig, registry
from tests.daemon.helpers import make_model, make_video

FRAMES = 12


class CollectSinkConfig(SinkConfig):
    """A third party's sink config: its own keys, one of them a path."""

    type: Literal["collect"] = "collect"
    path: Path
    label: str = "collected"


class CollectSink(BaseSink):
    """Appends ``<label> <stream> <frame_index>`` lines to ``path``; remembers every instance."""

    Config: ClassVar[type[CollectSinkConfig]] = CollectSinkConfig
    made: ClassVar[list[CollectSink]] = []

    def __init__(self, path: Path, label: str = "collected") -> None:
        super().__init__()
        self.path, self.label = path, label
        self.frame_indices: list[int] = []
        CollectSink.made.append(self)

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        self.frame_indices.append(envelope["frame_index"])
        with self.path.open("a") as out:
            out.write(f"{self.label} {envelope['stream']} {envelope['frame_index']}\n")
        self._counters.add("sent")


@pytest.fixture
def collect_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register ``collect`` for this test only (the registry is restored afterwards)."""
    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    registry.register("collect", f"{__name__}:CollectSink")
    CollectSink.made.clear()


def write_daemon_config(folder: Path, sinks: list[Any]) -> Path:
    make_model(folder)
    make_video(folder / "clip.mp4", FRAMES)
    config = {
        "device_id": "plugin-cam",
        "streams": [{"name": "front", "source": str(folder / "clip.mp4"), "model": "cls.tflite", "policy": "every"}],
        "sinks": sinks,
        "health_interval_s": 1,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_registered_sink_is_configured_from_yaml_and_receives_results(
    collect_registered: None, tmp_path: Path
) -> None:
    from edgeinfer.config import json_schema, load_config
    from edgeinfer.daemon import Daemon

    path = write_daemon_config(tmp_path, [{"type": "collect", "path": "out/collected.txt", "label": "mine"}])
    (tmp_path / "out").mkdir()
    config = load_config(path)
    assert config.sinks == [CollectSinkConfig(path=tmp_path / "out" / "collected.txt", label="mine")]
    schema = json_schema()
    assert schema["properties"]["sinks"]["items"]["discriminator"]["mapping"]["collect"].endswith("CollectSinkConfig")
    assert set(schema["$defs"]["CollectSinkConfig"]["properties"]) == {"type", "path", "label"}
    assert Daemon(config, path).run() == 0  # a finite source: runs to its end
    (sink,) = CollectSink.made
    assert sink.frame_indices == list(range(FRAMES))
    lines = (tmp_path / "out" / "collected.txt").read_text().splitlines()
    assert lines == [f"mine front {i}" for i in range(FRAMES)]
    with pytest.raises(ConfigError, match=r"sinks\.0\.collect\.lable: unknown key"):  # the sink's own keys
        load_config(write_daemon_config(tmp_path, [{"type": "collect", "path": "x", "lable": "typo"}]))


PLUGIN = '''
from pathlib import Path
from typing import Any, Literal

from edgeinfer.sinks import BaseSink, SinkConfig


class AcmeSinkConfig(SinkConfig):
    type: Literal["acme"] = "acme"
    path: Path


class AcmeSink(BaseSink):
    Config = AcmeSinkConfig

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        with self.path.open("a") as out:
            out.write(f"{envelope['frame_index']}\\n")
        self._counters.add("sent")
'''


def test_entry_point_sink_is_in_the_schema_and_runs_in_the_daemon(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    dist_info = plugins / "acme_sink-1.0.dist-info"  # what pip install leaves behind
    dist_info.mkdir(parents=True)
    (plugins / "acme_sink.py").write_text(PLUGIN)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sink\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent("""\
            [edgeinfer.sinks]
            acme = acme_sink:AcmeSink
        """))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(p for p in (str(plugins), os.environ.get("PYTHONPATH")) if p)}

    def edgeinfer_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "edgeinfer", "run", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    schema = edgeinfer_run("--schema")
    assert schema.returncode == 0, schema.stderr
    defs = json.loads(schema.stdout)["$defs"]
    assert defs["AcmeSinkConfig"]["properties"]["type"]["const"] == "acme"
    path = write_daemon_config(tmp_path, ["jsonl", {"type": "acme", "path": "acme.txt"}])
    check = edgeinfer_run("--check", str(path))
    assert check.returncode == 0 and "sinks: jsonl, acme" in check.stdout, check.stderr
    run = edgeinfer_run(str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "acme.txt").read_text().split() == [str(i) for i in range(FRAMES)]


def test_a_sink_without_a_matching_config_is_left_out_of_the_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeinfer.config import json_schema

    monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    registry.register("copycat", "edgeinfer.sinks.memory:MemorySink")  # its Config says type: memory
    with pytest.raises(ConfigError, match="'copycat' has no Config"):
        registry.config_class("copycat")
    mapping = json_schema()["properties"]["sinks"]["items"]["discriminator"]["mapping"]
    assert "copycat" not in mapping and "memory" in mapping


def test_the_config_and_its_mqtt_schema_need_no_paho() -> None:
    code = ("import sys; sys.modules['paho'] = None\n"  # import paho now fails
            "from edgeinfer.config import json_schema\n"
            "schema = json_schema()\n"
            "assert 'mqtt' in schema['properties']['sinks']['items']['discriminator']['mapping']\n"
            "assert 'edgeinfer.sinks.mqtt' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
