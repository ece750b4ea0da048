"""Real processes killed with SIGKILL: the queue on disk and the broker's last will."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeinfer.sinks.queue import DiskQueue

CHILD = str(Path(__file__).with_name("mqtt_child.py"))


def start_child(mode: str, broker: Any, queue_path: Path, device_id: str, count: int = 0) -> subprocess.Popen[str]:
    args = [sys.executable, CHILD, mode, broker.host, str(broker.port), str(queue_path), device_id, str(count)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert proc.stdout is not None
    proc.stdout.close()


def test_queue_survives_sigkill_and_is_delivered_in_order_by_the_next_process(
    mosquitto_factory: Any, mqtt_subscriber: Any, tmp_path: Path
) -> None:
    broker = mosquitto_factory(start=False)  # the broker is down while results are produced
    queue_path = tmp_path / "state" / "queue.sqlite3"
    n = 40
    producer = start_child("queue", broker, queue_path, "dev-crash", n)
    assert producer.stdout is not None
    assert producer.stdout.readline().strip() == "QUEUED"
    kill(producer)  # no close(), no flush: a power cut as far as the process knows

    on_disk = DiskQueue(queue_path, max_rows=1000)
    assert len(on_disk) == n
    on_disk.close()

    broker.start()
    sub = mqtt_subscriber(broker, "edgeinfer/dev-crash/front/results")
    deliverer = start_child("deliver", broker, queue_path, "dev-crash")
    out, _ = deliverer.communicate(timeout=30)
    stats = json.loads(out)
    assert stats["delivered"] and stats["sent"] == n and stats["queued"] == 0
    assert sub.wait_count(n)
    assert [json.loads(p)["frame_index"] for p in sub.payloads()] == list(range(n))


def test_last_will_marks_a_killed_device_offline(
    mosquitto: Any, mqtt_subscriber: Any, wait_for: Any, tmp_path: Path
) -> None:
    sub = mqtt_subscriber(mosquitto, "edgeinfer/dev-will/status")
    device = start_child("online", mosquitto, tmp_path / "q.sqlite3", "dev-will")
    assert device.stdout is not None
    assert device.stdout.readline().strip() == "CONNECTED"
    assert wait_for(lambda: sub.payloads() == [b"online"])
    kill(device)
    assert wait_for(lambda: sub.payloads() == [b"online", b"offline"], timeout_s=10.0)
    later = mqtt_subscriber(mosquitto, "edgeinfer/dev-will/status")  # retained for newcomers
    assert later.wait_count(1)
    assert later.messages[0][1:] == (b"offline", True)
