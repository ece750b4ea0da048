"""``converters.convert``: load -> (prune) -> export -> quantize -> check -> embed card -> write.

Everything is written inside a temporary folder next to ``out`` and moved into place
only when the conversion and its fidelity check succeeded, so a failed or interrupted
conversion never leaves a partial artifact behind.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import ExportOptions
from converters.calibration import load_calibration, random_inputs
from converters.fidelity import artifact_latency_ms, check_gates, compare_outputs, measure
from converters.layout import input_permutation
from converters.paths import ConversionPath, get_path
from converters.report import ConversionReport, FidelityError, Thresholds, default_thresholds
from converters.sources import detect_source_kind, load_source
from edgeinfer.card import ConversionInfo, ModelCard, PreprocessSpec, parse
from edgeinfer.errors import ConfigError, ConversionError

__all__ = ["CHECK_SAMPLES", "convert"]

TARGETS = ("tflite", "onnx")
MODES = ("none", "fp16", "dynamic", "int8")
IO_TYPES = ("float32", "int8", "uint8")
CHECK_SAMPLES = 100
RANDOM_CHECK_SAMPLES = 32


@dataclass(frozen=True)
class _Job:
    """Validated settings of one conversion."""

    target: str
    quantize: str
    io_type: str
    calib_size: int
    calibration_method: str
    cpu_target: str
    prune: float | None
    edgetpu: bool
    check: bool
    thresholds: Thresholds
    verbose: bool


def _choice(key: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not one of {', '.join(choices)}")
    return str(value)


def _thresholds(quantize: str, given: Thresholds | Mapping[str, float] | None) -> Thresholds:
    if isinstance(given, Thresholds):
        return given
    base = default_thresholds(quantize)
    if given is None:
        return base
    unknown = set(given) - {"cosine", "top1"}
    if unknown:
        raise ConfigError(f"thresholds: unknown keys {sorted(unknown)}; use cosine and top1")
    return replace(base, **{k: float(v) for k, v in given.items()})


def _resolve_card(card: ModelCard | Mapping[str, Any] | str | Path | None) -> ModelCard | None:
    if card is None or isinstance(card, ModelCard):
        return card
    if isinstance(card, str | Path):
        from edgeinfer.card import read

        return read(card)
    return parse(card, origin="argument")


def _source_card(source: Any, kind: str) -> ModelCard | None:
    """The card an ONNX source already carries (embedded or sidecar), without its conversion record."""
    if kind != "onnx" or not isinstance(source, str | Path):
        return None
    from edgeinfer.card import read

    try:
        found = read(source)
    except Exception:  # the loader reports a bad file with a better message
        return None
    if found.origin in (None, "default"):
        return None
    return found.model_copy(update={"conversion": None})


def _default_out(source: Any, target: str, quantize: str) -> Path:
    if not isinstance(source, str | Path):
        raise ConfigError("out= is required when converting an in-memory model")
    path = Path(source)
    out = path.with_suffix(f".{target}")
    return out.with_name(f"{path.stem}.{quantize}.{target}") if out == path else out


def _artifact_input_shape(path: Path) -> tuple[int, ...]:
    import edgeinfer

    with edgeinfer.load(path) as model:
        if len(model.inputs) != 1:
            raise ConversionError(f"The exported model has {len(model.inputs)} inputs; expected one")
        return model.inputs[0].shape


def _artifact_layout(source_layout: str | None, perm: tuple[int, ...] | None) -> str | None:
    if source_layout is None or perm is None:
        return source_layout
    return "nhwc" if perm == (0, 2, 3, 1) else "nchw"


def _versions(source: Any, target: str) -> dict[str, str]:
    from converters.torch_source import package_versions

    tools = ("onnxruntime", "onnxslim") if target == "onnx" else ("ai-edge-quantizer", "ai-edge-litert")
    return {**getattr(source, "framework_versions", {}), **package_versions("edgeinfer", *tools)}


def _export_and_quantize(source: Any, path: ConversionPath, job: _Job, calib: list[np.ndarray],
                         tmp: Path) -> tuple[Path, Path, tuple[int, ...] | None]:
    float_path = tmp / f"float.{job.target}"
    options = ExportOptions(
        quantize=job.quantize if path.handles_quantization else "none",  # type: ignore[arg-type]
        calibration=calib, io_type=job.io_type,  # type: ignore[arg-type]
        dynamic_batch=job.target == "onnx", workdir=tmp,
    )
    path.load()(source, float_path, options)
    if not float_path.is_file():
        raise ConversionError(f"The {path.name} export wrote no file")
    perm = input_permutation(source.input_shape, _artifact_input_shape(float_path), source.layout)
    if path.handles_quantization:
        return float_path, float_path, perm
    artifact = tmp / f"model.{job.target}"
    if job.target == "onnx":
        from converters.onnx_quantize import quantize_onnx
        from converters.torch_onnx import simplify_onnx

        simplify_onnx(float_path)
        quantize_onnx(float_path, artifact, job.quantize, calib, method=job.calibration_method,
                      cpu_target=job.cpu_target)
    else:
        from converters.tflite_quantize import quantize_tflite

        samples = [np.ascontiguousarray(c.transpose(perm)) for c in calib] if perm else calib
        quantize_tflite(float_path, artifact, job.quantize, samples, job.io_type)
    return float_path, artifact, perm


def _check_inputs(calib: list[np.ndarray], source: Any, card: ModelCard | None) -> tuple[list[np.ndarray], str]:
    if calib:
        return calib[:CHECK_SAMPLES], "calibration"
    preprocess = card.preprocess if card is not None else None
    return random_inputs(source.input_shape, RANDOM_CHECK_SAMPLES, source.layout, preprocess), "random"


def _build_report(out: Path, source: Any, path: ConversionPath, job: _Job, *, calib: list[np.ndarray],
                  run: dict[str, Any]) -> ConversionReport:
    fid = run["fidelity"]
    classification = run["card"] is not None and run["card"].task == "classification"
    failures = check_gates(fid.outputs, job.thresholds, classification) if job.check else []
    return ConversionReport(
        artifact=str(out), source_kind=source.kind, target=job.target,
        converter=f"{path.name} ({path.converter})",
        quantization=_quantization_info(job, len(calib), run.get("kernels")),
        outputs=fid.outputs, thresholds=job.thresholds if job.check else None, passed=not failures,
        failures=failures, samples={"count": run["samples"], "from": run["samples_from"]},
        sizes_bytes={"source": int(getattr(source, "size_bytes", 0)), "artifact": run["artifact_bytes"],
                     **({"float_artifact": run["float_bytes"]} if run["float_bytes"] is not None else {})},
        latency_ms={"source": fid.source_latency_ms, "artifact": fid.artifact_latency_ms,
                    **({"float_artifact": run["float_latency_ms"]} if "float_latency_ms" in run else {})},
        notes=_speed_notes(job, fid.artifact_latency_ms, run.get("float_latency_ms")),
        pruning=run.get("pruning"), versions=_versions(source, job.target),
        source_sha256=source.sha256,
    )


def _speed_notes(job: _Job, artifact_ms: float, float_ms: float | None) -> list[str]:
    if float_ms is None or float_ms <= 0:
        return []
    from devices.cpu import read_cpu_int8

    ratio = artifact_ms / float_ms
    here = f"on this CPU ({read_cpu_int8().target})"
    if ratio > 1.0:
        return [f"{job.quantize} runs at {ratio:.2f}x the float artifact's latency {here}: it is smaller but not "
                f"faster here; ship the float one (--quantize none) for speed, or measure on the device with "
                f"`edgeinfer bench INT8 --compare FLOAT`"]
    return [f"{job.quantize} runs at {ratio:.2f}x the float artifact's latency {here}: ship it"]


def _quantization_info(job: _Job, calibration_samples: int, kernels: str | None) -> dict[str, Any]:
    int8 = job.quantize == "int8"
    info = {"mode": job.quantize, "io_type": job.io_type if int8 else "float32",
            "calibration_method": job.calibration_method if int8 else None,
            "calibration_samples": calibration_samples}
    if int8 and job.target == "onnx":
        from converters.onnx_quantize import int8_scheme

        info.update(int8_scheme(job.cpu_target), fidelity_measured_on=kernels)
    return info


def _embed_card(artifact: Path, card: ModelCard | None, layout: str | None, report: ConversionReport) -> None:
    from edgeinfer.card import write

    if artifact.suffix == ".tflite":
        from converters.tflite_interface import inline_buffers

        artifact.write_bytes(inline_buffers(artifact.read_bytes()))
    base = card or ModelCard()
    preprocess: PreprocessSpec = base.preprocess
    if layout is not None:
        preprocess = preprocess.model_copy(update={"layout": layout})
    info = ConversionInfo(source_sha256=report.source_sha256, source_kind=report.source_kind,
                          converter=report.converter, versions=report.versions,
                          quantization=report.quantization, fidelity=report.fidelity_summary())
    write(artifact, base.model_copy(update={"preprocess": preprocess, "conversion": info, "origin": None}))


def _pruning_info(job: _Job, original: Any, sparsity: float, inputs: list[np.ndarray],
                  fid: Any) -> dict[str, Any]:
    original_outs = [np.concatenate(o) for o in zip(*(original.predict(x) for x in inputs), strict=True)]
    vs_original = compare_outputs(fid.names, original_outs, fid.artifact_outputs)
    return {"amount": job.prune, "sparsity": sparsity,
            "vs_original": [o.__dict__ for o in vs_original]}


def _convert_in(tmp: Path, source: Any, path: ConversionPath, job: _Job, *, original: Any,
                calib: list[np.ndarray], card: ModelCard | None, out: Path, sparsity: float) -> ConversionReport:
    float_path, artifact, perm = _export_and_quantize(source, path, job, calib, tmp)
    inputs, samples_from = _check_inputs(calib, source, card)
    fid = measure(source, artifact, inputs, perm)
    kernels = None
    if job.quantize == "int8" and job.target == "onnx":
        from converters.target_kernels import check_on_target

        fid, kernels = check_on_target(fid, artifact, inputs, perm, job.cpu_target)
    run: dict[str, Any] = {
        "fidelity": fid, "card": card, "samples": len(inputs), "samples_from": samples_from,
        "float_bytes": float_path.stat().st_size if float_path != artifact else None,
        "artifact_bytes": artifact.stat().st_size, "kernels": kernels,
    }
    if original is not None:
        run["pruning"] = _pruning_info(job, original, sparsity, inputs, fid)
    if job.quantize != "none" and float_path != artifact:  # is the quantized artifact faster here?
        run["float_latency_ms"] = artifact_latency_ms(float_path, inputs, perm)
    report = _build_report(out, source, path, job, calib=calib, run=run)
    if not report.passed:
        if job.verbose:
            report.print_table()
        raise FidelityError(
            f"The converted model missed the fidelity gates ({'; '.join(report.failures)}). Nothing was "
            "written. Try another quantization mode or calibration method, more calibration data, or "
            "pass check=False / --no-check (or your own thresholds) to accept it", report)
    layout = _artifact_layout(source.layout, perm) if len(source.input_shape) == 4 else None
    _embed_card(artifact, card, layout, report)
    if job.edgetpu:
        from converters.edgetpu import compile_edgetpu

        compiled = out.with_name(f"{out.stem}_edgetpu.tflite")
        compile_edgetpu(artifact, tmp / compiled.name)
        os.replace(tmp / compiled.name, compiled)
        report = replace(report, edgetpu_artifact=str(compiled))
    os.replace(artifact, out)
    return replace(report, sizes_bytes={**report.sizes_bytes, "artifact": out.stat().st_size})


def _validate(*, to: str, quantize: str, io_type: str, calib_size: int, calibration_method: str,
              cpu_target: str, prune: float | None, edgetpu: bool, check: bool,
              thresholds: Thresholds | Mapping[str, float] | None, verbose: bool) -> _Job:
    from converters.onnx_quantize import CALIBRATION_METHODS
    from devices.cpu import CPU_TARGETS, read_cpu_int8

    cpu_target = _choice("target", cpu_target, ("auto", *CPU_TARGETS))
    job = _Job(
        target=_choice("to", to, TARGETS), quantize=_choice("quantize", quantize, MODES),
        io_type=_choice("io_type", io_type, IO_TYPES), calib_size=int(calib_size),
        calibration_method=_choice("calibration_method", calibration_method, CALIBRATION_METHODS),
        cpu_target=read_cpu_int8().target if cpu_target == "auto" else cpu_target, prune=prune,
        edgetpu=edgetpu, check=check, thresholds=_thresholds(quantize, thresholds), verbose=verbose,
    )
    if job.calib_size < 1:
        raise ConfigError(f"calib_size must be at least 1, got {calib_size}")
    if edgetpu:
        from converters.edgetpu import INSTALL_HINT, find_compiler

        if job.target != "tflite" or job.quantize != "int8":
            raise ConversionError("The Edge TPU runs full-integer TFLite models only: use to='tflite', quantize='int8'")
        if find_compiler() is None:
            raise ConversionError(INSTALL_HINT)
    return job


def convert(
    source: Any,
    to: str = "tflite",
    *,
    quantize: str = "none",
    calibration: Any = None,
    card: ModelCard | Mapping[str, Any] | str | Path | None = None,
    input_shape: Sequence[int] | None = None,
    out: str | Path | None = None,
    io_type: str = "float32",
    calib_size: int = 200,
    prune: float | None = None,
    edgetpu: bool = False,
    check: bool = True,
    thresholds: Thresholds | Mapping[str, float] | None = None,
    calibration_method: str = "minmax",
    target: str = "auto",
    verbose: bool = True,
    source_kind: str | None = None,
) -> ConversionReport:
    """Convert a model to a checked, optionally quantized TFLite or ONNX artifact with its card.

    Args:
        source: A ``torch.nn.Module``, a Keras model, or a path to a ``.pt`` (TorchScript),
            ``.pt2`` (torch.export), ``.keras``/``.h5``, SavedModel folder or ``.onnx`` file.
        to: ``"tflite"`` or ``"onnx"``.
        quantize: ``none`` (float32), ``fp16``, ``dynamic`` (int8 weights) or ``int8``
            (full integer, needs ``calibration``).
        calibration: A folder or glob of images (preprocessed with the card, as on the
            device), or an iterable / callable of ready float32 arrays in the source layout.
        card: The model card to embed: a :class:`ModelCard`, a mapping, or a card file.
        input_shape: Input shape, batch first (needed for PyTorch modules and TorchScript).
        out: Artifact path; default: next to a source file, with the target's suffix.
        io_type: Input/output type of ``int8`` TFLite models: ``float32``, ``int8``, ``uint8``.
        calib_size: Calibration samples at most (images sampled with a fixed seed).
        prune: Fraction of conv/linear weights to zero by global L1 magnitude (PyTorch only).
        edgetpu: Also compile the int8 TFLite for the Coral Edge TPU (``<out>_edgetpu.tflite``).
        check: Enforce the fidelity gates (the check itself always runs).
        thresholds: Own gates: :class:`Thresholds` or ``{"cosine": ..., "top1": ...}``.
        calibration_method: ONNX int8 statistic: ``minmax``, ``entropy`` or ``percentile``.
        target: The CPUs an ONNX ``int8`` artifact is for: ``x86-avx2`` (no VNNI: 7-bit
            weights, right on every x86 CPU), ``x86-vnni``, ``arm64``, or ``auto`` (this
            machine's, :func:`devices.cpu.read_cpu_int8`). Recorded in the card.
        verbose: Print the report table (rich, stderr).
        source_kind: Force the source kind instead of detecting it.

    Returns:
        The :class:`ConversionReport`; it is also saved as ``<out>.report.json``.

    Raises:
        ConfigError: an option value is invalid.
        ConversionError: the model cannot be loaded or converted, or missed the gates
            (:class:`~converters.report.FidelityError`, with ``.report``).
        MissingDependencyError: a framework the path needs is not installed.
    """
    started = time.perf_counter()
    job = _validate(to=to, quantize=quantize, io_type=io_type, calib_size=calib_size,
                    calibration_method=calibration_method, cpu_target=target, prune=prune, edgetpu=edgetpu,
                    check=check,
                    thresholds=thresholds, verbose=verbose)
    kind = source_kind or detect_source_kind(source)
    card_obj = _resolve_card(card) if card is not None else _source_card(source, kind)
    path = get_path(kind, job.target)
    out_path = Path(out) if out is not None else _default_out(source, job.target, job.quantize)
    if not out_path.parent.is_dir():
        raise ConfigError(f"out={str(out_path)!r}: the folder {str(out_path.parent)!r} does not exist")
    loaded = load_source(source, kind, input_shape)
    original, sparsity = None, 0.0
    if job.prune is not None:
        from converters.prune import prune_source

        original = loaded
        loaded, sparsity = prune_source(loaded, job.prune)
    preprocess = card_obj.preprocess if card_obj is not None else PreprocessSpec()
    calib = load_calibration(calibration, preprocess=preprocess, input_shape=loaded.input_shape,
                             layout=loaded.layout, size=job.calib_size)
    if job.quantize == "int8" and not calib:
        raise ConversionError("quantize='int8' needs calibration data: pass calibration= (or --calib DIR)")
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=f".{out_path.name}.") as tmp:
        report = _convert_in(Path(tmp), loaded, path, job, original=original, calib=calib, card=card_obj,
                             out=out_path, sparsity=sparsity)
    report = replace(report, duration_s=time.perf_counter() - started)
    report.save_json(out_path.with_name(out_path.name + ".report.json"))
    if job.verbose:
        report.print_table()
    return report
