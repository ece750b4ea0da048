"""The sender of store-and-forward: disk queue -> broker, in order, acknowledged.

Every row is stored in the :class:`~edgeinfer.sinks.queue.DiskQueue` first. Then:

- **Straight through.** :meth:`Forwarder.offer` hands the row just stored to ``publish``
  (paho's, in the MQTT sink) from the caller's thread, when it is next in line (nothing
  older is waiting on disk) and fewer than ``window`` rows are with paho. Paho sends up to
  its own in-flight limit and keeps the rest in memory, sending each one as an earlier
  one is acknowledged, from its network thread. No thread of ours wakes per message.
- **Catching up.** Rows that could not go straight through (broker away, ``window``
  full, a restart with rows on disk) are read back by the sender thread, in id order, a
  half window at a time.

An acknowledged row is deleted from disk; deletes are batched into one transaction per
``DELETE_BATCH`` rows or per ``REREAD_S`` seconds, and done at once when ``flush`` waits.
(Delivery is at-least-once: after a crash, rows acknowledged in that last moment are sent
again.)
After a reconnect, paho first re-sends the messages that were in flight (same message
ids, DUP flag); newer rows wait until those are acknowledged, so the broker sees them in
order. Whoever publishes holds ``_publish_lock`` from reading ``_last_id`` to recording
the message ids, so rows leave in id order and once; paho's callbacks never take it.

Paho may deliver the acknowledgement of a message before ``publish`` has returned its
message id to us, so unknown ids are remembered (``_early``) and matched afterwards.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edgeinfer.sinks.base import SinkCounters
from edgeinfer.sinks.queue import DiskQueue, QueuedMessage

__all__ = ["Forwarder", "RejectedMessage"]

log = logging.getLogger(__name__)

DELETE_BATCH = 256  # acknowledged rows deleted in one transaction while others are in flight
REREAD_S = 0.5  # the sender thread looks at the disk at least this often

# Returns the message id when the message was accepted for delivery, None to retry later,
# and raises RejectedMessage when the message can never be sent.
PublishFn = Callable[[QueuedMessage], "int | None"]


class RejectedMessage(Exception):
    """Raised by a publish function for a row that can never be sent (invalid, too large).

    The row is deleted and counted in ``errors`` so that one bad row cannot block the
    rows behind it forever.
    """


class Forwarder:
    """Moves rows from a disk queue to a publish function, keeping order and a window.

    Args:
        queue: Where the rows are; the forwarder deletes delivered rows.
        publish: Sends one row; returns its message id, or None when not accepted.
        wait_for_ack: True for QoS 1/2 (delete on :meth:`on_ack`), False for QoS 0
            (delete as soon as ``publish`` accepted the row).
        window: Most rows handed to ``publish`` and not yet acknowledged.
        counters: ``sent`` and ``errors`` are added here.
    """

    def __init__(
        self,
        queue: DiskQueue,
        publish: PublishFn,
        *,
        wait_for_ack: bool,
        window: int,
        counters: SinkCounters,
    ) -> None:
        self._queue = queue
        self._publish = publish
        self._wait_for_ack = wait_for_ack
        self._window = window
        self._counters = counters
        self._cond = threading.Condition()
        self._inflight: dict[int, int] = {}  # message id -> row id
        self._early: set[int] = set()  # acknowledged before we knew the message id
        self._foreign: set[int] = set()  # message ids of messages not from the queue
        self._acked: list[int] = []  # row ids to delete
        self._last_id = 0  # the newest row handed to publish
        self._publish_lock = threading.Lock()
        self._connected = False
        self._draining = False
        self._wake = True  # rows may be on disk from an earlier run
        self._backlog = True  # rows wait on disk for the thread: acknowledgements wake it
        self._stopping = False
        self._reread_at = 0.0
        self._flush_waiters = 0
        self._thread = threading.Thread(target=self._run, name="edgeinfer-mqtt-forward", daemon=True)

    def start(self) -> None:
        """Start the sender thread."""
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the sender thread; rows not yet acknowledged stay on disk."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._delete_acked()

    def wake(self) -> None:
        """Tell the thread that new rows are on disk."""
        with self._cond:
            self._wake_thread()

    def _wake_thread(self) -> None:
        # Call with _cond held: rows on disk are the thread's to publish. It is woken only
        # when it can publish now; else the acknowledgement that makes room (or the
        # reconnect) wakes it, not every row stored meanwhile.
        self._wake = True
        self._backlog = True
        if self._ready() and self._refill_due():
            self._cond.notify_all()

    def offer(self, row: QueuedMessage) -> None:
        """Publish ``row``, just stored, from this thread if it is next in line; else wake the thread.

        Never blocks on the sender thread, and never raises: the row is on disk already.
        """
        if not self._publish_lock.acquire(blocking=False):
            self.wake()  # the thread is publishing: it reads this row from disk next
            return
        try:
            with self._cond:
                if not (self._ready() and row.id == self._last_id + 1 and len(self._inflight) < self._window):
                    self._wake_thread()
                    return
            if not self._publish_batch([row]):
                with self._cond:
                    self._wake_thread()  # not taken (paho full, connection lost): from disk later
        except Exception:
            log.exception("MQTT: publishing queued message %d failed; the sender thread retries", row.id)
            with self._cond:
                self._wake_thread()
        finally:
            self._publish_lock.release()

    def _ready(self) -> bool:
        # Call with _cond held: rows may be published now.
        return self._connected and not self._draining and not self._stopping

    def _refill_due(self) -> bool:
        # Call with _cond held: the thread publishes half a window at a time, so that it
        # wakes once per batch; paho still holds the other half to send meanwhile.
        return self._window - len(self._inflight) >= max(1, self._window // 2)

    def set_connected(self, connected: bool) -> None:
        """Report the connection state; after a reconnect, in-flight rows drain first."""
        with self._cond:
            self._connected = connected
            if connected:
                self._draining = bool(self._inflight)
                self._wake = True
            self._cond.notify_all()

    def on_ack(self, mid: int) -> None:
        """Record the broker's acknowledgement of message id ``mid`` (any thread)."""
        with self._cond:
            if mid in self._foreign:
                self._foreign.discard(mid)
                return
            row_id = self._inflight.pop(mid, None)
            if row_id is None:
                self._early.add(mid)
                return
            self._acked.append(row_id)
            drained = self._draining and not self._inflight
            if drained:
                self._draining = False
            # Wake the thread for a batch of deletes, when rows wait on disk for the room
            # this one made, or once the messages re-sent after a reconnect are all in.
            # Smaller runs of deletes wait for its next look (REREAD_S) or for flush().
            flushed = self._flush_waiters > 0 and not self._inflight
            if (len(self._acked) >= DELETE_BATCH or drained or flushed
                    or (self._backlog and self._refill_due())):
                self._wake = True
                self._cond.notify_all()

    def expect_foreign(self, mid: int) -> None:
        """Mark ``mid`` as a message that did not come from the queue (status, health)."""
        with self._cond:
            if mid in self._early:
                self._early.discard(mid)
            else:
                self._foreign.add(mid)

    @property
    def inflight(self) -> int:
        """Rows published and not yet acknowledged."""
        with self._cond:
            return len(self._inflight)

    @property
    def awaiting_delete(self) -> int:
        """Rows delivered (acknowledged) whose delete from disk waits for the next batch."""
        with self._cond:
            return len(self._acked)

    def wait_delivered(self, timeout_s: float) -> bool:
        """Wait until the queue is empty; True if it emptied within ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._flush_waiters += 1  # the last acknowledgement wakes the thread to delete at once
            try:
                while len(self._queue) > 0 or self._acked:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.notify_all()  # the thread deletes what is acknowledged now, not in a batch
                    self._cond.wait(min(remaining, 0.05))
            finally:
                self._flush_waiters -= 1
        return True

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # the thread must survive anything and keep the rows on disk
                log.exception("MQTT sender: unexpected error; retrying in 1 s")
                self._counters.add("errors")
                time.sleep(1.0)

    def _step(self) -> bool:
        """Delete acknowledged rows and publish the next batch from disk; False when stopping."""
        with self._cond:
            delete = bool(self._acked) and (len(self._acked) >= DELETE_BATCH or not self._inflight
                                            or not self._connected or self._stopping
                                            or time.monotonic() >= self._reread_at)
        if delete:
            self._delete_acked()
        with self._cond:
            if self._stopping:
                return False
            if not (self._ready() and self._wake and self._refill_due()):
                # Re-read the disk now and then, whatever happened (a row paho did not take);
                # by the clock, as flush() notifies the thread often.
                now = time.monotonic()
                if now >= self._reread_at:
                    self._wake = True
                    self._reread_at = now + REREAD_S
                else:
                    self._cond.wait(self._reread_at - now)
                return True
            self._wake = False
        with self._publish_lock:
            with self._cond:
                last_id = self._last_id
                room = self._window - len(self._inflight)
            batch = self._queue.peek(after_id=last_id, limit=room)
            all_taken = self._publish_batch(batch)
            with self._cond:
                if not all_taken:
                    pass  # paho did not take a row: the next acknowledgement or re-read retries it
                elif len(batch) == room:
                    self._wake = True  # more may be on disk
                elif not self._wake:
                    self._backlog = False  # read to the end and no row offered since: caught up
        return True

    def _publish_batch(self, batch: list[QueuedMessage]) -> bool:
        """Hand rows to ``publish`` in order until one is not taken (call with ``_publish_lock`` held).

        The message ids are recorded together at the end, under one hold of ``_cond``:
        acknowledgements that arrive meanwhile wait in ``_early``.

        Returns:
            True when every row was taken (or dropped as one that can never be sent).
        """
        taken: list[tuple[int, int]] = []  # (message id, row id)
        rejected: list[int] = []
        last_id = None
        try:
            for row in batch:
                try:
                    mid = self._publish(row)
                except RejectedMessage as exc:
                    log.error("MQTT: dropping queued message %d that cannot be sent: %s", row.id, exc)
                    rejected.append(row.id)
                    last_id = row.id
                    continue
                if mid is None:
                    break  # not accepted (no connection, paho queue full): retry later from this row
                taken.append((mid, row.id))
                last_id = row.id
        finally:
            if rejected:
                self._queue.remove(rejected)
                self._counters.add("errors", len(rejected))
            with self._cond:
                if last_id is not None:
                    self._last_id = last_id
                for mid, row_id in taken:
                    if not self._wait_for_ack:
                        self._acked.append(row_id)
                    elif mid in self._early:
                        self._early.discard(mid)
                        self._acked.append(row_id)
                    else:
                        self._inflight[mid] = row_id
                if len(self._acked) >= DELETE_BATCH:
                    self._cond.notify_all()  # QoS 0: rows count as delivered once paho took them
        return len(taken) + len(rejected) == len(batch)

    def _delete_acked(self) -> None:
        with self._cond:
            ids, self._acked = self._acked, []
        if not ids:
            return
        try:
            self._queue.remove(ids)
        except Exception:
            with self._cond:
                self._acked[:0] = ids  # keep them; the next step retries the delete
            raise
        self._counters.add("sent", len(ids))
        with self._cond:
            self._cond.notify_all()
