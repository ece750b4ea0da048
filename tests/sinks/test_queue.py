"""DiskQueue: order, bounded size with a persisted drop count, survival across reopen."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from edgeinfer.errors import ConfigError, SinkError
from edgeinfer.sinks.queue import DiskQueue


def test_rows_come_back_in_order_and_remove_deletes_them(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_rows=100)
    ids = queue.put_many([(f"t/{i}", f"p{i}".encode(), i % 2 == 0) for i in range(10)])
    assert ids == sorted(ids) and len(queue) == 10
    rows = queue.peek(limit=4)
    assert [r.payload for r in rows] == [b"p0", b"p1", b"p2", b"p3"]
    assert [r.retain for r in rows] == [True, False, True, False]
    assert [r.topic for r in queue.peek(after_id=rows[-1].id, limit=2)] == ["t/4", "t/5"]
    queue.remove([r.id for r in rows] + [10_000])  # unknown ids are ignored
    assert len(queue) == 6
    assert queue.peek(limit=1)[0].payload == b"p4"
    queue.close()


def test_full_queue_drops_oldest_and_the_count_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "q.sqlite3"
    queue = DiskQueue(path, max_rows=5)
    for i in range(8):
        queue.put("t", str(i).encode())
    assert len(queue) == 5 and queue.dropped == 3
    queue.close()

    reopened = DiskQueue(path, max_rows=5)
    assert len(reopened) == 5 and reopened.dropped == 3
    assert [r.payload for r in reopened.peek(limit=10)] == [b"3", b"4", b"5", b"6", b"7"]
    reopened.put("t", b"8")
    assert reopened.dropped == 4
    reopened.close()


def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    DiskQueue(tmp_path / "q.sqlite3", max_rows=1).close()
    with sqlite3.connect(tmp_path / "q.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_bad_arguments_and_unwritable_paths_raise_edgeinfer_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="queue_max must be at least 1"):
        DiskQueue(tmp_path / "q.sqlite3", max_rows=0)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SinkError, match="Cannot open the message queue"):
        DiskQueue(tmp_path / "file" / "q.sqlite3", max_rows=10)


def test_one_queue_file_has_one_user_at_a_time(tmp_path: Path) -> None:
    first = DiskQueue(tmp_path / "q.sqlite3", max_rows=10)
    with pytest.raises(SinkError, match="already in use"):
        DiskQueue(tmp_path / "q.sqlite3", max_rows=10)
    first.close()
    DiskQueue(tmp_path / "q.sqlite3", max_rows=10).close()  # free again once closed


def test_counts_stay_readable_after_close(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_rows=1)
    queue.put_many([("t", b"a", False), ("t", b"b", False)])
    queue.close()
    assert (len(queue), queue.dropped) == (1, 1)


def test_ids_keep_growing_when_the_queue_empties_and_continue_after_reopen(tmp_path: Path) -> None:
    # The forwarder reads rows after the last id it published: an id handed out again
    # after the table emptied would never be sent.
    path = tmp_path / "q.sqlite3"
    queue = DiskQueue(path, max_rows=100)
    first = queue.put_many([("t", b"a", False), ("t", b"b", False)])
    queue.remove(first)
    assert len(queue) == 0
    again = queue.put("t", b"c")
    assert again > max(first)
    assert [r.payload for r in queue.peek(after_id=max(first))] == [b"c"]
    later = queue.put("t", b"d")
    queue.close()
    reopened = DiskQueue(path, max_rows=100)
    assert reopened.put("t", b"e") > later
    assert [r.payload for r in reopened.peek()] == [b"c", b"d", b"e"]
    reopened.close()


def test_queue_files_from_earlier_versions_still_work(tmp_path: Path) -> None:
    # Files made before ids were given by the queue have an AUTOINCREMENT table.
    path = tmp_path / "q.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
        " payload BLOB NOT NULL, retain INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO messages (topic, payload) VALUES ('t', x'6f6c64');"
    )
    db.close()
    queue = DiskQueue(path, max_rows=10)
    queue.put("t", b"new")
    assert [r.payload for r in queue.peek()] == [b"old", b"new"]
    queue.close()
