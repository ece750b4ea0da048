"""Micro-batching for the HTTP server: requests in, one model call per batch out.

Request handlers hand the uploaded bytes to :class:`MicroBatcher`. One worker task on the
event loop takes the first waiting item and collects more (as many as the model's batch
dimension allows, at most ``max_batch``): all that are queued, plus those still being
received (:meth:`MicroBatcher.expect`) for up to ``max_wait_ms``; a request that comes
alone does not wait. The batch is decoded (``prepare``, one item at a time, so a bad image
fails only its own request) and run with ``Model.predict_batch`` in one call on a worker
thread: one thread hand-over per batch, and the event loop never blocks on decoding or
inference. A model with a fixed batch of 1 gets batches of one: requests are then
serialised through ``Model.predict``, still off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.errors import ModelError

if TYPE_CHECKING:
    from edgeinfer.model import Model

__all__ = ["BatchStats", "MicroBatcher", "batch_capacity"]

log = logging.getLogger("edgeinfer.serve")

DEFAULT_MAX_BATCH = 8
DEFAULT_MAX_WAIT_MS = 5.0
# A batch expected to take less than this (seconds) runs on the event loop (see MicroBatcher._run).
INLINE_MAX_S = 0.002
# While collecting a batch the worker checks the queue this often (seconds); polling
# avoids asyncio.wait_for on Queue.get, which can drop an item on Python 3.11.
_POLL_S = 0.001


def batch_capacity(model: Model) -> int:
    """How many frames one inference of ``model`` can take.

    Args:
        model: A loaded model with one image input.

    Returns:
        The fixed batch dimension when it is above 1, a large number (1024) when it is
        dynamic (``-1``), and 1 otherwise (fixed batch 1, or an input without a batch axis).
    """
    shape = model.inputs[0].shape if model.inputs else ()
    if len(shape) != 4:
        return 1
    if shape[0] < 0:
        return 1024
    return max(int(shape[0]), 1)


@dataclass(frozen=True)
class BatchStats:
    """Counters of a :class:`MicroBatcher`.

    Attributes:
        predictions: Frames predicted so far.
        batches: Model calls made (one per batch).
        max_batch: The largest batch formed so far.
        pending: Frames waiting for the worker now.
    """

    predictions: int
    batches: int
    max_batch: int
    pending: int


@dataclass
class _Job:
    item: Any
    future: asyncio.Future[tuple[Any, int, np.ndarray]]


class MicroBatcher:
    """Collects concurrent predictions into batches for one model.

    Args:
        model_provider: Returns the model to use (None while there is none); called once
            per batch, so a daemon that switches models is followed from the next batch on.
        max_batch: Upper bound of frames per batch (the model may allow fewer).
        max_wait_ms: How long the first frame of a batch waits for company, in ms.
        prepare: Turns a queued item into a ``(H, W, 3)`` uint8 BGR frame, on the worker
            thread (default: items are frames already). Its exceptions fail that item only.
    """

    def __init__(self, model_provider: Callable[[], Model | None], *, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
                 prepare: Callable[[Any], np.ndarray] | None = None) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self._provider = model_provider
        self._prepare = prepare or _as_frame
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._predictions = 0
        self._batches = 0
        self._max_formed = 0
        self._expected = 0
        self._measured: tuple[int, float] | None = None  # (id of the model, its last time per item, s)
        self._busy = False  # the worker holds a batch (collecting or running it)

    def expect(self, count: int) -> None:
        """Announce ``count`` items on their way (negative: no longer), e.g. bodies being received.

        The first frame of a batch waits up to ``max_wait_ms`` only while some are announced,
        so a request that comes alone runs at once.
        """
        self._expected += count

    def stats(self) -> BatchStats:
        """Counters so far."""
        pending = self._queue.qsize() if self._queue is not None else 0
        return BatchStats(self._predictions, self._batches, self._max_formed, pending)

    def submit(self, item: Any) -> asyncio.Future[tuple[Any, int, np.ndarray]]:
        """Queue one item now (on the event loop's thread); the future gets what :meth:`predict` returns."""
        if self._task is None or self._task.done():
            self.start()
        assert self._queue is not None  # set by start()
        future: asyncio.Future[tuple[Any, int, np.ndarray]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(item, future))
        return future

    async def predict(self, item: Any) -> tuple[Any, int, np.ndarray]:
        """Prepare and predict one item, batched with whatever else is waiting.

        Args:
            item: What ``prepare`` takes (encoded image bytes for ``serve``), or a
                ``(H, W, 3)`` uint8 BGR frame with the default ``prepare``.

        Returns:
            The model's result, the size of the batch it ran in, and the decoded frame.

        Raises:
            EdgeInferError: whatever ``prepare`` raised for this item, or the model for the batch.
            ModelError: the batcher was stopped before the item ran.
        """
        return await self.submit(item)

    def start(self) -> None:
        """Start the worker task on the running event loop (done on first use otherwise)."""
        if self._task is not None and not self._task.done():
            return
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._work(), name="edgeinfer-batcher")

    async def stop(self) -> None:
        """Stop the worker; frames still waiting fail with ``ModelError``."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            _fail(self._queue.get_nowait(), ModelError("the server is stopping; the request was not run"))

    def run_now(self, item: Any) -> tuple[Any, int, np.ndarray] | None:
        """Predict ``item`` at once, on the event loop, when nothing else is waiting or running
        and the model is known to take under ``INLINE_MAX_S``; ``None`` when it must queue.

        A lone request then costs no hand-over to the worker task and back (two turns of the
        event loop); batches still form as soon as requests overlap, and slow models always
        go through the worker thread. A model that takes one frame per call gains nothing from
        waiting for the bodies still being received, so its requests run at once even then.

        Raises:
            EdgeInferError: whatever preparing or predicting ``item`` raised.
        """
        model = self._provider()
        idle = not self._busy and (self._queue is None or self._queue.empty())
        if not idle or model is None or not self._quick(model, 1):
            return None
        if self._expected > 0 and batch_capacity(model) > 1:
            return None  # bodies on their way could join this one in a batch
        (outcome,) = self._infer_here(model, [item])
        if isinstance(outcome, BaseException):
            raise outcome
        self._count(1)
        return outcome[0], 1, outcome[1]

    def _count(self, ran: int) -> None:
        if ran:
            self._batches += 1
            self._predictions += ran
            self._max_formed = max(self._max_formed, ran)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            self._busy = True
            try:
                model = self._provider()
                if model is None:
                    raise ModelError("no model is loaded right now; try again when the stream has started")
                jobs += await self._collect(min(self.max_batch, batch_capacity(model)) - 1)
                outcomes = await self._run(model, [job.item for job in jobs])
            except asyncio.CancelledError:
                for job in jobs:
                    _fail(job, ModelError("the server is stopping; the request was not run"))
                raise
            except Exception as exc:  # the request handlers turn it into an HTTP error
                for job in jobs:
                    _fail(job, exc)
                continue
            finally:
                self._busy = False
            ran = sum(1 for outcome in outcomes if not isinstance(outcome, BaseException))
            self._count(ran)
            for job, outcome in zip(jobs, outcomes, strict=True):
                if job.future.done():  # the client went away
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result((outcome[0], ran, outcome[1]))

    async def _run(self, model: Model, items: list[Any]) -> list[Any]:
        """Prepare and predict ``items``: on the event loop when the batch is known to take under
        ``INLINE_MAX_S``, else on a worker thread.

        Handing a batch to a thread and back costs two wake-ups across threads; for a model
        that takes a fraction of a millisecond that hand-over was half of each request here
        (``bench/bench_serve.py``), while blocking the loop that briefly costs nothing. The
        estimate is each model's last measured time per item (lock waits included), so a
        slow or busy model goes back to the thread by itself.
        """
        if self._quick(model, len(items)):
            return self._infer_here(model, items)
        started = time.perf_counter()
        outcomes = await asyncio.to_thread(_infer, model, items, self._prepare)
        self._measured = (id(model), (time.perf_counter() - started) / len(items))
        return outcomes

    def _quick(self, model: Model, count: int) -> bool:
        """True when ``count`` items of ``model`` are known to take under ``INLINE_MAX_S``."""
        return self._measured is not None and self._measured[0] == id(model) \
            and self._measured[1] * count < INLINE_MAX_S

    def _infer_here(self, model: Model, items: list[Any]) -> list[Any]:
        """:func:`_infer` on the event loop's thread, timed for :meth:`_quick`."""
        started = time.perf_counter()
        outcomes = _infer(model, items, self._prepare)
        self._measured = (id(model), (time.perf_counter() - started) / len(items))
        return outcomes

    async def _collect(self, wanted: int) -> list[_Job]:
        assert self._queue is not None
        jobs: list[_Job] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(jobs) < wanted:
            if not self._queue.empty():
                jobs.append(self._queue.get_nowait())
                continue
            if self._expected <= 0:
                break  # nobody else is on the way
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, _POLL_S))
        return jobs


def _as_frame(item: Any) -> np.ndarray:
    return np.asarray(item)


def _infer(model: Model, items: list[Any], prepare: Callable[[Any], np.ndarray]) -> list[Any]:
    """Prepare each item (its exception stands in for its result), then run the good ones as one batch."""
    outcomes: list[Any] = []
    for item in items:
        try:
            outcomes.append(prepare(item))
        except Exception as exc:  # this request's own error (undecodable, too large ...)
            outcomes.append(exc)
    frames = [o for o in outcomes if not isinstance(o, BaseException)]
    if not frames:
        return outcomes
    results = iter([model.predict(frames[0])] if len(frames) == 1 else model.predict_batch(frames))
    return [o if isinstance(o, BaseException) else (next(results), o) for o in outcomes]


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
