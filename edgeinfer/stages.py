"""The pipeline's plain data and model steps: :class:`Job`, :class:`ModelSteps`, :class:`PipelineStats`.

:mod:`edgeinfer.pipeline` runs each step on its own thread. A ``Model`` with one image
input becomes three steps (:class:`ModelSteps`: preprocess, infer, decode) so that
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from edgeinfer.types import Frame

__all__ = ["Job", "ModelSteps", "PipelineStats", "Step", "StepPlan", "plan_steps"]


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
    """A ``Model`` split into ``preprocess``, ``infer`` and ``decode`` steps for separate threads.

    The preprocessor writes into a ring of ``buffers`` tensors, so frame N+1 can be
    preprocessed while the model runs on frame N; the ring is larger than the number of
    tensors that can be in flight between the two stages.

    Args:
        model: A loaded model with one image input (``Model.predict`` works on it).
        buffers: Tensors in the ring (queue capacity + 3 is enough; 1 when one thread runs
            every step, :meth:`whole`).
    """

    def __init__(self, model: Any, buffers: int) -> None:
        from edgeinfer.postprocess import decode
        from edgeinfer.preprocess import build_preprocessor

        self.model = model
        self._decode = decode
        self._pre = build_preprocessor(model.card.preprocess, model.inputs[0])
        self._ring = [np.empty(self._pre.output_shape, self._pre.dtype) for _ in range(buffers)]
        self._next = 0

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


def plan_steps(model: Any, queue_size: int, workers: int = 1) -> StepPlan:
    """Return the named steps for ``model``, its name for the envelopes and any replicas.

    Args:
        model: A ``Model`` (one image input, has ``card``, ``inputs`` and ``run``), an object
            with ``predict(image)``, or a callable ``infer(image) -> result``.
        queue_size: Capacity of the queues between stages (sizes the tensor ring).
        workers: Threads for the model. With more than one, a ``Model`` is a single
            ``infer`` step whose workers each preprocess, infer and decode on their own
            replica; any other callable is called from every worker at once and must be
            thread-safe (objects with ``replica()`` get one replica per worker).

    Raises:
        TypeError: ``model`` is none of these.
        ValueError: ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    name = str(getattr(model, "name", getattr(model, "__name__", type(model).__name__)))
    card = getattr(model, "card", None)
    inputs = getattr(model, "inputs", None)
    image_model = card is not None and inputs is not None and len(inputs) == 1 and len(inputs[0].shape) in (3, 4)
    predict = getattr(model, "predict", None)
    infer = predict if callable(predict) else model
    if not image_model and not callable(infer):
        raise TypeError(f"model must be a Model, have predict(image) or be callable, got {type(model).__name__}")
    if image_model and workers == 1:
        return StepPlan(ModelSteps(model, queue_size + 3).steps(), name)
    replicas = _replicas(model, workers)
    if image_model:
        return StepPlan([("infer", [ModelSteps(m, 1).whole for m in (model, *replicas)])], name, replicas)

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
