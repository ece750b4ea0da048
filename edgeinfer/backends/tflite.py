"""TFLite backend: LiteRT (or tflite_runtime / TF Lite) interpreter with delegates.

Accelerators, fastest first: ``edgetpu``, ``gpu`` and ``nnapi`` load a delegate library
(found by the hardware probes of :mod:`devices.probe`); ``xnnpack`` is the interpreter's
default CPU path; ``cpu`` runs the plain built-in kernels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from devices.probe import dist_version, probe_edgetpu, probe_gpu_delegate, probe_nnapi
from devices.types import AcceleratorInfo, BackendProbe, PlanStep
from edgeinfer.backends.quant import Quantization
from edgeinfer.backends.tflite_runtime import (
    LEGACY_HINT,
    TFLiteRuntime,
    available_tflite_runtime,
    distribution,
    find_tflite_runtime,
)
from edgeinfer.errors import AcceleratorError, InputError, ModelError
from edgeinfer.formats.tflite_file import EDGETPU_CUSTOM_OP, TFLiteFile
from edgeinfer.types import TensorSpec

__all__ = ["TFLiteBackend"]

_DELEGATE_ACCELERATORS = ("edgetpu", "gpu", "nnapi")


def _spec(detail: dict[str, Any]) -> TensorSpec:
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = detail["shape"]
    scale, zero_point = detail.get("quantization", (0.0, 0))
    dtype = np.dtype(detail["dtype"])
    # LiteRT ignores quantization parameters on float tensors; so does edgeinfer.
    quant = (float(scale), int(zero_point)) if scale and dtype.kind in "iu" else None
    return TensorSpec(detail["name"], tuple(int(d) for d in shape), dtype, quant)


def check_custom_ops(model_file: TFLiteFile, step: PlanStep) -> None:
    """Refuse models whose custom ops cannot run with ``step``, naming the fix."""
    ops = model_file.custom_ops()
    if EDGETPU_CUSTOM_OP in ops and step.accelerator != "edgetpu":
        raise AcceleratorError(
            f"{model_file.label}: this model was compiled for the Coral Edge TPU, and no "
            "Edge TPU is in use. Plug in the Coral device and install libedgetpu1-std, or "
            "load the model's uncompiled int8 .tflite (before edgetpu_compiler) instead."
        )
    flex = sorted({op for op in ops if op.startswith("Flex")})
    if flex:
        raise ModelError(
            f"{model_file.label}: the model uses TensorFlow (Flex) ops {', '.join(flex)}, which "
            "LiteRT cannot run on a device. Convert it again with builtin ops only."
        )


class TFLiteBackend:
    """A TFLite interpreter for one model, with the delegate of one plan step."""

    FORMAT = "tflite"
    # Fastest first. An Edge TPU runs only models compiled for it; the rest run anything.
    ACCELERATORS = ("edgetpu", "gpu", "nnapi", "xnnpack", "cpu")

    def __init__(self, interpreter: Any, runtime: TFLiteRuntime, *, label: str = "<bytes>") -> None:
        self._interpreter = interpreter
        self.runtime = runtime
        self.label = label
        details_in = interpreter.get_input_details()
        details_out = interpreter.get_output_details()
        self.inputs = [_spec(d) for d in details_in]
        self.outputs = [_spec(d) for d in details_out]
        self._in_index = [d["index"] for d in details_in]
        self._out_index = [d["index"] for d in details_out]
        self._in_shape = [tuple(d["shape"]) for d in details_in]
        self._quant = Quantization(self.inputs, self.outputs)

    @classmethod
    def probe(cls, root: Path) -> BackendProbe:
        """Delegates from the hardware probes; XNNPACK and the CPU when an interpreter is installed."""
        runtime = available_tflite_runtime()
        if runtime:
            cpu = [AcceleratorInfo("xnnpack", cls.FORMAT, True, f"XNNPACK built into {runtime}"),
                   AcceleratorInfo("cpu", cls.FORMAT, True, f"built-in kernels of {runtime}")]
        else:
            missing = "no TFLite interpreter installed (pip install 'edgeinfer[tflite]')"
            cpu = [AcceleratorInfo(name, cls.FORMAT, False, missing) for name in ("xnnpack", "cpu")]
        delegates = [probe(root, cls.FORMAT) for probe in (probe_edgetpu, probe_gpu_delegate, probe_nnapi)]
        version = dist_version(distribution(runtime)) if runtime else None
        return BackendProbe(tuple(delegates + cpu),
                            fields={"tflite_runtime": runtime, "tflite_runtime_version": version})

    @classmethod
    def open(cls, model_file: TFLiteFile, step: PlanStep, threads: int | None) -> TFLiteBackend:
        """Create and allocate the interpreter for ``step``.

        Raises:
            AcceleratorError: the step's delegate cannot be loaded.
            ModelError: the interpreter rejects the model.
        """
        runtime = find_tflite_runtime()
        check_custom_ops(model_file, step)
        delegates = []
        if step.accelerator in _DELEGATE_ACCELERATORS:
            delegates.append(_load_delegate(runtime, step))
        resolver = runtime.module.OpResolverType
        kwargs: dict[str, Any] = {
            "model_content": model_file.data,
            "experimental_delegates": delegates or None,
            "num_threads": threads,
            "experimental_op_resolver_type": (
                resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES if step.accelerator == "cpu" else resolver.AUTO
            ),
        }
        try:
            interpreter = runtime.module.Interpreter(**kwargs)
            interpreter.allocate_tensors()
            # Reading the tensor details parses each tensor's quantization, which can fail too.
            return cls(interpreter, runtime, label=model_file.label)
        except (RuntimeError, ValueError, MemoryError) as exc:
            raise _model_error(model_file, runtime, exc) from exc

    def run(self, feeds: list[np.ndarray], *, raw: bool = False) -> list[np.ndarray]:
        """Run one inference (see :meth:`Backend.run`).

        Raises:
            InputError: the interpreter refuses an input (its shape or type).
            ModelError: the model fails while it runs (a kernel's check, memory).
        """
        if self._quant.inputs:
            feeds = self._quant.feeds(feeds)
        interpreter = self._interpreter
        try:
            for i, (index, array) in enumerate(zip(self._in_index, feeds, strict=True)):
                if array.shape != self._in_shape[i]:
                    self._resize(i, array.shape)
                interpreter.set_tensor(index, array)
        except (ValueError, RuntimeError) as exc:  # a shape the model cannot take (resize or allocation)
            raise InputError(f"{self.label}: the interpreter refused the input: {_first_line(exc)}") from exc
        try:
            interpreter.invoke()
            results = [interpreter.get_tensor(index) for index in self._out_index]
        except (RuntimeError, ValueError, MemoryError) as exc:
            raise ModelError(f"{self.label}: the model failed while running: {_first_line(exc)}. The file is "
                             "inconsistent (an operator's check failed): convert or export it again.") from exc
        return results if raw or not self._quant.outputs else self._quant.results(results)

    def _resize(self, i: int, shape: tuple[int, ...]) -> None:
        self._interpreter.resize_tensor_input(self._in_index[i], list(shape), strict=True)
        self._interpreter.allocate_tensors()
        self._in_shape[i] = tuple(shape)

    def close(self) -> None:
        self._interpreter = None


def _delegate_library_problem(library: str) -> str | None:
    """Why ``library`` is not a loadable TFLite external delegate, or ``None``.

    Checked with ctypes before ``load_delegate``: when LiteRT's ``Delegate`` fails inside
    its constructor, its ``__del__`` raises again ("Exception ignored in Delegate.__del__"),
    and a library without the plugin entry point raises ``AttributeError``.
    """
    import ctypes

    try:
        handle = ctypes.CDLL(library)
    except OSError as exc:
        return str(exc)
    if not hasattr(handle, "tflite_plugin_create_delegate"):
        return "it is not a TFLite external delegate (no tflite_plugin_create_delegate symbol)"
    return None


def _load_delegate(runtime: TFLiteRuntime, step: PlanStep) -> Any:
    if not step.library:
        raise AcceleratorError(f"No delegate library is known for {step.accelerator!r}")
    problem = _delegate_library_problem(step.library)
    if problem:
        raise AcceleratorError(f"The {step.accelerator} delegate {step.library!r} failed to load: {problem}")
    try:
        return runtime.module.load_delegate(step.library)
    except (ValueError, OSError, RuntimeError) as exc:
        raise AcceleratorError(
            f"The {step.accelerator} delegate {step.library!r} failed to load: {exc}"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _model_error(model_file: TFLiteFile, runtime: TFLiteRuntime, exc: Exception) -> ModelError:
    detail = _first_line(exc)
    if "custom op" in str(exc).lower() or "unresolved" in str(exc).lower():
        ops = ", ".join(model_file.custom_ops()) or "unknown"
        return ModelError(
            f"{model_file.label}: the model uses custom ops ({ops}) that this interpreter "
            f"does not provide ({detail}). Convert it again with builtin ops only, or run it "
            "where a delegate that implements them is installed."
        )
    hint = f" {LEGACY_HINT}" if runtime.is_legacy else " Export or convert the model again."
    return ModelError(
        f"{model_file.label}: {runtime.package} {runtime.version} cannot load this model: {detail}.{hint}"
    )
