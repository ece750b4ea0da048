"""Store-and-forward: a bounded, ordered message queue on disk (SQLite in WAL mode).

The MQTT sink writes every message here *before* it is published and deletes it only
when the broker has acknowledged it, so results produced while the broker is away, or
before the process is killed, are delivered in order when it returns.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A committed row
survives the process being killed (``SIGKILL``, OOM killer) because it is in the OS
page cache; after a power cut the database is never corrupt, but the last few
milliseconds of rows may be missing. Delivery is at-least-once: a row whose
acknowledgement arrived just before a crash may be sent again.

When the queue holds ``max_rows`` rows, putting one more deletes the oldest and adds
it to a ``dropped`` count that is itself stored in the database.

One queue file serves one sink: an exclusive ``flock`` on ``<path>.lock`` is held while
it is open (the OS releases it when the process dies, even by ``SIGKILL``).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from edgeinfer.errors import ConfigError, SinkError

__all__ = ["DiskQueue", "QueuedMessage"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters (name, value) VALUES ('dropped', 0);
"""
# Ids are given by the queue (see DiskQueue._next_id), not by AUTOINCREMENT, whose
# bookkeeping table costs a third of every insert.
_INSERT = "INSERT INTO messages (id, topic, payload, retain) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True)
class QueuedMessage:
    """One stored message.

    Attributes:
        id: Row id; ids only grow, so they give the send order.
        topic: MQTT topic.
        payload: Message bytes.
        retain: MQTT retain flag.
    """

    id: int
    topic: str
    payload: bytes
    retain: bool


class DiskQueue:
    """A FIFO of messages in one SQLite file, safe to use from several threads.

    Args:
        path: Database file; its folder is created. Two processes must not share one.
        max_rows: Capacity; when full, the oldest rows are dropped and counted.

    Raises:
        ConfigError: ``max_rows`` is below 1.
        SinkError: the file cannot be created or opened.
    """

    def __init__(self, path: str | Path, *, max_rows: int) -> None:
        if max_rows < 1:
            raise ConfigError(f"queue_max must be at least 1, got {max_rows}")
        self.path = Path(path)
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._lock_file = _lock_exclusively(self.path)
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one per batch.
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            # One process owns the file (the flock above), so SQLite need not lock it per
            # transaction: exclusive locking mode saves a fifth of every insert.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._count = int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
            # Ids only grow while the file is open, even when the table empties; a new
            # process reads its rows from the start.
            self._next_id = int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM messages").fetchone()[0]) + 1
            self._dropped = int(
                self._db.execute("SELECT value FROM counters WHERE name = 'dropped'").fetchone()[0]
            )
        except (OSError, sqlite3.Error) as exc:
            self._lock_file.close()
            raise SinkError(
                f"Cannot open the message queue {self.path}: {exc}. "
                "Check that the folder is writable and that no other process uses this queue_path."
            ) from exc

    def put(self, topic: str, payload: bytes, *, retain: bool = False) -> int:
        """Store one message and return its row id (see :meth:`put_many`)."""
        return self.put_many([(topic, payload, retain)])[-1]

    def put_many(self, items: Sequence[tuple[str, bytes, bool]]) -> list[int]:
        """Store messages in one transaction, dropping the oldest rows beyond ``max_rows``.

        Args:
            items: ``(topic, payload, retain)`` tuples, in send order.

        Returns:
            The new row ids, in order.

        Raises:
            SinkError: the database cannot be written (disk full, read-only file system).
        """
        with self._lock:
            excess = self._count + len(items) - self.max_rows
            try:
                first = self._next_id
                if len(items) == 1 and excess <= 0:
                    # One statement is its own transaction (autocommit): a third of the calls.
                    topic, payload, retain = items[0]
                    self._db.execute(_INSERT, (first, topic, payload, int(retain)))
                else:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(_INSERT, [(first + i, topic, payload, int(retain))
                                                   for i, (topic, payload, retain) in enumerate(items)])
                    if excess > 0:
                        self._drop_oldest(excess)
                    self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SinkError(f"Cannot write to the message queue {self.path}: {exc}") from exc
            self._next_id = first + len(items)
            ids = list(range(first, self._next_id))
            self._count += len(ids) - max(excess, 0)
            self._dropped += max(excess, 0)
            return ids

    def _drop_oldest(self, count: int) -> None:
        self._db.execute(
            "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)", (count,)
        )
        self._db.execute("UPDATE counters SET value = value + ? WHERE name = 'dropped'", (count,))

    def peek(self, *, after_id: int = 0, limit: int = 100) -> list[QueuedMessage]:
        """Return up to ``limit`` oldest messages whose id is greater than ``after_id``."""
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT id, topic, payload, retain FROM messages WHERE id > ? ORDER BY id LIMIT ?",
                    (after_id, limit),
                ).fetchall()
            except sqlite3.Error as exc:
                raise SinkError(f"Cannot read the message queue {self.path}: {exc}") from exc
        return [QueuedMessage(int(i), str(t), bytes(p), bool(r)) for i, t, p, r in rows]

    def remove(self, ids: Iterable[int]) -> None:
        """Delete delivered messages (ids that are already gone are ignored), in one transaction.

        Raises:
            SinkError: the database cannot be written.
        """
        runs = _runs(ids)
        if not runs:
            return
        with self._lock:
            try:
                # Acknowledged ids are mostly consecutive: one range delete per run of them.
                self._db.execute("BEGIN IMMEDIATE")
                removed = self._db.executemany("DELETE FROM messages WHERE id BETWEEN ? AND ?", runs).rowcount
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise SinkError(f"Cannot delete from the message queue {self.path}: {exc}") from exc
            self._count -= max(removed, 0)

    def __len__(self) -> int:
        with self._lock:
            return self._count

    @property
    def dropped(self) -> int:
        """Messages dropped because the queue was full, over the life of this file."""
        with self._lock:
            return self._dropped

    def close(self) -> None:
        """Close the database; the file and its rows stay for the next process."""
        with self._lock:
            self._db.close()
            self._lock_file.close()  # releases the flock

    def _rollback(self) -> None:
        # No transaction may be open; the original error is the one that matters.
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")


def _runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` covering exactly the given ids.

    Example:
        >>> _runs([7, 3, 4, 5, 9, 8])
        [(3, 5), (7, 9)]
    """
    runs: list[tuple[int, int]] = []
    for i in sorted({int(i) for i in ids}):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _lock_exclusively(path: Path) -> IO[bytes]:
    """Open ``<path>.lock`` and hold an exclusive ``flock`` on it while the queue is open.

    Two writers would interleave ids and send rows twice; the OS drops the lock when the
    process dies, even by SIGKILL, so a crashed process never blocks its successor.

    Raises:
        SinkError: the folder cannot be created, or another open queue holds the lock.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("ab")
    except OSError as exc:
        raise SinkError(
            f"Cannot open the message queue {path}: {exc}. Check that the folder is writable."
        ) from exc
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows has no flock; single use is up to the user
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise SinkError(
            f"The message queue {path} is already in use by another sink or process; "
            "give each MQTT sink its own queue_path."
        ) from exc
    return handle
