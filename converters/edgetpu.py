"""Compile a full-integer TFLite model for the Coral Edge TPU with ``edgetpu_compiler``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from edgeinfer.errors import ConversionError

__all__ = ["INSTALL_HINT", "compile_edgetpu", "find_compiler"]

INSTALL_HINT = (
    "edgetpu_compiler is not on PATH. It runs on x86_64 Linux only; install it from Coral's apt "
    "repository: curl https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo apt-key add - && "
    "echo 'deb https://packages.cloud.google.com/apt coral-edgetpu-stable main' | "
    "sudo tee /etc/apt/sources.list.d/coral-edgetpu.list && sudo apt-get update && "
    "sudo apt-get install edgetpu-compiler"
)


def find_compiler() -> str | None:
    """Path of ``edgetpu_compiler`` or ``None``."""
    return shutil.which("edgetpu_compiler")


def compile_edgetpu(model: Path, out_path: Path, timeout_s: float = 600.0) -> Path:
    """Compile an int8 ``.tflite`` into ``out_path`` (the ``_edgetpu.tflite`` model).

    Raises:
        ConversionError: the compiler is missing or fails (its log is in the message).
    """
    compiler = find_compiler()
    if compiler is None:
        raise ConversionError(INSTALL_HINT)
    with tempfile.TemporaryDirectory(dir=out_path.parent, prefix=".edgetpu-") as tmp:
        try:
            proc = subprocess.run([compiler, "-s", "-o", tmp, str(model)], capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConversionError(f"edgetpu_compiler could not run: {exc}") from exc
        compiled = Path(tmp) / f"{model.stem}_edgetpu.tflite"
        if proc.returncode != 0 or not compiled.is_file():
            raise ConversionError(
                f"edgetpu_compiler failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        shutil.move(str(compiled), out_path)
    return out_path
