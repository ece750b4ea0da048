"""The ONNX quantization stage, shared by every source: fp16, dynamic int8 and static QDQ int8.

``int8`` runs ``quant_pre_process`` (shape inference, graph optimisation) and then
``quantize_static`` in QDQ format with uint8 activations and per-channel int8 weights
(U8S8, ONNX Runtime's fastest CPU kernels), calibrated with min-max, entropy or
percentile statistics on the calibration samples. For CPUs without VNNI (target
``x86-avx2``) the weights use 7 bits (``reduce_range``): their AVX2 kernels sum pairs of
uint8 x int8 products in int16, which saturates with 8-bit weights (the digits CNN lost
2.2 points of accuracy that way) and cannot with 7 (:mod:`devices.cpu`). ``dynamic``
quantizes weights only (activations at run time), ``fp16`` converts weights and compute to
float16 while keeping float32 inputs and outputs.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.errors import ConfigError, ConversionError, MissingDependencyError

__all__ = ["CALIBRATION_METHODS", "int8_scheme", "quantize_onnx"]

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def _ort_quantization() -> Any:
    try:
        import onnxruntime.quantization as q
    except ImportError as exc:
        raise MissingDependencyError("onnxruntime", "convert-torch", "quantizing ONNX models") from exc
    return q


class _Reader:
    """A ``CalibrationDataReader``: one ``{input_name: sample}`` feed per ``get_next`` call."""

    def __init__(self, name: str, samples: Sequence[np.ndarray]) -> None:
        self._feeds = iter([{name: np.ascontiguousarray(s, dtype=np.float32)} for s in samples])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _input_name(path: Path) -> str:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {t.name for t in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in inits)


def _entropy_ranges(q: Any, pre: Path, tmp: Path, calibration: Sequence[np.ndarray]) -> Path:
    """Entropy (KL) ranges from a 2048-bin histogram, saved as a calibration cache.

    ``quantize_static`` builds its entropy calibrator with 128 histogram bins and 128
    quantized bins, which leaves the KL search a single candidate - the full range - so
    "entropy" would silently equal min/max. The ranges are computed here with a finer
    histogram and handed over through the public ``calibration_cache_path``.
    """
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

    calibrator = create_calibrator(
        pre, None, augmented_model_path=str(tmp / "augmented.onnx"),
        calibrate_method=q.CalibrationMethod.Entropy,
        extra_options={"num_bins": 2048, "num_quantized_bins": 128, "symmetric": False},
    )
    calibrator.collect_data(_Reader(_input_name(pre), calibration))
    cache = tmp / "ranges.json"
    save_tensors_data(calibrator.compute_data(), cache)
    return cache


def int8_scheme(cpu_target: str) -> dict[str, Any]:
    """How ``int8`` quantizes for CPUs of ``cpu_target`` (recorded in the card's ``conversion``).

    Args:
        cpu_target: ``x86-avx2``, ``x86-vnni`` or ``arm64`` (see :mod:`devices.cpu`).

    Returns:
        ``{"cpu_target", "activations", "weights", "reduce_range"}``.
    """
    return {"cpu_target": cpu_target, "activations": "uint8", "weights": "int8",
            "reduce_range": cpu_target == "x86-avx2"}


def _static(q: Any, float_path: Path, out_path: Path, calibration: Sequence[np.ndarray], *,
            method: str, per_channel: bool, reduce_range: bool) -> None:
    if not calibration:
        raise ConversionError("int8 quantization needs calibration data: pass calibration= (or --calib DIR)")
    methods = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy,
               "percentile": q.CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".ortq-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:
            q.shape_inference.quant_pre_process(str(float_path), str(pre))
        except Exception:  # ORT raises a bare Exception for this
            # Symbolic shape inference gives up on some graphs with dynamic sides (PP-OCR's
            # recogniser, any width): ONNX's own shape inference is enough to quantize them.
            q.shape_inference.quant_pre_process(str(float_path), str(pre), skip_symbolic_shape=True)
        if per_channel:
            _upgrade_opset(pre, _PER_CHANNEL_OPSET)
        cache = _entropy_ranges(q, pre, Path(tmp), calibration) if method == "entropy" else None
        q.quantize_static(
            str(pre), str(out_path), _Reader(_input_name(pre), calibration) if cache is None else None,
            quant_format=q.QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
            # uint8 activations with int8 weights (U8S8): ONNX Runtime's integer kernels for it
            # ran MobileNetV2 in 0.62x the float time here, while S8S8 ran 1.74x slower (and
            # saturates on AVX2 just the same, measured under an emulated Haswell CPU).
            activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
            calibrate_method=methods[method], calibration_cache_path=cache,
            extra_options={"CalibTensorRangeSymmetric": False, "CalibMovingAverage": False},
        )


_PER_CHANNEL_OPSET = 13  # DequantizeLinear's axis (per-channel scales) exists from opset 13


def _upgrade_opset(path: Path, opset: int) -> None:
    """Convert the model at ``path`` in place to ``opset`` when it is older (PP-OCR exports are 12)."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), opset)
    if current < opset:
        onnx.save(version_converter.convert_version(model, opset), str(path))


def _fp16(float_path: Path, out_path: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(float_path)), keep_io_types=True)
    onnx.save(model, str(out_path))


def quantize_onnx(float_path: str | Path, out_path: str | Path, mode: str,
                  calibration: Sequence[np.ndarray] = (), *, method: str = "minmax",
                  per_channel: bool = True, cpu_target: str = "x86-vnni") -> None:
    """Quantize a float32 ONNX file.

    Args:
        float_path: The float32 ``.onnx`` file.
        out_path: Where to write the result (may equal nothing else; the input is kept).
        mode: ``none`` (copy), ``fp16``, ``dynamic`` or ``int8``.
        calibration: float32 samples ``(1, *input_shape[1:])`` laid out as the model input
            (``int8`` only).
        method: Calibration statistic for ``int8``: ``minmax``, ``entropy`` or ``percentile``.
        per_channel: Per-channel weight scales for ``int8``.
        cpu_target: The CPUs the ``int8`` artifact is for (:func:`int8_scheme`): ``x86-avx2``
            gets 7-bit weights, ``x86-vnni`` and ``arm64`` full 8-bit ones.

    Raises:
        ConfigError: an unknown mode or method.
        ConversionError: ONNX Runtime cannot quantize the model, or no calibration data.
    """
    float_path, out_path = Path(float_path), Path(out_path)
    if method not in CALIBRATION_METHODS:
        raise ConfigError(f"calibration_method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}")
    q = _ort_quantization()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if mode == "none":
                shutil.copyfile(float_path, out_path)
            elif mode == "fp16":
                _fp16(float_path, out_path)
            elif mode == "dynamic":
                q.quantize_dynamic(str(float_path), str(out_path), weight_type=q.QuantType.QInt8)
            elif mode == "int8":
                _static(q, float_path, out_path, calibration, method=method, per_channel=per_channel,
                        reduce_range=int8_scheme(cpu_target)["reduce_range"])
            else:
                raise ConfigError(f"quantize {mode!r} is not one of none, fp16, dynamic, int8")
    except (ConfigError, ConversionError):
        raise
    except Exception as exc:
        Path(out_path).unlink(missing_ok=True)
        raise ConversionError(f"ONNX Runtime could not quantize the model ({mode}): {exc}") from exc
