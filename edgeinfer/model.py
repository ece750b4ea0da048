"""``edgeinfer.load()`` and :class:`Model`: one model on the best accelerator present.

Loading validates the file in Python, asks :mod:`devices` for a plan with the backend's declared accelerators,
tries each step in order (a delegate that fails falls back to the next one, with a warning kept in
``Model.plan``), and finds the model card. ``Model.run`` checks and converts inputs (the backend quantizes them
and dequantizes its outputs); ``Model.predict`` adds preprocessing and decoding (:class:`edgeinfer.stages.ModelSteps`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.backends.quant import dequantize, quantize
from edgeinfer.errors import AcceleratorError, InputError, ModelError
from edgeinfer.types import TensorSpec

if TYPE_CHECKING:
    from devices.types import PlanStep
    from edgeinfer.backends.base import Backend
    from edgeinfer.card import ModelCard
    from edgeinfer.formats import ModelFile

__all__ = ["Model", "dequantize", "load", "prepare_input", "quantize"]

log = logging.getLogger("edgeinfer")

ModelSource = str | Path | bytes | bytearray | memoryview


def load(model: ModelSource, *, accelerator: str = "auto", threads: int | None = None,
         card: Any = None) -> Model:
    """Open a ``.tflite`` or ``.onnx`` model on the best accelerator that is present.

    Args:
        model: Path to the model file, or its bytes.
        accelerator: ``"auto"`` or a name from ``edgeinfer devices`` (``xnnpack``, ``gpu``,
            ``edgetpu``, ``cpu``; ``cuda``, ``tensorrt``, ``openvino`` ... for ONNX).
        threads: CPU threads for the interpreter; default from the board profile.
        card: A :class:`~edgeinfer.card.ModelCard`, a mapping, or a card YAML's path, over the embedded card.

    Returns:
        The loaded :class:`Model`; close it (or use ``with``) to free the interpreter.

    Raises:
        ModelError: the file is missing, corrupt or cannot run.
        AcceleratorError: the requested accelerator is absent, or every plan step failed.
        ConfigError: the card is invalid, or the model's outputs don't fit its task.
    """
    from edgeinfer.backends import plan, probe_cached
    from edgeinfer.card import find
    from edgeinfer.formats import open_model_file
    from edgeinfer.postprocess import check

    model_file = open_model_file(model)
    inventory = probe_cached((model_file.kind,))
    steps = plan(inventory, model_file.kind, accelerator, edgetpu_model=model_file.edgetpu_compiled)
    threads = threads or inventory.default_threads
    backend, steps = _open_backend(model_file, steps, threads)
    try:
        effective_card = find(model_file, card)
        check(effective_card, list(backend.outputs))
    except Exception:
        backend.close()
        raise
    _warn_about_this_cpu(model_file.label, effective_card)
    return Model(model_file, backend, steps, effective_card, threads=threads)


def _warn_about_this_cpu(label: str, card: ModelCard) -> None:
    """Say so when the artifact's int8 scheme is known to lose accuracy on this CPU (devices.cpu)."""
    quantization = card.conversion.quantization if card.conversion is not None else {}
    if quantization.get("reduce_range") is not False:
        return  # 7-bit weights, or not an ONNX int8 artifact of ours
    from devices.cpu import read_cpu_int8, saturates_u8s8

    if saturates_u8s8(reduce_range=False, cpu_target=read_cpu_int8().target):
        log.warning("%s was quantized for %s CPUs (8-bit weights); this CPU has AVX2 but no VNNI, where ONNX "
                    "Runtime's int8 kernels saturate and accuracy drops. Convert it again with --target x86-avx2.",
                    label, quantization.get("cpu_target", "VNNI"))


def _open_backend(model_file: ModelFile, steps: list[PlanStep],
                  threads: int | None) -> tuple[Backend, list[PlanStep]]:
    from edgeinfer.backends import backend_class

    backend_cls = backend_class(model_file.kind)
    backend: Backend | None = None
    done: list[PlanStep] = []
    failures: list[str] = []
    for step in steps:
        if step.status != "try":
            done.append(step)
        elif backend is not None:
            done.append(step.with_status("not needed"))
        else:
            try:
                backend = backend_cls.open(model_file, step, threads)
                done.append(step.with_status("used"))
            except AcceleratorError as exc:
                log.warning("%s: %s failed, falling back: %s", model_file.label, step.accelerator, exc)
                failures.append(f"{step.accelerator}: {exc}")
                done.append(step.with_status("failed", str(exc)))
    if backend is None:
        reasons = failures or [f"{s.accelerator}: {s.reason}" for s in steps]
        raise AcceleratorError(
            f"{model_file.label}: no accelerator could run this model.\n  " + "\n  ".join(reasons)
        )
    return backend, done


class Model:
    """A loaded model. Thread-safe: calls are serialised per interpreter (see :meth:`replica`).

    Attributes:
        path: The file it was loaded from (``None`` for bytes).
        kind: ``"tflite"`` or ``"onnx"``.
        inputs: Input specs, in order.
        outputs: Output specs, in order.
        card: The effective model card (``card.origin`` says where it came from).
        plan: Every accelerator considered, with status used/failed/skip/"not needed" and why.
        accelerator: The accelerator in use.
        threads: CPU threads given to the interpreter (``None``: the runtime's default).
    """

    def __init__(self, model_file: ModelFile, backend: Backend, plan: list[PlanStep], card: ModelCard, *,
                 threads: int | None = None) -> None:
        self._file = model_file
        self.threads = threads
        self.path: Path | None = model_file.path
        self.kind = model_file.kind
        self.size_bytes = len(model_file.data)
        self._backend: Backend | None = backend
        self.inputs: list[TensorSpec] = list(backend.inputs)
        self.outputs: list[TensorSpec] = list(backend.outputs)
        self.plan = plan
        self._used = next(s for s in plan if s.status == "used")
        self.accelerator = self._used.accelerator
        self.card = card
        self._lock = threading.Lock()
        self._in_names = [s.name for s in self.inputs]
        self._out_names = [s.name for s in self.outputs]
        # The usual call (one array of the input's own dtype, in a shape already accepted) skips
        # the general checks and conversions: right after a large inference the interpreter's
        # Python runs on cold caches, where that code took about 20-40 us per call.
        self._ready_dtype = self.inputs[0].dtype if len(self.inputs) == 1 else None
        self._ready_shape: tuple[int, ...] | None = None  # set by the first call the checks pass as is
        self._steps: Any = None
        self._tracker: Any = None  # what track() follows; made on its first call
        self.name = model_file.path.name if model_file.path is not None else "<bytes>"

    # -- running tensors -------------------------------------------------------------------

    def run(self, x: np.ndarray | Mapping[str, np.ndarray], *, raw: bool = False) -> dict[str, np.ndarray]:
        """Run one inference on ready tensors.

        Args:
            x: One array for single-input models, or a dict input name -> array. Arrays of the input's own
                dtype pass through; float arrays fed to a quantized input are quantized (by the backend) with
                its scale and zero point; other floats and ints are cast when the cast is safe.
            raw: Keep outputs in their native dtype instead of dequantizing to float32.

        Returns:
            Output name -> array, in ``outputs`` order.

        Raises:
            InputError: wrong input names, shape or dtype (expected versus given).
            ModelError: the model was closed.
        """
        if type(x) is np.ndarray and x.shape == self._ready_shape and x.dtype == self._ready_dtype \
                and x.flags.c_contiguous:
            feeds = [x]
        else:
            feeds = self._feeds(x)
            if self._ready_dtype is not None and feeds[0] is x:
                self._ready_shape = x.shape  # checked and passed as is: the next call of this shape is ready
        with self._lock:
            backend = self._require_open()
            results = backend.run(feeds, raw=raw)
        return dict(zip(self._out_names, results, strict=True))

    def _feeds(self, x: np.ndarray | Mapping[str, np.ndarray]) -> list[np.ndarray]:
        if isinstance(x, Mapping):
            unknown = set(x) - set(self._in_names)
            missing = [n for n in self._in_names if n not in x]
            if unknown or missing:
                raise InputError(
                    f"{self.name}: expected inputs {self._in_names}, got {sorted(x)}"
                    + (f" (unknown: {sorted(unknown)})" if unknown else "")
                    + (f" (missing: {missing})" if missing else "")
                )
            arrays = [x[n] for n in self._in_names]
        else:
            if len(self.inputs) != 1:
                raise InputError(
                    f"{self.name} has {len(self.inputs)} inputs {self._in_names}: pass a dict name -> array"
                )
            arrays = [x]
        return [prepare_input(a, spec, self.name) for a, spec in zip(arrays, self.inputs, strict=True)]

    def _require_open(self) -> Backend:
        if self._backend is None:
            raise ModelError(f"{self.name} was closed; call edgeinfer.load() again")
        return self._backend

    def replica(self, *, warm: bool = True) -> Model:
        """Open a second interpreter on the same model, accelerator, threads and card.

        A ``Model`` runs one inference at a time; replicas (the pipeline's ``workers``) run side by side,
        each with its own interpreter memory; close it when done.

        Args:
            warm: Run one inference on zeros first (:meth:`warm`), so the first real frame does not pay
                for the runtime's allocations (2.5x the steady latency for a fresh ONNX Runtime session here).

        Raises:
            ModelError: this model was closed.
            AcceleratorError: the accelerator cannot open another interpreter (an Edge TPU
                already in use by another process, for example).
        """
        from edgeinfer.backends import backend_class

        self._require_open()
        backend_cls = backend_class(self.kind)
        twin = Model(self._file, backend_cls.open(self._file, self._used, self.threads), self.plan, self.card,
                     threads=self.threads)
        if warm:
            twin.warm()
        return twin

    def warm(self) -> bool:
        """Run one inference on zeros (batch 1), so the first real frame does not pay for allocations.

        It shows that the model runs: a file that loads but fails in its first inference raises here.
        Skipped when a dimension other than the batch is dynamic.

        Returns:
            True when the inference ran, False when it was skipped.

        Raises:
            ModelError: the model fails while running.
        """
        shapes = [tuple(1 if i == 0 and d < 0 else d for i, d in enumerate(spec.shape)) for spec in self.inputs]
        if not all(min(shape, default=1) > 0 for shape in shapes):
            return False
        self.run({spec.name: np.zeros(shape, spec.dtype) for spec, shape in zip(self.inputs, shapes, strict=True)},
                 raw=True)
        return True

    # -- inputs to results (edgeinfer.stages.ModelSteps) -----------------------------------

    def _model_steps(self) -> Any:
        if self._steps is None:
            from edgeinfer.stages import ModelSteps

            self._steps = ModelSteps(self)
        return self._steps

    def predict(self, frame: np.ndarray | str | Path | bytes) -> Any:
        """Preprocess a frame, run the model and decode the result.

        Args:
            frame: A BGR ``uint8`` ``(H, W, 3)`` array, an image path, JPEG/PNG bytes; a text (``tokenizer:`` card).

        Returns:
            The task's result (``Classification``, ``Detections``, ``Segmentation``, ``Regression`` or
            ``RawResult``); ``result.to_dict()`` gives its JSON.

        Raises:
            InputError: the frame cannot be decoded or has the wrong shape/dtype.
        """
        return self._model_steps().predict(frame)

    def predict_batch(self, frames: Iterable[np.ndarray | str | Path | bytes]) -> list[Any]:
        """Predict several frames; batched when the model's batch dimension allows. Results in order."""
        return self._model_steps().predict_batch(list(frames))

    def track(self, frame: np.ndarray | str | Path | bytes, *, tracker: Any = None,
              timestamp: float | None = None) -> Any:
        """``predict`` one frame of a sequence and give each detection a stable ``track_id``.

        The tracker lives on the model (``reset_tracker()`` between videos); for a source: ``stream(track=True)``.

        Args:
            frame: As for :meth:`predict`.
            tracker: Replace the tracker: ``"bytetrack"`` (the default), ``"iou"``, a
                :class:`~edgeinfer.tracking.TrackerConfig` or a tracker object.
            timestamp: The frame's time, seconds; now when ``None``.

        Returns:
            ``Detections`` of the tracked objects, with ``track_ids``.

        Raises:
            InputError: the model's task is not detection, or the frame is bad.
        """
        import time

        from edgeinfer.results import Detections
        from edgeinfer.tracking import make_tracker

        if tracker is not None or self._tracker is None:
            self._tracker = make_tracker(tracker if tracker is not None else True)
        result = self.predict(frame)
        if not isinstance(result, Detections):
            raise InputError(f"{self.name}: track() follows detections, but this model's task is "
                             f"{self.card.task!r}; use predict()")
        return self._tracker.update(result, time.time() if timestamp is None else timestamp)

    def reset_tracker(self) -> None:
        """Forget the tracks :meth:`track` follows (ids start again at 1)."""
        self._tracker = None

    async def predict_async(self, frame: np.ndarray | str | Path | bytes) -> Any:
        """``predict`` on a worker thread, without blocking the event loop."""
        import asyncio

        return await asyncio.to_thread(self.predict, frame)

    def stream(self, source: Any, **options: Any) -> Iterator[Any]:
        """Yield ``(frame, result)`` pairs from a camera, stream, file or folder, newest frame first.

        See :func:`edgeinfer.streaming.stream` for the options.
        """
        from edgeinfer.streaming import stream

        yield from stream(self, source, **options)

    def streamer(self) -> Any:
        """A new :class:`~edgeinfer.streamer.Streamer`, with its own state, as the card's ``stream:`` says."""
        from edgeinfer.streamer import Streamer

        return Streamer(self)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Release the interpreter. Further calls raise ``ModelError``."""
        with self._lock:
            if self._backend is not None:
                self._backend.close()
                self._backend = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: file, accelerator, plan, I/O specs, card."""
        return {
            "model": str(self.path) if self.path else self.name,
            "kind": self.kind,
            "size_bytes": self.size_bytes,
            "accelerator": self.accelerator,
            "plan": [s.to_dict() for s in self.plan],
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
            "card": self.card.to_dict(),
            "card_origin": self.card.origin,
        }

    def __repr__(self) -> str:
        return f"<Model {self.name} {self.kind} on {self.accelerator}, task={self.card.task}>"


def _shape_error(spec: TensorSpec, array: np.ndarray, model: str) -> InputError:
    return InputError(f"{model}: input {spec.name!r} expects shape {list(spec.shape)} (-1 = any) and dtype "
                      f"{spec.dtype}, got shape {list(array.shape)} dtype {array.dtype}")


def prepare_input(array: Any, spec: TensorSpec, model: str = "model") -> np.ndarray:
    """Check one input against its spec and convert it for the backend.

    Arrays of the spec's dtype pass (made contiguous); float arrays for a quantized input
    pass as they are (the backend quantizes them, :mod:`edgeinfer.backends.quant`); other
    values are cast to the spec's dtype when the cast is safe.

    Raises:
        InputError: wrong rank, a fixed dimension differs, or the dtype cannot be converted.
    """
    array = np.asarray(array)
    shape = array.shape
    if len(shape) != len(spec.shape) or any(d >= 0 and d != g for d, g in zip(spec.shape, shape, strict=True)):
        raise _shape_error(spec, array, model)
    if array.dtype == spec.dtype:
        return array if array.flags.c_contiguous else np.ascontiguousarray(array)
    if spec.quant is not None and array.dtype.kind == "f":
        return array
    if spec.dtype.kind == "f" and array.dtype.kind in "fiub":
        return array.astype(spec.dtype)
    if spec.quant is None and spec.dtype.kind in "iu" and np.can_cast(array.dtype, spec.dtype, "same_kind") \
            and array.dtype.kind == spec.dtype.kind:
        return array.astype(spec.dtype)
    raise _shape_error(spec, array, model)
