"""MQTT benchmark: store-and-forward publishing against a plain paho publish loop.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Messages per second through :class:`edgeinfer.sinks.mqtt.MqttSink` at QoS 1 (every
   envelope written to the SQLite queue before it is published, deleted when the broker
   acknowledges it; timed from the first ``send`` until ``flush`` reports all acknowledged)
   against a plain paho loop that publishes the same JSON payloads at QoS 1 with the same
   in-flight window and waits for every acknowledgement. Goal: ratio >= 0.5.
2. The same sink throughput in absolute terms. Goal: >= 1,000 msg/s.
3. The time one ``send`` call takes (the only synchronous part, the SQLite commit), p99
   over all sends of the run. Goal: <= 10 ms, so the pipeline is never held up for long.
   The median is a few tens of microseconds; the tail is set by Python's GIL switch
   interval (5 ms) while the sender and paho threads run, hence two intervals.

Both sides use one local mosquitto started here (127.0.0.1, free port, no persistence),
run in alternating rounds; the ratio is the median of the rounds' ratios, and the median
round of each side is reported with it.

Run: ``python bench/bench_mqtt.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from common import row

from edgeinfer.sinks import make_envelope
from edgeinfer.sinks.mqtt import MqttOptions, MqttSink

WINDOW = 100  # in-flight messages for the baseline: the sink's own window
TOPIC = "edgeinfer/bench/front/results"


class Mosquitto:
    """A throwaway broker on a free local port."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        conf = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf.write_text("\n".join(lines) + "\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def make_envelopes(count: int) -> list[dict[str, Any]]:
    """Detection-sized envelopes (three boxes), as a camera pipeline publishes them."""
    dets = [{"label": "person", "class_id": 0, "score": 0.87, "box_xyxy": [12.5, 40.0, 210.0, 380.5]}] * 3
    return [make_envelope(device_id="bench", stream="front", frame_index=i, model="yolo.tflite",
                          latency_ms=12.3, timestamp=1.7e9 + i / 30, result={"task": "detection", "detections": dets})
            for i in range(count)]


def plain_paho_rate(port: int, envelopes: list[dict[str, Any]]) -> float:
    """Messages per second of a plain QoS 1 publish loop, until every PUBACK is in."""
    acked = 0
    done = threading.Event()
    lock = threading.Lock()

    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == len(envelopes):
                done.set()

    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-plain")
    client.max_inflight_messages_set(WINDOW)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for env in envelopes:
        client.publish(TOPIC, json.dumps(env, separators=(",", ":")), qos=1)
    if not done.wait(120):
        raise RuntimeError(f"plain paho: only {acked} of {len(envelopes)} acknowledged")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    client.on_publish = None
    return len(envelopes) / elapsed


def sink_rate(port: int, envelopes: list[dict[str, Any]], folder: Path) -> tuple[float, list[float]]:
    """Messages per second through MqttSink at QoS 1, and each ``send`` call's milliseconds."""
    options = MqttOptions(host="127.0.0.1", port=port, qos=1, queue_path=str(folder / "queue.sqlite3"),
                          queue_max=len(envelopes) + 1)
    send_ms: list[float] = []
    with MqttSink(options, device_id="bench") as sink:
        sink.wait_connected(10)
        start = time.perf_counter()
        for env in envelopes:
            t0 = time.perf_counter()
            sink.send(env)
            send_ms.append((time.perf_counter() - t0) * 1000)
        if not sink.flush(120):
            raise RuntimeError(f"sink: not all acknowledged: {sink.stats()}")
        elapsed = time.perf_counter() - start
        stats = sink.stats()
    if stats["sent"] != len(envelopes):
        raise RuntimeError(f"sink: sent {stats['sent']} of {len(envelopes)}")
    return len(envelopes) / elapsed, send_ms


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` sends fewer messages in fewer rounds."""
    count, rounds = (3000, 3) if quick else (20000, 7)
    envelopes = make_envelopes(count)
    ours: list[float] = []
    base: list[float] = []
    send_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp))
        try:
            for r in range(rounds):
                folder = Path(tmp) / f"round{r}"
                folder.mkdir()
                sides = ("ours", "base") if r % 2 == 0 else ("base", "ours")
                for side in sides:
                    if side == "ours":
                        rate, times = sink_rate(broker.port, envelopes, folder)
                        ours.append(rate)
                        send_ms.extend(times)
                    else:
                        base.append(plain_paho_rate(broker.port, envelopes))
        finally:
            broker.stop()
    ours_rate, base_rate = statistics.median(ours), statistics.median(base)
    # Each round's two sides ran back to back; the median of the rounds' ratios is what a
    # drifting machine moves least.
    paired = [o / b for o, b in zip(ours, base, strict=True)]
    ratio = statistics.median(paired)
    p99 = sorted(send_ms)[int(0.99 * (len(send_ms) - 1))]
    return [
        row(f"MQTT QoS 1 store-and-forward vs plain paho QoS 1 ({count} msgs)", ours_rate, "msg/s",
            base_rate, ">= 0.5x", ratio >= 0.5, ratio=ratio, round_ratios=[round(x, 3) for x in paired]),
        row("MQTT QoS 1 store-and-forward throughput", ours_rate, "msg/s", None, ">= 1000 msg/s",
            ours_rate >= 1000),
        row("MqttSink.send() p99 (SQLite commit)", p99, "ms", None, "<= 10 ms", p99 <= 10.0,
            median_ms=statistics.median(send_ms)),
    ]


def main() -> None:
    """Print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages and rounds")
    args = parser.parse_args()
    for r in run(args.quick):
        print(json.dumps(r))


if __name__ == "__main__":
    main()
