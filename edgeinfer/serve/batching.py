"""Micro-batching for the HTTP server: requests in, one model call per batch out.

Request handlers decode their image and hand the frame to :class:`MicroBatcher`. One
worker task on the event loop takes the first waiting frame and collects more (as many as
the model's batch dimension allows, at most ``max_batch``): all that are queued, plus those
still being decoded (:meth:`MicroBatcher.expect`) for up to ``max_wait_ms``; a request that
comes alone does not wait. The batch runs with ``Model.predict_batch`` on a worker thread,
so the event loop never blocks on inference. A model with a fixed batch of 1 gets batches of one: requests are
then serialised through ``Model.predict``, still off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
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
    frame: np.ndarray
    future: asyncio.Future[tuple[Any, int]]


class MicroBatcher:
    """Collects concurrent predictions into batches for one model.

    Args:
        model_provider: Returns the model to use (None while there is none); called once
            per batch, so a daemon that switches models is followed from the next batch on.
        max_batch: Upper bound of frames per batch (the model may allow fewer).
        max_wait_ms: How long the first frame of a batch waits for company, in ms.
    """

    def __init__(self, model_provider: Callable[[], Model | None], *, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_MAX_WAIT_MS) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError(f"max_batch must be >= 1 and max_wait_ms >= 0, got {max_batch}, {max_wait_ms}")
        self._provider = model_provider
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._predictions = 0
        self._batches = 0
        self._max_formed = 0
        self._expected = 0

    def expect(self, count: int) -> None:
        """Announce ``count`` frames on their way (negative: no longer), e.g. being decoded.

        The first frame of a batch waits up to ``max_wait_ms`` only while some are announced,
        so a request that comes alone runs at once.
        """
        self._expected += count

    def stats(self) -> BatchStats:
        """Counters so far."""
        pending = self._queue.qsize() if self._queue is not None else 0
        return BatchStats(self._predictions, self._batches, self._max_formed, pending)

    async def predict(self, frame: np.ndarray) -> tuple[Any, int]:
        """Predict one decoded frame, batched with whatever else is waiting.

        Args:
            frame: ``(H, W, 3)`` uint8 BGR image.

        Returns:
            The model's result for this frame and the size of the batch it ran in.

        Raises:
            EdgeInferError: whatever the model raised for the batch.
            ModelError: the batcher was stopped before the frame ran.
        """
        if self._task is None or self._task.done():
            self.start()
        assert self._queue is not None  # set by start()
        future: asyncio.Future[tuple[Any, int]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(frame, future))
        return await future

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

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            jobs = [await self._queue.get()]
            try:
                model = self._provider()
                if model is None:
                    raise ModelError("no model is loaded right now; try again when the stream has started")
                jobs += await self._collect(min(self.max_batch, batch_capacity(model)) - 1)
                results = await asyncio.to_thread(_infer, model, [job.frame for job in jobs])
            except asyncio.CancelledError:
                for job in jobs:
                    _fail(job, ModelError("the server is stopping; the request was not run"))
                raise
            except Exception as exc:  # the request handlers turn it into an HTTP error
                for job in jobs:
                    _fail(job, exc)
                continue
            self._batches += 1
            self._predictions += len(jobs)
            self._max_formed = max(self._max_formed, len(jobs))
            for job, result in zip(jobs, results, strict=True):
                if not job.future.done():  # the client may have gone away
                    job.future.set_result((result, len(jobs)))

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


def _infer(model: Model, frames: list[np.ndarray]) -> list[Any]:
    if len(frames) == 1:
        return [model.predict(frames[0])]
    return model.predict_batch(frames)


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
