"""Events and zone counts through the sinks: MQTT topics and store-and-forward, JSON lines,
webhook (with snapshots inline), memory, and the live view (GET /v1/events)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeinfer.sinks.jsonl import JsonlSink
from edgeinfer.sinks.live import LiveFrames
from edgeinfer.sinks.memory import MemorySink
from edgeinfer.sinks.mqtt import MqttOptions, MqttSink
from edgeinfer.sinks.webhook import WebhookSink


def event(kind: str, n: int, device: str = "dev-ev", stream: str = "front", **extra: Any) -> dict[str, Any]:
    return {"kind": "event", "type": kind, "event_id": f"{stream}-e{n}", "device_id": device, "stream": stream,
            "track_id": n, "label": "cat", "score": 0.9, **extra}


def zone_counts(inside: int) -> dict[str, Any]:
    return {"kind": "zone", "name": "door", "stream": "front", "inside": inside, "entered": inside, "left": 0,
            "polygon": [[10, 10], [60, 10], [60, 50], [10, 50]]}


def make_sink(broker: Any, tmp_path: Path, device_id: str) -> MqttSink:
    opts = MqttOptions(host=broker.host, port=broker.port, queue_path=str(tmp_path / "q.sqlite3"), qos=1)
    return MqttSink(opts, device_id=device_id)


def test_mqtt_events_survive_a_broker_outage_in_order(
    wait_for: Any, mosquitto_factory: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory(persistence=True)
    topic = "edgeinfer/dev-ev/front/events"
    sub = mqtt_subscriber(broker, topic, client_id="sub-events", clean_session=False)
    with make_sink(broker, tmp_path, "dev-ev") as sink:
        sink.send_event(event("new", 1))
        assert sink.flush(5.0)
        broker.stop()
        assert wait_for(lambda: not sink.connected)
        sink.send_event(event("update", 1))
        sink.send_event(event("end", 1, end_reason="lost"))
        assert sink.stats()["queued"] >= 2  # held on disk while the broker is away
        broker.start()
        assert sink.flush(20.0), sink.stats()
        assert sub.wait_count(3, timeout_s=10.0)
    types = list(dict.fromkeys((m["event_id"], m["type"]) for m in map(json.loads, sub.payloads(topic))))
    assert types == [("front-e1", "new"), ("front-e1", "update"), ("front-e1", "end")]


def test_mqtt_zone_counts_are_retained_per_zone(mosquitto: Any, mqtt_subscriber: Any, tmp_path: Path) -> None:
    with make_sink(mosquitto, tmp_path, "dev-zones") as sink:
        sink.send_counts("front", "door", zone_counts(1))
        sink.send_counts("front", "door", zone_counts(2))
        assert sink.flush(5.0)
    # A subscriber arriving later gets the retained, latest counts.
    late = mqtt_subscriber(mosquitto, "edgeinfer/dev-zones/front/zones/#")
    assert late.wait_count(1)
    topic, payload = late.messages[0][0], json.loads(late.messages[0][1])
    assert topic == "edgeinfer/dev-zones/front/zones/door" and payload["inside"] == 2


def test_jsonl_writes_events_and_counts_as_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JsonlSink(path) as sink:
        sink.send_event(event("new", 1))
        sink.send_counts("front", "door", zone_counts(1))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["event", "zone"] and rows[0]["type"] == "new"


def test_webhook_posts_events_with_snapshots_inline(webhook_server: Any, tmp_path: Path) -> None:
    jpeg = tmp_path / "crop.jpg"
    cv2.imwrite(str(jpeg), np.full((8, 8, 3), 200, np.uint8))
    snapshot = {"frame": None, "crop": str(jpeg), "score": 0.9, "timestamp": 1.0}
    with WebhookSink(webhook_server.url, inline_snapshots=True) as sink:
        sink.send_event(event("new", 1, snapshot=snapshot))
        assert sink.flush(5.0)
    body = webhook_server.requests[-1][1]
    assert body["type"] == "new" and body["snapshot"]["crop"] == str(jpeg)
    assert base64.b64decode(body["snapshot"]["crop_b64"]) == jpeg.read_bytes()
    assert "frame_b64" not in body["snapshot"]


def test_memory_sink_keeps_events_and_latest_counts() -> None:
    sink = MemorySink()
    sink.send_event(event("new", 1))
    sink.send_counts("front", "door", zone_counts(1))
    sink.send_counts("front", "door", zone_counts(3))
    assert [e["type"] for e in sink.events] == ["new"] and sink.counts["front", "door"]["inside"] == 3


def test_live_view_keeps_the_latest_message_per_event_and_only_its_files(tmp_path: Path) -> None:
    live = LiveFrames(recent_events=2)
    crop = tmp_path / "c.jpg"
    live.send_event(event("new", 1, snapshot={"frame": None, "crop": str(crop)}))
    live.send_event(event("new", 2))
    live.send_event(event("end", 1, clip=str(tmp_path / "e1.mp4")))
    assert [(e["event_id"], e["type"]) for e in live.recent_events()] == [("front-e1", "end"), ("front-e2", "new")]
    live.send_event(event("new", 3))  # the oldest (e2) is forgotten, not e1 whose end came later
    assert [e["event_id"] for e in live.recent_events()] == ["front-e3", "front-e1"]
    assert live.event_file("front-e1", "clip") == tmp_path / "e1.mp4"
    assert live.event_file("front-e1", "crop") is None  # the end message has no snapshot
    assert live.event_file("front-e1", "../../etc/passwd") is None
    assert live.event_file("nope", "clip") is None


def test_live_view_draws_the_zones_it_was_sent() -> None:
    live = LiveFrames()
    frame = np.zeros((120, 160, 3), np.uint8)
    live.send({"stream": "front", "frame_index": 0}, frame=frame, result=None)
    plain = cv2.imdecode(np.frombuffer(live.latest_jpeg("front") or b"", np.uint8), cv2.IMREAD_COLOR)
    live.send_counts("front", "door", zone_counts(2))
    drawn = cv2.imdecode(np.frombuffer(live.latest_jpeg("front") or b"", np.uint8), cv2.IMREAD_COLOR)
    assert plain.max() < 20  # black
    assert drawn[10:50, 10:60].mean() > plain[10:50, 10:60].mean() + 10  # the zone's fill and outline
    assert live.regions("front")[0]["inside"] == 2
