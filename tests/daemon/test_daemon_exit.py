"""Exit codes that tell the truth: a finite run with undelivered results exits 75, and the next start delivers them."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import finish, keys, make_model, make_video, produced, received, start_daemon, write_config

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
