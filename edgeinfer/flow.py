"""Flow between threads: a bounded hand-over queue with the two frame policies, and rate meters.

``put(item, replace_oldest=False)`` blocks while full (policy ``every``: nothing is
skipped); ``replace_oldest=True`` drops the oldest waiting item instead (policy
``latest``: the consumer always gets the newest). ``finish()`` marks the end of input;
``get()`` then returns ``None`` once empty. ``abort()`` empties it and releases every
waiting thread. Used between the pipeline's stages, with :class:`Rate` (events per
second) and :class:`Window` (latency percentiles), both with flat memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import numpy as np

__all__ = ["Channel", "Lane", "Rate", "Window"]

T = TypeVar("T")


class Channel(Generic[T]):
    """A bounded FIFO with end-of-input and abort.

    Example:
        >>> ch = Channel[int](2)
        >>> ch.put(1), ch.put(2), ch.put(3, replace_oldest=True)
        (False, False, True)
        >>> ch.finish(); [ch.get(), ch.get(), ch.get()]
        [2, 3, None]
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._finished = False
        self._aborted = False

    def put(self, item: T, *, replace_oldest: bool = False) -> bool:
        """Add ``item``; block while full unless ``replace_oldest``.

        Returns:
            True when an older item was dropped to make room. Items put after
            :meth:`abort` are discarded (returns False).
        """
        with self._cond:
            dropped = False
            while len(self._items) >= self.capacity and not self._aborted:
                if replace_oldest:
                    self._items.popleft()
                    dropped = True
                    break
                self._cond.wait()
            if self._aborted:
                return False
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def get(self, timeout_s: float | None = None) -> T | None:
        """Return the oldest item; ``None`` when finished and empty, aborted, or on timeout."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._items and not self._finished and not self._aborted:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if not self._items or self._aborted:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    @property
    def ended(self) -> bool:
        """True once :meth:`get` can only return ``None``: finished and empty, or aborted."""
        with self._cond:
            return self._aborted or (self._finished and not self._items)

    def finish(self) -> None:
        """No more input: ``get`` returns the remaining items, then ``None``."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def abort(self) -> int:
        """Drop everything, end the channel and wake all waiters. Returns how many were dropped."""
        with self._cond:
            lost = len(self._items)
            self._items.clear()
            self._aborted = True
            self._finished = True
            self._cond.notify_all()
            return lost

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class Rate:
    """Events per second over the last ``window`` events (thread-safe enough: deque appends)."""

    def __init__(self, window: int = 120) -> None:
        self._times: deque[float] = deque(maxlen=window)

    def tick(self) -> None:
        """Record one event now."""
        self._times.append(time.monotonic())

    def fps(self) -> float:
        """Recent rate, events per second (0.0 with fewer than two events)."""
        times = list(self._times)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return round((len(times) - 1) / (times[-1] - times[0]), 2)


class Window:
    """The last ``size`` durations, for percentiles with flat memory."""

    def __init__(self, size: int = 1000) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value_ms: float) -> None:
        """Record one duration, milliseconds."""
        self._values.append(value_ms)

    def percentiles(self) -> dict[str, float]:
        """``{"p50", "p90", "p99"}`` in milliseconds; empty before the first value."""
        values = list(self._values)
        if not values:
            return {}
        p50, p90, p99 = np.percentile(np.asarray(values), [50, 90, 99])
        return {"p50": round(float(p50), 3), "p90": round(float(p90), 3), "p99": round(float(p99), 3)}


class Lane:
    """The worker threads of one stage: they take items one at a time and hand them on in that order.

    A worker takes an item and a ticket under :attr:`taking` and works on it unlocked.
    :meth:`hand_on` never makes it wait for a slower worker: an item finished ahead of its
    turn is left for whichever worker hands on the item before it, and the finishing
    worker goes on to the next frame (waiting would leave its core idle). At most
    ``2 * workers`` items are taken and not yet handed on (:meth:`wait_for_room`), which
    bounds the frames held. With one worker the locks are never contended.
    """

    def __init__(self, workers: int) -> None:
        self.taking = threading.Lock()
        self._turns = threading.Condition()
        self._issued = 0
        self._next = 0
        self._alive = workers
        self._limit = 2 * workers
        self._ready: dict[int, Any] = {}
        self._emitting = False

    def ticket(self) -> int:
        """The next ticket (call with :attr:`taking` held)."""
        self._issued += 1
        return self._issued - 1

    def wait_for_room(self) -> None:
        """Block while ``2 * workers`` items are taken and not yet handed on."""
        with self._turns:
            while self._issued - self._next >= self._limit:
                self._turns.wait()

    def hand_on(self, ticket: int, item: Any, emit: Callable[[Any], None]) -> None:
        """Hand ``item`` (``None`` for a failed one) on in ticket order through ``emit``.

        The caller emits its own item and every later one already finished when its
        ticket is next and nobody else is emitting; otherwise it leaves the item for the
        worker that is. ``emit`` runs outside the lock, one call at a time, in order.
        """
        with self._turns:
            self._ready[ticket] = item
            if self._emitting or ticket != self._next:
                return
            self._emitting = True
        while True:
            with self._turns:
                if self._next not in self._ready:
                    self._emitting = False  # in the same hold as the check: no item is left behind
                    return
                item = self._ready.pop(self._next)
            emitted = False
            try:
                if item is not None:
                    emit(item)
                emitted = True
            finally:
                with self._turns:
                    self._next += 1
                    if not emitted:
                        self._emitting = False  # emit raised: the exception ends this worker's turn
                    self._turns.notify_all()

    def leave(self) -> bool:
        """A worker ends; True for the last one (which ends the stage's output)."""
        with self._turns:
            self._alive -= 1
            return self._alive == 0
