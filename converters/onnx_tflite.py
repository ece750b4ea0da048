"""ONNX -> float32 TFLite with ``onnx2tf``, offline and without touching the source file.

Export stage of the ``(onnx, tflite)`` path; the TFLite quantization stage runs on the
float32 file afterwards. ``onnx2tf 1.28.8`` has three habits this module contains:

- it rewrites its input ``.onnx`` in place, so it runs on a copy;
- for image models it loads ``calibration_image_sample_data_20x128x128x3_float32.npy``
  from the current directory and downloads it when absent, so it runs in a temporary
  directory that already holds a locally generated file of that name;
- it writes its outputs (and may write scratch files) into the working directory, which
  is that temporary directory, removed afterwards.

onnx2tf turns NCHW image inputs into NHWC (the TFLite convention) and transposes
internal tensors to match; address its inputs and outputs by index, not name.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import ExportOptions
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["onnx_to_tflite"]

# The file name is fixed in onnx2tf.utils.common_functions.download_test_image_data.
_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
_SAMPLE_SHAPE = (20, 128, 128, 3)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def onnx_to_tflite(source: Any, out_path: Path, options: ExportOptions) -> None:
    """Convert an ONNX model to a float32 ``.tflite`` file with NHWC image inputs.

    Args:
        source: An ONNX source model with a ``path`` attribute, or the path itself.
        out_path: Where to write the ``.tflite`` file (the caller makes it atomic).
        options: ``dynamic_batch`` (else a dynamic batch is fixed to 1), ``channels_last``
            (``False`` keeps 4-D inputs NCHW; 4-D outputs are NHWC either way) and
            ``workdir`` (parent of the scratch folder).

    Raises:
        ConversionError: the file is missing or onnx2tf failed.
        MissingDependencyError: onnx2tf (or TensorFlow) is not installed.
    """
    onnx_path = Path(getattr(source, "path", source))
    if not onnx_path.is_file():
        raise ConversionError(f"The ONNX file {onnx_path} does not exist.")
    try:
        import onnx
        import onnx2tf
    except ImportError as exc:
        raise MissingDependencyError("onnx2tf", "convert-tf", "converting ONNX to TFLite") from exc
    inputs = _graph_inputs(onnx, onnx_path)
    kwargs: dict[str, Any] = {"not_use_onnxsim": True, "non_verbose": True, "verbosity": "error"}
    if not options.dynamic_batch and any(not isinstance(shape[0], int) for _, shape in inputs if shape):
        kwargs["batch_size"] = 1
    if not options.channels_last:
        kwargs["keep_ncw_or_nchw_or_ncdhw_input_names"] = [n for n, s in inputs if len(s) == 4]
    with _scratch_dir(options.workdir) as scratch:
        model_copy = scratch / "model.onnx"
        shutil.copyfile(onnx_path, model_copy)
        sample = np.random.default_rng(0).random(_SAMPLE_SHAPE, dtype=np.float32)
        np.save(scratch / _SAMPLE_FILE, sample)
        _run_onnx2tf(onnx2tf, model_copy, scratch / "out", kwargs)
        shutil.copyfile(_pick_float32(scratch / "out"), out_path)


def _graph_inputs(onnx: Any, path: Path) -> list[tuple[str, list[Any]]]:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ConversionError(f"{path} is not a readable ONNX model: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}
    found = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        found.append((value.name, [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]))
    return found


def _run_onnx2tf(onnx2tf: Any, model_path: Path, out_dir: Path, kwargs: dict[str, Any]) -> None:
    """Run onnx2tf inside the scratch folder, where it finds the sample file."""
    previous = Path.cwd()
    log = io.StringIO()
    os.chdir(model_path.parent)
    try:
        with contextlib.redirect_stdout(log):
            onnx2tf.convert(input_onnx_file_path=str(model_path), output_folder_path=str(out_dir),
                            **kwargs)
    except (Exception, SystemExit) as exc:  # onnx2tf calls sys.exit(1) on many errors
        tail = _ANSI.sub("", log.getvalue()).strip().splitlines()[-5:]
        said = f" onnx2tf said: {' | '.join(tail).rstrip('.')}." if tail else ""
        raise ConversionError(
            f"onnx2tf could not convert the ONNX model ({type(exc).__name__}: {exc}).{said} "
            "Try simplifying the model first, or export it to TFLite from its source framework."
        ) from exc
    finally:
        os.chdir(previous)


def _pick_float32(out_dir: Path) -> Path:
    candidates = sorted(out_dir.glob("*_float32.tflite"))
    if not candidates:
        found = sorted(p.name for p in out_dir.glob("*")) if out_dir.is_dir() else []
        raise ConversionError(f"onnx2tf finished without writing a float32 .tflite (found {found}).")
    return candidates[0]


@contextlib.contextmanager
def _scratch_dir(parent: Path | None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="edgeinfer-onnx2tf-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
