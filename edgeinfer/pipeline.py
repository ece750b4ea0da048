"""The live pipeline: ``source -> preprocess -> infer -> decode -> sinks``, stages overlapped.

Each stage runs on its own thread and hands frames on through a bounded
:class:`~edgeinfer.flow.Channel`, so reading the next frame, resizing it, running the
model on the one before and publishing the one before that happen at once, in flat memory:

* **capture** reads the :class:`~edgeinfer.sources.base.Source`. With policy ``latest``
  a newer frame replaces an unread one (counted as dropped), so the model always starts
  on the newest picture; with ``every`` it blocks until there is room.
* **preprocess**, **infer**, **decode** are the steps of :class:`~edgeinfer.stages.ModelSteps`;
  a plain ``infer(image) -> result`` callable is one stage. The first stage also gates
  static scenes (:mod:`edgeinfer.gating`), reusing the previous result.
* With ``workers=N`` the **infer** stage runs N threads, each on its own interpreter
  (:meth:`Model.replica <edgeinfer.model.Model.replica>`); results still leave in frame order.
* **publish** (:mod:`edgeinfer.publishing`) tracks detections, makes events, wraps each
  result in an envelope and hands it and the events to the sinks; nothing is dropped.

The pipeline knows no model format. :func:`edgeinfer.streaming.stream` is its generator face.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from edgeinfer.flow import Channel, Lane, Rate, Window
from edgeinfer.gating import FrameGate, GateConfig, as_gate
from edgeinfer.publishing import Publisher, as_setup
from edgeinfer.sources.base import Source
from edgeinfer.stages import Job, PipelineStats, Step, plan_steps
from edgeinfer.types import Frame

__all__ = ["Pipeline", "PipelineStats"]

log = logging.getLogger("edgeinfer.pipeline")
MAX_CONSECUTIVE_ERRORS = 10
IDLE_S = 0.5  # the publisher looks for lost tracks when no frame came for this long


class Pipeline:
    """Run a source through a model into sinks, every stage on its own thread.

    Args:
        source: An open :class:`~edgeinfer.sources.base.Source`. The pipeline closes it when
            it stops (the camera is released).
        model: A :class:`~edgeinfer.model.Model` with one image input (run as separate
            preprocess, infer and decode stages), or any callable ``infer(image) -> result``
            (one stage) where ``image`` is ``(H, W, 3)`` uint8 BGR and the result has ``to_dict()``.
        sinks: Objects with ``send(envelope, *, frame, result)``, ``flush(timeout_s)``, ``close()``.
        device_id: Device name for the envelopes.
        stream_name: Stream name for the envelopes; default the source's name.
        gate: Skip inference on unchanged frames: a :class:`~edgeinfer.gating.GateConfig`,
            a :class:`~edgeinfer.gating.FrameGate`, ``True`` for the defaults, or ``None``.
        queue_size: Capacity of the queues between stages (with policy ``latest`` the
            queues in front of the model hold one frame, the newest).
        workers: Threads for the model, each with its own interpreter (``workers - 1`` replicas
            of ``model``). Use it when one interpreter cannot keep up and cores are left: on a 2-core board,
            ``workers=2`` with ``threads=1`` keeps both cores busy. A plain callable is
            called from every worker at once and must be thread-safe.
        tracker: Give detections ``track_ids``: what :func:`edgeinfer.tracking.make_tracker` takes.
        events: Turn tracks into events and zone counts for the sinks' ``send_event`` and
            ``send_counts``: an :class:`~edgeinfer.publishing.EventSetup` (zones, lines, clips,
            ``publish``), an :class:`~edgeinfer.events.EventsConfig`, or ``True`` for the defaults.

    Example:
        >>> from edgeinfer.sources import ReplaySource
        >>> from edgeinfer.results import Regression
        >>> frames = [np.full((8, 8, 3), i, np.uint8) for i in range(5)]
        >>> mean = lambda image: Regression(values=np.array([image.mean()], np.float32), names=("mean",))
        >>> got = []
        >>> class ListSink:
        ...     def send(self, envelope, *, frame=None, result=None): got.append(envelope["frame_index"])
        ...     def flush(self, timeout_s): return True
        ...     def close(self): pass
        >>> Pipeline(ReplaySource(frames), mean, [ListSink()], device_id="doc").run().frames_published
        5
        >>> got
        [0, 1, 2, 3, 4]
    """

    def __init__(
        self, source: Source, model: Any, sinks: Sequence[Any] = (), *, device_id: str = "edgeinfer",
        stream_name: str | None = None, gate: FrameGate | GateConfig | bool | None = None,
        queue_size: int = 2, workers: int = 1, tracker: Any = None, events: Any = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        self.source = source
        self._plan = plan_steps(model, queue_size, workers)
        self._steps = self._plan.steps
        self.model_name = self._plan.model_name
        self.sinks = list(sinks)
        self.device_id = device_id
        self.stream_name = stream_name or source.info.name
        self._gate = as_gate(gate)
        self._publisher = Publisher(self.sinks, device_id=device_id, stream=self.stream_name, model=self.model_name,
                                    source=source.info, tracker=tracker, events=as_setup(events),
                                    labels=getattr(getattr(model, "card", None), "labels", None))
        self._latest = source.info.policy == "latest"
        # channels[k] feeds step k; channels[-1] feeds the publisher. With policy "latest"
        # the queues up to the model hold one item and a newer frame replaces an older one,
        # so the model always starts on the newest frame; after it nothing is dropped.
        names = [name for name, _ in self._steps]
        model_at = names.index("infer") if "infer" in names else 0
        self._newest_only = [self._latest and k <= model_at for k in range(len(names) + 1)]
        self._channels: list[Channel[Any]] = [Channel(1 if newest else queue_size) for newest in self._newest_only]
        self._stopping = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._started_at: float | None = None
        self._counts = dict.fromkeys(("captured", "inferred", "gated", "published", "dropped", "errors"), 0)
        stage_names = ["capture", *(name for name, _ in self._steps), "publish"]
        self._rates = {name: Rate() for name in stage_names}
        self._latency_ms = Window()
        self._work_ms = Window()
        self._last_result: Any = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Pipeline:
        """Start the stage threads. Returns ``self``."""
        if self._threads:
            raise RuntimeError("Pipeline.start() was already called; make a new Pipeline to run again")
        self._started_at = time.monotonic()
        targets: list[tuple[str, Callable[[], None]]] = [("capture", self._capture_loop)]
        for i, (name, calls) in enumerate(self._steps):
            lane = Lane(len(calls))
            for k, step in enumerate(calls):
                label = name if len(calls) == 1 else f"{name}{k}"
                targets.append((label, functools.partial(self._step_loop, i, name, step, lane)))
        targets.append(("publish", self._publish_loop))
        for name, target in targets:
            thread = threading.Thread(target=target, name=f"{name}-{self.stream_name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def run(self, *, flush_timeout_s: float = 10.0) -> PipelineStats:
        """Start (if needed) and block until the source ends or :meth:`stop` is called.

        Returns:
            The final stats.

        Raises:
            Exception: whatever stopped the pipeline (a sink error, repeated inference
                errors, a source error); ``KeyboardInterrupt`` stops it cleanly first.
        """
        if not self._threads:
            self.start()
        try:
            while not self.wait(0.1):
                pass
        except KeyboardInterrupt:
            self.stop()
            raise
        self._finish(flush_timeout_s)
        self.raise_error()
        return self.stats()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop reading, finish the frames in flight, flush the sinks and release the source.

        Args:
            timeout_s: Time allowed for draining and flushing, seconds.

        Returns:
            True when everything in flight was published and the sinks report nothing left.
        """
        self._stopping.set()
        self._resumed.set()
        if self._latest or not self._threads:
            self.source.close()  # wakes a capture thread waiting for the next frame
        return self._finish(timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """:meth:`stop`, then close the sinks."""
        try:
            self.stop(timeout_s)
        finally:
            for sink in self.sinks:
                sink.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pause(self) -> None:
        """Stop taking new frames into the model (a live source keeps only its newest frame)."""
        self._resumed.clear()

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        self._resumed.set()

    @property
    def finished(self) -> bool:
        """True once every stage has ended (source ended, stopped or failed)."""
        return self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every stage has ended or ``timeout_s`` passed; returns :attr:`finished`."""
        return self._done.wait(timeout_s)

    @property
    def clock_origin(self) -> float | None:
        """The events' clock at the first frame (a file's frames are timed from it); ``None`` before."""
        return self._publisher.origin

    def raise_error(self) -> None:
        """Re-raise the exception that stopped the pipeline, if any."""
        if self._error is not None:
            raise self._error

    def _finish(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        drained = not any(t.is_alive() for t in self._threads)
        if not drained:
            lost = sum(channel.abort() for channel in self._channels)
            log.warning("%s: stop timed out after %.1f s; %d queued frame(s) not published",
                        self.stream_name, timeout_s, lost)
        self.source.close()
        if drained:
            self._plan.close()  # the replicas; a stage still running keeps its interpreter
        for sink in self.sinks:
            if not sink.flush(max(0.0, deadline - time.monotonic())):
                log.warning("%s: sink %s still had results to deliver after %.1f s",
                            self.stream_name, type(sink).__name__, timeout_s)
                drained = False
        return drained

    def _fail(self, exc: BaseException, inbox: int) -> None:
        """Record a fatal error in the stage fed by ``channels[inbox]`` and stop reading.

        The failed stage's queue and everything upstream are emptied so no thread blocks
        on a stage that is gone; stages downstream still publish what they hold.
        """
        with self._lock:
            if self._error is None:
                self._error = exc
        log.error("%s: pipeline stopped: %s", self.stream_name, exc)
        self._stopping.set()
        self._resumed.set()
        for channel in self._channels[:inbox + 1]:
            channel.abort()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # -- stages ---------------------------------------------------------------------------

    def _capture_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                frame = self.source.read()
                if frame is None:
                    break
                self._count("captured")
                self._rates["capture"].tick()
                if self._channels[0].put(frame, replace_oldest=self._newest_only[0]):
                    self._count("dropped")
        except BaseException as exc:
            self._fail(exc, -1)
        finally:
            try:
                self.source.close()
            finally:
                self._channels[0].finish()

    def _step_loop(self, index: int, name: str, step: Step, lane: Lane) -> None:
        inbox, outbox = self._channels[index], self._channels[index + 1]
        first, last = index == 0, index == len(self._steps) - 1
        newest_only = self._newest_only[index + 1]

        def emit(done: Job) -> None:
            settled = self._settle(done) if last else done
            if settled is not None and outbox.put(settled, replace_oldest=newest_only):
                self._count("dropped")

        consecutive_errors = 0
        try:
            while True:
                with lane.taking:
                    lane.wait_for_room()
                    if first:
                        self._resumed.wait()
                    item = inbox.get()
                    if item is None:
                        break
                    job = self._admit(item) if first else item
                    ticket = lane.ticket()
                done: Job | None = None
                try:
                    done = self._apply(step, job, name)
                    consecutive_errors = 0
                except Exception as exc:
                    consecutive_errors += 1
                    self._on_error(exc, item, name, consecutive_errors)
                finally:
                    # Handed on in the order taken, also when this item failed (its turn passes).
                    lane.hand_on(ticket, done, emit)
        except BaseException as exc:
            self._fail(exc, index)
        finally:
            if lane.leave():
                outbox.finish()

    def _admit(self, frame: Frame) -> Job:
        """First stage: wrap the frame, and mark it gated when the scene did not change."""
        if self._gate is None:
            return Job(frame)
        start = time.perf_counter()
        changed = self._gate.should_infer(frame.image)
        return Job(frame, gated=not changed, work_ms=(time.perf_counter() - start) * 1000.0)

    def _apply(self, step: Step, job: Job, name: str) -> Job:
        if job.gated:
            return job
        start = time.perf_counter()
        job = step(job)
        work_ms = (time.perf_counter() - start) * 1000.0
        self._rates[name].tick()
        return replace(job, work_ms=job.work_ms + work_ms)

    def _settle(self, job: Job) -> Job | None:
        """Last stage: reuse the previous result for gated frames, count inferred ones."""
        if job.gated:
            if self._last_result is None:
                return None  # nothing inferred yet to reuse (the first inference failed)
            self._count("gated")
            return replace(job, result=self._last_result)
        self._last_result = job.result
        self._count("inferred")
        self._work_ms.add(job.work_ms)
        return job

    def _on_error(self, exc: Exception, item: Any, stage: str, consecutive: int) -> None:
        self._count("errors")
        if self._gate is not None:
            self._gate.reset()
        frame = item.frame if isinstance(item, Job) else item
        if consecutive >= MAX_CONSECUTIVE_ERRORS:
            raise exc
        log.warning("%s: %s failed on frame %d (%d in a row): %s",
                    self.stream_name, stage, frame.index, consecutive, exc)

    def _publish_loop(self) -> None:
        publisher, inbox = self._publisher, self._channels[-1]
        try:
            publisher.start()
            while True:
                job = inbox.get(timeout_s=IDLE_S)
                if job is None:
                    if inbox.ended:
                        break
                    publisher.idle()  # no frame for a while: tracks of a dropped camera end
                    continue
                publisher.publish(job.frame, job.result, round(job.work_ms, 3))
                self._latency_ms.add((time.time() - job.frame.timestamp) * 1000.0)
                self._count("published")
                self._rates["publish"].tick()
            publisher.finish("stopped" if self._stopping.is_set() else "source_ended")
        except BaseException as exc:
            self._fail(exc, len(self._channels) - 1)
        finally:
            self._done.set()

    # -- stats ----------------------------------------------------------------------------

    def stats(self) -> PipelineStats:
        """A snapshot of counters, stage rates, latency percentiles and queue depths."""
        with self._lock:
            c = dict(self._counts)
        source = self.source.stats()
        state = ("failed" if self._error is not None else "idle" if self._started_at is None
                 else "stopped" if self._done.is_set() else "running" if self._resumed.is_set() else "paused")
        uptime = 0.0 if self._started_at is None else time.monotonic() - self._started_at
        names = [*(name for name, _ in self._steps), "publish"]
        return PipelineStats(
            state=state, uptime_s=round(uptime, 3), frames_captured=c["captured"],
            frames_inferred=c["inferred"], frames_gated=c["gated"], frames_published=c["published"],
            frames_dropped=c["dropped"] + source.frames_dropped, inference_errors=c["errors"],
            disconnects=source.disconnects, reconnects=source.reconnects,
            fps={name: rate.fps() for name, rate in self._rates.items()},
            latency_ms=self._latency_ms.percentiles(), infer_ms=self._work_ms.percentiles(),
            queue_depth={name: len(ch) for name, ch in zip(names, self._channels, strict=True)},
        )
