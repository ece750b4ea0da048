"""Events from `edgeinfer run` as users run it: the real detector on a scene video, a real mosquitto.

Checked: events and retained zone counts reach the broker; a broker outage during events
loses none and keeps their order; a SIGKILL mid-event leaves no event without an ``end``
after the restart (reason ``interrupted``).
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import pytest
import yaml

from tests.daemon.helpers import finish, produced, start_daemon
from tests.events.scenes import FPS, FRAME_SIZE_WH, render, scene_specs

if TYPE_CHECKING:
    from tests.e2e.detector import BuiltDetector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = next(s for s in scene_specs() if s.name == "zone_line")
    path = tmp_path_factory.mktemp("scene") / "scene.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, FRAME_SIZE_WH)
    for frame in render(spec):
        writer.write(frame.image)
    writer.release()
    return path


@pytest.fixture
def folder(tmp_path: Path, detector_built: BuiltDetector, scene_video: Path) -> Path:
    shutil.copy(detector_built.onnx_path, tmp_path / "detector.onnx")
    shutil.copy(scene_video, tmp_path / "scene.mp4")
    return tmp_path


def write_config(folder: Path, broker: Any, device: str, *, loop: bool = True, name: str = "config.yaml") -> Path:
    config = {
        "device_id": device,
        "mqtt": {"host": broker.host, "port": broker.port, "qos": 1, "queue_path": "queue.db", "keepalive_s": 5},
        "streams": [{
            "name": "front", "source": "scene.mp4", "model": "detector.onnx", "policy": "every", "loop": loop,
            "threads": 1,
            "zones": {"door": {"polygon": [[200, 100], [290, 100], [290, 200], [200, 200]], "coords": "pixels"}},
            "lines": {"gate": {"points": [[130, 5], [130, 235]], "coords": "pixels"}},
            "events": {"min_frames": 3, "snapshots": {"dir": "snapshots"}},
        }],
        "sinks": ["mqtt", {"type": "jsonl", "path": "produced.jsonl"}],
        "health_interval_s": 1,
    }
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def events_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("kind") == "event"]


def key(event: dict[str, Any]) -> tuple[str, str, float]:
    return event["event_id"], event["type"], event["timestamp"]


def unique(payloads: list[bytes]) -> list[tuple[str, str, float]]:
    """Event keys in arrival order, first occurrence only (QoS 1 may repeat one in flight)."""
    return list(dict.fromkeys(key(json.loads(p)) for p in payloads))


def test_events_and_retained_zone_counts_reach_the_broker(
    folder: Path, mosquitto: Any, mqtt_subscriber: Any
) -> None:
    device = "cam-events"
    sub = mqtt_subscriber(mosquitto, f"edgeinfer/{device}/front/#")
    code, err = finish(start_daemon(write_config(folder, mosquitto, device, loop=False)))
    assert code == 0, err
    events = [json.loads(p) for t, p, _ in sub.messages if t.endswith("/events")]
    assert events and events[0]["type"] == "new" and events[-1]["type"] == "end"
    assert {e["event_id"] for e in events if e["type"] == "end"} == {e["event_id"] for e in events}
    assert not any(t.endswith("/results") for t, _, _ in sub.messages)  # publish: [events] by default
    door = [json.loads(p) for t, p, retained in sub.messages if t.endswith("/zones/door")]
    assert door and door[-1]["entered"] >= 1
    snapshot = events[-1]["snapshot"]
    assert snapshot and Path(snapshot["crop"]).is_file() and Path(snapshot["crop"]).is_relative_to(folder)
    # Retained: a viewer that connects later still gets the counts.
    late = mqtt_subscriber(mosquitto, f"edgeinfer/{device}/front/zones/+")
    assert late.wait_count(2)
    assert {t.rsplit("/", 1)[1] for t, _, _ in late.messages} == {"door", "gate"}


def test_broker_down_during_events_loses_none_and_keeps_their_order(
    folder: Path, mosquitto_factory: Any, mqtt_subscriber: Any, wait_for: Any
) -> None:
    broker = mosquitto_factory(persistence=True)
    topic = "edgeinfer/cam-ev-down/front/events"
    sub = mqtt_subscriber(broker, topic, client_id="sub-ev-down", clean_session=False)
    daemon = start_daemon(write_config(folder, broker, "cam-ev-down"))
    try:
        assert wait_for(lambda: len(sub.messages) >= 2, timeout_s=60), "no events before the outage"
        broker.stop()
        made_before = len(events_in(produced(folder)))
        assert wait_for(lambda: len(events_in(produced(folder))) >= made_before + 4, timeout_s=60), (
            "no events were made while the broker was away")
        broker.start()
        time.sleep(1.0)
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
    assert code == 0, err
    made = [key(e) for e in events_in(produced(folder))]
    assert wait_for(lambda: len(unique(sub.payloads())) >= len(made), timeout_s=30), (
        f"{len(unique(sub.payloads()))} of {len(made)} events received; daemon log:\n{err[-3000:]}")
    assert unique(sub.payloads()) == made  # every event once, in the order made
    types = {}
    for event_id, kind, _ in made:
        types.setdefault(event_id, []).append(kind)
    assert all(kinds[0] == "new" and kinds[-1] == "end" for kinds in types.values()), types


def test_sigkill_mid_event_then_restart_ends_it_as_interrupted(
    folder: Path, mosquitto: Any, mqtt_subscriber: Any, wait_for: Any
) -> None:
    device = "cam-ev-kill"
    sub = mqtt_subscriber(mosquitto, f"edgeinfer/{device}/front/events")

    def open_events() -> set[str]:
        events = events_in(produced(folder))
        return {e["event_id"] for e in events if e["type"] == "new"} - {
            e["event_id"] for e in events if e["type"] == "end"}

    daemon = start_daemon(write_config(folder, mosquitto, device))
    try:
        assert wait_for(lambda: bool(open_events()), timeout_s=60), "no event started"
    finally:
        daemon.send_signal(signal.SIGKILL)
        daemon.communicate(timeout=10)
    left_open = open_events()
    assert left_open
    code, err = finish(start_daemon(write_config(folder, mosquitto, device, loop=False, name="again.yaml")))
    assert code == 0, err
    assert wait_for(lambda: not (left_open - {json.loads(p)["event_id"] for p in sub.payloads()
                                               if json.loads(p)["type"] == "end"}), timeout_s=20)
    received = [json.loads(p) for p in sub.payloads()]
    ended = {e["event_id"]: e for e in received if e["type"] == "end"}
    started = {e["event_id"] for e in received if e["type"] == "new"}
    assert started <= set(ended), "an event was left without an end"
    assert {ended[i]["end_reason"] for i in left_open} == {"interrupted"}
