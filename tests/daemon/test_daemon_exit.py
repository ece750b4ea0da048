"""Exit codes that tell the truth: undelivered results exit 75, a bad model is refused (65)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import finish, keys, make_model, make_video, produced, received, start_daemon, write_config
from tests.daemon.test_daemon_control import Commander

RESULTS = "edgeinfer/{}/front/results"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_model(tmp_path)
    return tmp_path


def queued_rows(path: Path) -> int:
    # closed before the daemon starts again: the queue takes an exclusive lock on its file
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def test_finite_run_with_the_broker_unreachable_exits_75_and_the_next_start_delivers(
    folder: Path, mosquitto_factory: Any, mqtt_subscriber: Any, wait_for: Any
) -> None:
    broker = mosquitto_factory(start=False)  # its port: nothing listens there yet
    make_video(folder / "clip.mp4", 10)
    config = write_config(folder, broker, source="clip.mp4", device_id="cam-undelivered")
    code, err = finish(start_daemon(config))
    assert code == 75, err  # EX_TEMPFAIL: systemd's Restart= tries again
    assert "every source has ended, but results were not delivered" in err
    assert f"10 result(s) queued on disk in {folder / 'queue.db'}" in err
    assert "they will be sent on the next start" in err
    assert queued_rows(folder / "queue.db") == 10 and len(produced(folder)) == 10

    broker.start()
    sub = mqtt_subscriber(broker, RESULTS.format("cam-undelivered"))
    code, err = finish(start_daemon(config))  # the same run again: the queue goes first
    assert code == 0, err
    made = keys(produced(folder))
    assert len(made) == 20
    assert wait_for(lambda: len(received(sub.payloads())) >= 20, timeout_s=20)
    assert received(sub.payloads()) == made
    assert queued_rows(folder / "queue.db") == 0


def test_a_bad_model_is_refused_by_a_remote_switch_and_the_running_one_stays(
    folder: Path, mosquitto: Any, wait_for: Any
) -> None:
    models = folder / "models"
    models.mkdir()
    bad = models / "bad.tflite"
    bad.write_bytes(b"TFL3" + bytes(range(256)) * 4)  # the right sha256, but not a model
    make_video(folder / "clip.mp4", 20)
    config = write_config(folder, mosquitto, source="clip.mp4", device_id="cam-badswitch",
                          stream_extra={"loop": True}, control={"model_dir": "models"})
    commander = Commander(mosquitto, "cam-badswitch")
    daemon = start_daemon(config)
    try:
        assert wait_for(lambda: len(produced(folder)) >= 5, timeout_s=30)
        reply = commander.send(wait_for, cmd="model", path="bad.tflite",
                               sha256=hashlib.sha256(bad.read_bytes()).hexdigest())
        assert not reply["ok"], reply
        assert "bad.tflite" in reply["message"] and "keeps running cls.tflite: not a TFLite" in reply["message"], reply
        before = len(produced(folder))
        assert wait_for(lambda: len(produced(folder)) > before + 5, timeout_s=15)  # still running
        assert {e["model"] for e in produced(folder)} == {"cls.tflite"}
        status = json.loads(commander.send(wait_for, cmd="status")["message"])
        assert status["streams"]["front"]["model"] == "cls.tflite"
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon)
        commander.close()
    assert code == 0, err
