"""Forwarder: window, order, drain-before-new after a reconnect, early acknowledgements.

The publish function here stands in for paho's ``publish`` (the MQTT tests run the
real one against mosquitto); it records what it was given and hands out message ids.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from edgeinfer.sinks.base import SinkCounters
from edgeinfer.sinks.forward import Forwarder, RejectedMessage
from edgeinfer.sinks.queue import DiskQueue, QueuedMessage


class Recorder:
    """Returns message ids 1, 2, ...; ``on_publish`` may acknowledge before returning."""

    def __init__(self) -> None:
        self.published: list[bytes] = []
        self.threads: list[str] = []
        self.next_mid = 1
        self.on_publish: Callable[[int], None] | None = None
        self.lock = threading.Lock()

    def __call__(self, row: QueuedMessage) -> int:
        if row.payload == b"poison":
            raise RejectedMessage("payload too large")
        with self.lock:
            mid = self.next_mid
            self.next_mid += 1
            self.published.append(row.payload)
            self.threads.append(threading.current_thread().name)
        if self.on_publish is not None:
            self.on_publish(mid)
        return mid


def settle(check: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[DiskQueue, Recorder, Forwarder, SinkCounters]]:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_rows=100)
    recorder = Recorder()
    counters = SinkCounters()
    forwarder = Forwarder(queue, recorder, wait_for_ack=True, window=3, counters=counters)
    forwarder.start()
    yield queue, recorder, forwarder, counters
    forwarder.stop()
    queue.close()


def test_window_limits_unacknowledged_rows_and_acks_delete_them(parts: tuple) -> None:
    queue, recorder, forwarder, counters = parts
    queue.put_many([("t", str(i).encode(), False) for i in range(5)])
    forwarder.set_connected(True)
    forwarder.wake()
    assert settle(lambda: len(recorder.published) == 3)
    time.sleep(0.1)
    assert recorder.published == [b"0", b"1", b"2"]  # the window is full: nothing more
    forwarder.on_ack(1)
    assert settle(lambda: len(recorder.published) == 4)
    # Deletes are batched: the acknowledged row is gone from disk, or counted as awaiting delete.
    assert settle(lambda: len(queue) - forwarder.awaiting_delete == 4)
    for mid in (2, 3, 4, 5):
        forwarder.on_ack(mid)
    assert forwarder.wait_delivered(3.0)
    assert recorder.published == [b"0", b"1", b"2", b"3", b"4"]
    assert len(queue) == 0 and counters.snapshot()["sent"] == 5


def test_after_reconnect_in_flight_rows_drain_before_new_ones(parts: tuple) -> None:
    queue, recorder, forwarder, _ = parts
    queue.put_many([("t", str(i).encode(), False) for i in range(2)])
    forwarder.set_connected(True)
    forwarder.wake()
    assert settle(lambda: len(recorder.published) == 2)
    forwarder.set_connected(False)  # mids 1, 2 stay with paho, which re-sends them itself
    queue.put("t", b"2")
    forwarder.set_connected(True)
    forwarder.wake()
    time.sleep(0.2)
    assert recorder.published == [b"0", b"1"]  # b"2" waits until the old ones are acknowledged
    forwarder.on_ack(1)
    forwarder.on_ack(2)
    assert settle(lambda: recorder.published == [b"0", b"1", b"2"])


def test_acknowledgement_before_publish_returns_is_matched(parts: tuple) -> None:
    queue, recorder, forwarder, counters = parts
    recorder.on_publish = forwarder.on_ack  # paho may call on_publish first
    queue.put_many([("t", str(i).encode(), False) for i in range(6)])
    forwarder.set_connected(True)
    forwarder.wake()
    assert forwarder.wait_delivered(3.0)
    assert counters.snapshot()["sent"] == 6 and forwarder.inflight == 0


def test_foreign_message_ids_are_ignored(parts: tuple) -> None:
    queue, recorder, forwarder, _ = parts
    forwarder.expect_foreign(1000)
    forwarder.on_ack(1000)
    forwarder.on_ack(2000)  # acknowledged first, declared foreign after: also ignored
    forwarder.expect_foreign(2000)
    queue.put("t", b"x")
    forwarder.set_connected(True)
    forwarder.wake()
    assert settle(lambda: recorder.published == [b"x"])
    assert len(queue) == 1  # mid 1 is not acknowledged by the foreign ones
    forwarder.on_ack(1)
    assert forwarder.wait_delivered(3.0)


def test_a_row_that_can_never_be_sent_is_dropped_and_counted(parts: tuple) -> None:
    queue, recorder, forwarder, counters = parts
    recorder.on_publish = forwarder.on_ack
    queue.put_many([("t", b"a", False), ("t", b"poison", False), ("t", b"b", False)])
    forwarder.set_connected(True)
    forwarder.wake()
    assert forwarder.wait_delivered(3.0)  # the bad row does not block the ones behind it
    assert recorder.published == [b"a", b"b"]
    assert counters.snapshot()["errors"] == 1 and counters.snapshot()["sent"] == 2


def put_and_offer(queue: DiskQueue, forwarder: Forwarder, payload: bytes) -> None:
    """What MqttSink.send does: store, then offer the stored row."""
    row_id = queue.put("t", payload)
    forwarder.offer(QueuedMessage(row_id, "t", payload, False))


def test_offer_publishes_from_the_callers_thread_when_next_in_line(parts: tuple) -> None:
    queue, recorder, forwarder, _ = parts
    forwarder.set_connected(True)
    assert settle(lambda: forwarder.inflight == 0)
    time.sleep(0.1)  # the thread has looked at the (empty) disk
    put_and_offer(queue, forwarder, b"a")
    assert recorder.published == [b"a"]  # already: no thread had to wake for it
    assert recorder.threads == [threading.current_thread().name]


def test_offered_rows_wait_behind_older_rows_on_disk_and_a_full_window(parts: tuple) -> None:
    queue, recorder, forwarder, _ = parts
    queue.put_many([("t", b"old", False)])  # stored while disconnected: the thread's to send
    put_and_offer(queue, forwarder, b"0")
    assert recorder.published == []  # not connected
    forwarder.set_connected(True)
    assert settle(lambda: recorder.published == [b"old", b"0"])
    for i in range(1, 4):
        put_and_offer(queue, forwarder, str(i).encode())
    assert recorder.published == [b"old", b"0", b"1"]  # window of 3: the rest wait on disk
    forwarder.on_ack(1)  # half the window (one row, of three) is free again
    assert settle(lambda: recorder.published == [b"old", b"0", b"1", b"2"])
    for mid in (2, 3, 4, 5):
        forwarder.on_ack(mid)
    assert forwarder.wait_delivered(3.0)
    assert recorder.published == [b"old", b"0", b"1", b"2", b"3"]


def test_concurrent_senders_and_acknowledgements_keep_id_order_and_send_each_once(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_rows=10_000)
    recorder = Recorder()
    counters = SinkCounters()
    forwarder = Forwarder(queue, recorder, wait_for_ack=True, window=16, counters=counters)
    acks: list[int] = []
    acks_ready = threading.Condition()

    def publish(row: QueuedMessage) -> int:
        with recorder.lock:  # payload order and message id order must agree
            mid = recorder(row)
            ids.append(row.id)
        with acks_ready:
            acks.append(mid)
            acks_ready.notify()
        return mid

    ids: list[int] = []
    forwarder._publish = publish  # the broker: acknowledges each message from its own thread
    stop = threading.Event()

    def broker() -> None:
        while not stop.is_set():
            with acks_ready:
                acks_ready.wait_for(lambda: acks or stop.is_set(), timeout=0.1)
                batch, acks[:] = list(acks), []
            for mid in batch:
                forwarder.on_ack(mid)

    recorder.lock = threading.RLock()
    ack_thread = threading.Thread(target=broker)
    ack_thread.start()
    forwarder.start()
    forwarder.set_connected(True)
    senders = [threading.Thread(target=lambda k=k: [put_and_offer(queue, forwarder, f"{k}-{i}".encode())
                                                    for i in range(300)]) for k in range(2)]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    try:
        assert forwarder.wait_delivered(10.0)
    finally:
        stop.set()
        ack_thread.join()
        forwarder.stop()
        queue.close()
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 600
    assert counters.snapshot()["sent"] == 600
    assert sorted(recorder.published) == sorted(f"{k}-{i}".encode() for k in range(2) for i in range(300))


def test_a_row_paho_does_not_take_is_retried_in_order(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "q.sqlite3", max_rows=100)
    recorder = Recorder()
    refusals = {b"1": 2}  # paho's queue is full the first two times b"1" is offered to it
    calls: list[bytes] = []

    def publish(row: QueuedMessage) -> int | None:
        calls.append(row.payload)
        if refusals.get(row.payload, 0) > 0:
            refusals[row.payload] -= 1
            return None
        return recorder(row)

    counters = SinkCounters()
    forwarder = Forwarder(queue, publish, wait_for_ack=True, window=8, counters=counters)
    recorder.on_publish = forwarder.on_ack
    forwarder.start()
    forwarder.set_connected(True)
    try:
        for i in range(4):
            put_and_offer(queue, forwarder, str(i).encode())
        assert forwarder.wait_delivered(5.0)
    finally:
        forwarder.stop()
        queue.close()
    assert recorder.published == [b"0", b"1", b"2", b"3"]  # b"2" and b"3" waited behind b"1"
    assert calls.count(b"1") == 3 and len(calls) < 20  # retried, without spinning
