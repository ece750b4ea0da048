"""The sender thread of store-and-forward: disk queue -> broker, in order, acknowledged.

One thread reads the :class:`~edgeinfer.sinks.queue.DiskQueue` in id order and hands
rows to a ``publish`` function (paho's, in the MQTT sink) while fewer than ``window``
are waiting for their acknowledgement. An acknowledged row is deleted from disk; deletes
are batched into one transaction. After a reconnect, paho first re-sends the messages
that were in flight (same message ids, DUP flag); the thread waits until those are
acknowledged before it publishes newer rows, so the broker sees them in order.

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
        window: Most rows waiting for an acknowledgement at once.
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
        self._last_id = 0
        self._connected = False
        self._draining = False
        self._wake = True  # rows may be on disk from an earlier run
        self._stopping = False
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
            self._wake = True
            self._cond.notify_all()

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
            if not self._inflight:
                self._draining = False
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

    def wait_delivered(self, timeout_s: float) -> bool:
        """Wait until the queue is empty; True if it emptied within ``timeout_s`` seconds."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while len(self._queue) > 0 or self._acked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
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
        """Delete acknowledged rows and publish the next batch; False when stopping."""
        self._delete_acked()
        with self._cond:
            if self._stopping:
                return False
            room = self._window - len(self._inflight)
            if not (self._connected and not self._draining and room > 0 and self._wake):
                if not self._cond.wait(0.5):
                    self._wake = True  # re-read the disk now and then, whatever happened
                return True
            self._wake = False
            last_id = self._last_id
        batch = self._queue.peek(after_id=last_id, limit=room)
        self._publish_batch(batch)
        if len(batch) == room:
            with self._cond:
                self._wake = True
        return True

    def _publish_batch(self, batch: list[QueuedMessage]) -> None:
        for row in batch:
            try:
                mid = self._publish(row)
            except RejectedMessage as exc:
                log.error("MQTT: dropping queued message %d that cannot be sent: %s", row.id, exc)
                self._queue.remove([row.id])
                self._counters.add("errors")
                with self._cond:
                    self._last_id = row.id
                continue
            if mid is None:
                return  # not accepted (no connection, paho queue full): retry later from this row
            with self._cond:
                self._last_id = row.id
                if not self._wait_for_ack:
                    self._acked.append(row.id)
                elif mid in self._early:
                    self._early.discard(mid)
                    self._acked.append(row.id)
                else:
                    self._inflight[mid] = row.id

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
