"""A stream's tracker, zones, lines, events and publish keys in the daemon config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edgeinfer.config import load_config, parse_config
from edgeinfer.errors import ConfigError

DOOR = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]


def config(**stream: Any) -> dict[str, Any]:
    return {"device_id": "cam", "sinks": ["jsonl"],
            "streams": [{"name": "front", "source": "clip.mp4", "model": "m.onnx", **stream}]}


def test_results_only_by_default() -> None:
    stream = parse_config(config()).streams[0]
    assert stream.event_setup() is None and stream.tracker is None


def test_zones_turn_events_on_and_publish_events_only() -> None:
    stream = parse_config(config(zones={"door": {"polygon": DOOR}})).streams[0]
    setup = stream.event_setup()
    assert setup is not None and setup.publish == ["events"] and list(setup.all_zones().zones) == ["door"]


def test_publish_both_and_a_tracker_by_name() -> None:
    stream = parse_config(config(publish=["events", "results"], tracker="iou")).streams[0]
    setup = stream.event_setup()
    assert setup is not None and setup.publish == ["events", "results"] and stream.tracker.type == "iou"


@pytest.mark.parametrize(("stream", "message"), [
    ({"zones": {"door": {"polygon": DOOR}}, "tracker": "none"}, "tracker is none"),
    ({"zones": {"door": {"polygon": DOOR}}, "publish": ["results"]}, "publish has no events"),
    ({"zones": {"door": {"polygon": [[0, 0], [1, 1], [1, 0], [0, 1]]}}}, r"streams\.0\.zones\.door.*crosses itself"),
    ({"lines": {"gate": {"points": [[0.1, 0.5], [1.5, 0.5]], "coords": "normalized"}}}, r"streams\.0\.lines\.gate"),
    ({"publish": ["events", "events"]}, "twice"),
    ({"events": {"min_frames": 0}}, r"streams\.0\.events\.min_frames"),
    ({"clips": {"codec": "h264x"}}, r"streams\.0\.clips\.codec.*FourCC"),
    ({"clips": {"pre_s": -1}}, r"streams\.0\.clips\.pre_s"),
    ({"clips": {"pre_s": 1}, "publish": ["results"]}, "publish has no events"),
])
def test_malformed_event_keys_are_config_errors_naming_the_key(stream: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config(**stream))


def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "zones.yaml").write_text(yaml.safe_dump({"zones": {"door": {"polygon": DOOR}},
                                                          "lines": {"gate": {"points": [[0, 0.5], [1, 0.5]]}}}))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config(zones_file="zones.yaml")))
    stream = load_config(path).streams[0]
    assert stream.zones_file == tmp_path / "zones.yaml"
    setup = stream.event_setup()
    assert setup is not None and setup.events.snapshots is not None
    assert setup.events.snapshots.dir == tmp_path / "snapshots"
    zones = setup.all_zones()
    assert list(zones.zones) == ["door"] and list(zones.lines) == ["gate"]


def test_clips_turn_events_on_and_their_folder_is_taken_from_the_config_folder(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config(clips={"dir": "clips", "pre_s": 2, "post_s": 1})))
    setup = load_config(path).streams[0].event_setup()
    assert setup is not None and setup.publish == ["events"]
    assert setup.clips is not None and setup.clips.dir == tmp_path / "clips" and setup.clips.pre_s == 2


def test_a_broken_zones_file_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "zones.yaml").write_text(yaml.safe_dump({"zones": {"door": {"polygon": [[0, 0], [1, 0]]}}}))
    stream = parse_config(config(zones_file=str(tmp_path / "zones.yaml"))).streams[0]
    setup = stream.event_setup()
    assert setup is not None
    with pytest.raises(ConfigError, match=r"(?s)zones\.yaml.*door.*3 points"):
        setup.all_zones()


def test_the_journal_lives_beside_the_mqtt_queue(tmp_path: Path) -> None:
    data = config(zones={"door": {"polygon": DOOR}})
    data.update(mqtt={"host": "127.0.0.1", "queue_path": str(tmp_path / "q" / "queue.db")}, sinks=["mqtt"])
    assert parse_config(data).events_journal("front") == tmp_path / "q" / "events-cam-front.json"
