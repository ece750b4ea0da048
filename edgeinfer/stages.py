"""Input to result: :class:`ModelSteps`, the pipeline's :class:`Job` and :class:`PipelineStats`.

:class:`ModelSteps` is the one composition that makes a result (preprocess of the
model's input kind -> ``Model.run`` -> decode): ``Model.predict`` and ``predict_batch``
call it, and :mod:`edgeinfer.pipeline` runs its steps on their own threads. A ``Model``
becomes three steps (preprocess, infer, decode) so that
resizing frame N+1 overlaps the model running on frame N; any other
``infer(image) -> result`` callable is a single ``infer`` step. With several workers the
model is one ``infer`` step run by that many threads, each doing preprocess, inference and
decoding for its own frames on its own interpreter (a :meth:`Model.replica
<edgeinfer.model.Model.replica>`): a frame stays on one core, in its cache, from pixels
to result, which measured 1.55x the sequential loop on 2 cores against 1.37x for three
separate stages with two inference workers. :class:`PipelineStats` is the snapshot
``Pipeline.stats()`` returns.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from edgeinfer.types import Frame

__all__ = ["MAX_BATCH", "Job", "ModelSteps", "PipelineStats", "Step", "StepPlan", "plan_steps"]

MAX_BATCH = 32  # items per inference at most for a dynamic batch dimension


@dataclass(frozen=True)
class Job:
    """One frame on its way through the stages; each stage returns an updated copy.

    Attributes:
        frame: The captured frame.
        tensor: Model input after ``preprocess`` (a ring buffer of :class:`ModelSteps`).
        geometry: Frame-to-input mapping from ``preprocess``.
        outputs: Output name to float32 array after ``infer``.
        result: The decoded result (``to_dict()``) after the last step.
        gated: True when the gate found the frame unchanged (steps are skipped).
        work_ms: Time spent in the steps so far, milliseconds.
    """

    frame: Frame
    tensor: Any = None
    geometry: Any = None
    outputs: Any = None
    result: Any = None
    gated: bool = False
    work_ms: float = 0.0


Step = Callable[[Job], Job]


@dataclass
class StepPlan:
    """What :func:`plan_steps` makes of a model.

    Attributes:
        steps: ``(name, callables)`` in order; one callable per worker thread of the step.
        model_name: The model name for the envelopes.
        replicas: Interpreters opened for the extra workers; the pipeline closes them.
    """

    steps: list[tuple[str, list[Step]]]
    model_name: str
    replicas: list[Any] = field(default_factory=list)

    def close(self) -> None:
        """Close the replicas (the caller's own model stays open)."""
        while self.replicas:
            self.replicas.pop().close()


class ModelSteps:
    """The one input-to-result composition: preprocess -> infer -> decode.

    Every result is made here: ``Model.predict``/``predict_batch``/``predict_async``
    (:meth:`predict`, :meth:`predict_batch`), the pipeline (:meth:`steps`, :meth:`whole`),
    and through them ``serve``'s micro-batcher and the CLI. The preprocess step is the one
    of the model's input kind (:func:`edgeinfer.preprocess.inputs.build_input`).

    The preprocessor writes into a ring of ``buffers`` tensors, so frame N+1 can be
    preprocessed while the model runs on frame N; the ring is larger than the number of
    tensors that can be in flight between the two stages. :meth:`predict` and
    :meth:`predict_batch` serialise on a lock (they share the first buffer).

    Args:
        model: A loaded model (``card``, ``inputs``, ``outputs``, ``run``, ``name``).
        buffers: Tensors in the ring (queue capacity + 3 is enough; 1 when one thread runs
            every step, :meth:`whole`, or for :meth:`predict`).

    Raises:
        InputError: no input kind can feed the model (use ``Model.run`` with ready tensors).
    """

    def __init__(self, model: Any, buffers: int = 1) -> None:
        from edgeinfer.postprocess import decode
        from edgeinfer.preprocess.inputs import build_input

        self.model = model
        self._decode = decode
        self._pre = build_input(model.card, model.inputs, model.name)
        self._ring = [np.empty(self._pre.output_shape, self._pre.dtype) for _ in range(buffers)]
        self._next = 0
        self._lock = threading.Lock()

    # -- the pipeline's steps -------------------------------------------------------------

    def steps(self) -> list[tuple[str, list[Step]]]:
        """``[("preprocess", [...]), ("infer", [...]), ("decode", [...])]``, one thread each."""
        return [("preprocess", [self.preprocess]), ("infer", [self.infer]), ("decode", [self.decode])]

    def whole(self, job: Job) -> Job:
        """All three steps on one thread."""
        return self.decode(self.infer(self.preprocess(job)))

    def preprocess(self, job: Job) -> Job:
        """Frame to tensor (into the next ring buffer) and geometry."""
        out = self._ring[self._next]
        self._next = (self._next + 1) % len(self._ring)
        tensor, geometry = self._pre(job.frame.image, out=out)
        return replace(job, tensor=tensor, geometry=geometry)

    def infer(self, job: Job) -> Job:
        """Tensor to dequantized outputs (``Model.run``)."""
        return replace(job, tensor=None, outputs=self.model.run(job.tensor))

    def decode(self, job: Job) -> Job:
        """Outputs to the task's result (``edgeinfer.postprocess.decode``)."""
        result = self._decode(self.model.card, job.outputs, self.model.outputs, job.geometry)
        return replace(job, outputs=None, result=result)

    # -- one call at a time (Model.predict) ------------------------------------------------

    def predict(self, item: Any) -> Any:
        """Read, preprocess, run and decode one input (an image path, bytes or array)."""
        ready = self._pre.read(item)
        with self._lock:
            tensor, geometry = self._pre(ready, out=self._ring[0])
            outputs = self.model.run(tensor)
            return self._decode(self.model.card, outputs, self.model.outputs, geometry)

    def batch_size(self, count: int) -> int:
        """Items per inference: the model's fixed batch, or up to ``MAX_BATCH`` when dynamic."""
        shape = self.model.inputs[0].shape
        dim = shape[0] if len(shape) in (2, 4) else 1  # 2-D: token inputs (edgeinfer.preprocess.text)
        return min(count, MAX_BATCH) if dim < 0 else max(dim, 1)

    def predict_batch(self, items: Sequence[Any]) -> list[Any]:
        """Predict items in order, batched when the model's batch dimension allows."""
        size = self.batch_size(len(items))
        if size <= 1:
            return [self.predict(item) for item in items]
        results: list[Any] = []
        for start in range(0, len(items), size):
            chunk = [self._pre.read(item) for item in items[start:start + size]]
            results.extend(self._run_chunk(chunk, size))
        return results

    def _run_chunk(self, ready: list[Any], size: int) -> list[Any]:
        fixed = self.model.inputs[0].shape[0] > 0
        rows = size if fixed else len(ready)
        tokenized = getattr(self._pre, "batch", None)  # text: tokenized together, padded to the longest
        with self._lock:
            if tokenized is not None:
                batch, geometries = tokenized(ready, rows)
            else:
                batch = np.zeros((rows, *self._pre.output_shape[1:]), dtype=self._pre.dtype)
                geometries = [self._pre(item, out=batch[i:i + 1])[1] for i, item in enumerate(ready)]
            outputs = self.model.run(batch)
            return [
                self._decode(self.model.card, {k: v[i:i + 1] for k, v in outputs.items()}, self.model.outputs, g)
                for i, g in enumerate(geometries)
            ]


def plan_steps(model: Any, queue_size: int, workers: int = 1) -> StepPlan:
    """Return the named steps for ``model``, its name for the envelopes and any replicas.

    Args:
        model: A loaded ``Model`` (has ``card``, ``inputs``, ``outputs`` and ``run``; made into
            :class:`ModelSteps`), an object with ``predict(image)``, or a callable
            ``infer(image) -> result``.
        queue_size: Capacity of the queues between stages (sizes the tensor ring).
        workers: Threads for the model. With more than one, a ``Model`` is a single
            ``infer`` step whose workers each preprocess, infer and decode on their own
            replica; any other callable is called from every worker at once and must be
            thread-safe (objects with ``replica()`` get one replica per worker).

    Raises:
        TypeError: ``model`` is none of these.
        ValueError: ``workers`` < 1.
        InputError: a ``Model`` whose input no input kind can prepare.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    name = str(getattr(model, "name", getattr(model, "__name__", type(model).__name__)))
    loaded = all(getattr(model, attr, None) is not None for attr in ("card", "inputs", "outputs", "run"))
    predict = getattr(model, "predict", None)
    infer = predict if callable(predict) else model
    if not loaded and not callable(infer):
        raise TypeError(f"model must be a Model, have predict(image) or be callable, got {type(model).__name__}")
    if loaded and workers == 1:
        return StepPlan(ModelSteps(model, queue_size + 3).steps(), name)
    if loaded:
        first = ModelSteps(model, 1)  # before any replica opens: fails when no input kind can feed the model
        replicas = _replicas(model, workers)
        return StepPlan([("infer", [first.whole, *(ModelSteps(m, 1).whole for m in replicas)])], name, replicas)
    replicas = _replicas(model, workers)

    def call(job: Job, infer: Callable[[Any], Any] = infer) -> Job:
        return replace(job, result=infer(job.frame.image))

    calls: list[Step] = [functools.partial(call, infer=r.predict) for r in replicas]
    return StepPlan([("infer", [call, *calls] if replicas else [call] * workers)], name, replicas)


def _replicas(model: Any, workers: int) -> list[Any]:
    """Open ``workers - 1`` replicas of ``model`` (none when it cannot make them); all or none."""
    if workers == 1 or not callable(getattr(model, "replica", None)):
        return []
    replicas: list[Any] = []
    try:
        for _ in range(workers - 1):
            replicas.append(model.replica())
    except BaseException:
        for replica in replicas:
            replica.close()
        raise
    return replicas


@dataclass(frozen=True)
class PipelineStats:
    """A snapshot of a pipeline's counters and timings (the daemon's health message).

    Attributes:
        state: ``idle``, ``running``, ``paused``, ``stopped`` or ``failed``.
        uptime_s: Seconds since ``start()``.
        frames_captured: Frames taken from the source.
        frames_inferred: Frames the model ran on.
        frames_gated: Frames whose inference was skipped by the gate (previous result reused).
        frames_published: Results handed to the sinks.
        frames_dropped: Frames replaced by newer ones before inference (source and pipeline,
            policy ``latest``).
        inference_errors: Frames on which the model raised.
        disconnects: Times the live source dropped.
        reconnects: Times it came back.
        fps: Frames per second of each stage (``capture``, ``preprocess``, ``infer``,
            ``decode``, ``publish``; a callable model has one ``infer`` stage), recent window.
        latency_ms: Capture-to-publish time (the frame's age at publish): ``p50``, ``p90``, ``p99``.
        infer_ms: Preprocess + inference + decode work per inferred frame (queue waits
            excluded; the envelope's ``latency_ms``): ``p50``, ``p90``, ``p99``.
        queue_depth: Items waiting in front of each stage after capture, by stage name.
    """

    state: str
    uptime_s: float
    frames_captured: int
    frames_inferred: int
    frames_gated: int
    frames_published: int
    frames_dropped: int
    inference_errors: int
    disconnects: int
    reconnects: int
    fps: dict[str, float] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    infer_ms: dict[str, float] = field(default_factory=dict)
    queue_depth: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
