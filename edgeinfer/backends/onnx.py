"""ONNX Runtime backend: one InferenceSession on one execution provider.

ONNX Runtime silently falls back to the CPU when a provider fails to initialise; this
backend checks which provider really took the graph and raises ``AcceleratorError``
instead, so the plan's fallback is loud.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from devices.types import AcceleratorInfo, BackendProbe, PlanStep
from edgeinfer.backends.quant import Quantization
from edgeinfer.errors import AcceleratorError, InputError, ModelError
from edgeinfer.formats.onnx_file import OnnxFile
from edgeinfer.types import TensorSpec

__all__ = ["ORT_PROVIDERS", "OnnxBackend", "probe_onnx"]

# Accelerator -> execution provider, fastest first (the default plan order).
ORT_PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider", "coreml": "CoreMLExecutionProvider",
    "nnapi": "NnapiExecutionProvider", "cpu": "CPUExecutionProvider",
}

_ORT_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def _spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    dtype = _ORT_DTYPES.get(arg.type)
    if dtype is None:
        raise ModelError(f"Tensor {arg.name!r} has type {arg.type}, which edgeinfer does not support")
    return TensorSpec(arg.name, shape, np.dtype(dtype), None)


def trt_cache_dir() -> str:
    """Where TensorRT engines are cached: ``$EDGEINFER_TRT_CACHE`` or ``~/.cache/edgeinfer/tensorrt``."""
    path = os.environ.get("EDGEINFER_TRT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "edgeinfer", "tensorrt")
    os.makedirs(path, exist_ok=True)
    return path


def _with_options(provider: str) -> Any:
    """TensorRT builds an engine per model for minutes on a Jetson: cache it across restarts."""
    if provider != "TensorrtExecutionProvider":
        return provider
    cache = trt_cache_dir()
    return (provider, {"trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
                       "trt_timing_cache_enable": True, "trt_timing_cache_path": cache})


def probe_onnx(available: list[str] | None) -> list[AcceleratorInfo]:
    """Accelerators usable by ONNX Runtime, from ``get_available_providers()`` (None: not installed)."""
    out = []
    for name, provider in ORT_PROVIDERS.items():
        if available is None:
            evidence, present = "onnxruntime is not installed (pip install 'edgeinfer[onnx]')", False
        elif provider in available:
            evidence, present = f"{provider} listed by onnxruntime", True
        else:
            evidence, present = f"{provider} is not in this onnxruntime build", False
        out.append(AcceleratorInfo(name, OnnxBackend.FORMAT, present, evidence, provider=provider))
    return out


def _run_error(label: str, exc: Exception) -> ModelError | None:
    """The edgeinfer error for an exception out of ``InferenceSession.run``; ``None`` for a foreign one."""
    detail = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MemoryError):
        return ModelError(f"{label}: out of memory while running the model ({detail}). Give it smaller "
                          "inputs, or run it where more memory is free.")
    if not type(exc).__module__.startswith("onnxruntime"):
        return None
    if type(exc).__name__ == "InvalidArgument":
        return InputError(f"{label}: ONNX Runtime refused the input: {detail}")
    return ModelError(f"{label}: the model failed while running: {detail}. The graph is inconsistent (e.g. a "
                      "layer whose channels do not match its input): export the model again.")


class OnnxBackend:
    """An ONNX Runtime session for one model on one execution provider."""

    FORMAT = "onnx"
    ACCELERATORS = tuple(ORT_PROVIDERS)

    def __init__(self, session: Any, *, label: str = "<bytes>") -> None:
        self._session = session
        self.label = label
        self.inputs = [_spec(a) for a in session.get_inputs()]
        self.outputs = [_spec(a) for a in session.get_outputs()]
        self._in_names = [s.name for s in self.inputs]
        self._out_names = [s.name for s in self.outputs]
        self._quant = Quantization(self.inputs, self.outputs)

    @classmethod
    def probe(cls, root: Path) -> BackendProbe:
        """The execution providers this onnxruntime build lists (``root`` plays no part)."""
        try:
            import onnxruntime as ort
        except ImportError:
            return BackendProbe(tuple(probe_onnx(None)), extra={"onnx_providers": []})
        providers = list(ort.get_available_providers())
        return BackendProbe(tuple(probe_onnx(providers)), fields={"onnxruntime_version": str(ort.__version__)},
                            extra={"onnx_providers": providers})

    @classmethod
    def open(cls, model_file: OnnxFile, step: PlanStep, threads: int | None) -> OnnxBackend:
        """Create the session on ``step``'s provider.

        Raises:
            AcceleratorError: the provider is not available or did not take the graph.
            ModelError: ONNX Runtime rejects the model.
        """
        import onnxruntime as ort

        provider = step.provider or "CPUExecutionProvider"
        if provider not in ort.get_available_providers():
            raise AcceleratorError(f"{provider} is not in this onnxruntime build (it lists "
                                   f"{', '.join(ort.get_available_providers())})")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Idle intra-op threads would otherwise spin after every run, taking the cores that a
        # live pipeline's capture and preprocessing threads (and other models) need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            options.intra_op_num_threads = threads
        providers: list[Any] = [_with_options(provider), "CPUExecutionProvider"]
        if provider == "CPUExecutionProvider":
            providers = [provider]
        # A file on disk is opened by path so external weight files next to it resolve.
        source: Any = str(model_file.path) if model_file.path is not None else model_file.data
        try:
            session = ort.InferenceSession(source, sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own pybind11 exception types
            raise ModelError(
                f"{model_file.label}: ONNX Runtime {ort.__version__} cannot load this model: "
                f"{str(exc).strip()[:400]}. Export it again with a supported opset, or upgrade "
                "onnxruntime."
            ) from exc
        if session.get_providers()[0] != provider:
            raise AcceleratorError(
                f"{provider} did not initialise (ONNX Runtime fell back to "
                f"{session.get_providers()[0]}); check its libraries (CUDA, TensorRT, OpenVINO)."
            )
        try:
            return cls(session, label=model_file.label)
        except UnicodeDecodeError as exc:  # a tensor name or symbolic dimension that is not UTF-8
            raise ModelError(f"{model_file.label}: the model's inputs or outputs carry names that are not "
                             f"UTF-8 text ({exc}); the file is corrupt. Export or copy it again.") from exc

    def run(self, feeds: list[np.ndarray], *, raw: bool = False) -> list[np.ndarray]:
        """Run one inference (see :meth:`Backend.run`).

        Raises:
            InputError: ONNX Runtime refuses an input (``InvalidArgument``: its shape or type).
            ModelError: the graph fails while it runs (``Fail``, ``RuntimeException`` ..., memory).
        """
        if self._quant.inputs:
            feeds = self._quant.feeds(feeds)
        try:
            results: list[np.ndarray] = self._session.run(self._out_names,
                                                          dict(zip(self._in_names, feeds, strict=True)))
        except Exception as exc:  # onnxruntime raises its own pybind11 exception types
            error = _run_error(self.label, exc)
            if error is None:
                raise
            raise error from exc
        return results if raw or not self._quant.outputs else self._quant.results(results)

    def close(self) -> None:
        self._session = None

