"""``edgeinfer demo``: the whole product in one command, with nothing attached.

A dev-machine command: it joins the converters' half (:func:`converters.demo.build_models`,
training and conversion) to the runtime's (:func:`edgeinfer.demo.run_demo`).

TensorFlow, absl, torch, torchao and tqdm write INFO lines, warnings and progress bars to
the process's stderr, some from native code that Python cannot redirect. Unless ``-v`` is
given, the command points file descriptor 2 at ``<out>/demo.log`` while it runs, so the
terminal shows only the demo's own lines; an error is still printed after it is restored.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import click

__all__ = ["command"]

# Read by TensorFlow and tqdm when they are imported (after this point): errors only, no bars.
_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TQDM_DISABLE": "1"}


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send everything written to file descriptor 2 (Python's and native code's) to ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with path.open("ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("edgeinfer-demo"),
              show_default=True, help="Folder for models, video, results, plot and summary (reused on re-runs).")
@click.option("--frames", type=int, default=240, show_default=True, help="Frames in the generated camera video.")
@click.option("--broker", default="127.0.0.1:1883", show_default=True,
              help="MQTT broker to publish to when it answers (else results go to JSON lines).")
@click.option("--quiet", is_flag=True, help="Do not print every result: only the steps and the summary.")
def command(out: Path, frames: int, broker: str, quiet: bool) -> None:
    """Train a digit classifier, convert it to int8 TFLite/ONNX, stream a video through it, summarise.

    Third-party log output goes to OUT/demo.log (to the terminal with ``edgeinfer -v demo``).
    """
    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    out.mkdir(parents=True, exist_ok=True)
    quiet_stderr = contextlib.nullcontext() if verbose else _stderr_to(out / "demo.log")
    if not verbose:
        for key, value in _QUIET_ENV.items():
            os.environ.setdefault(key, value)
    with quiet_stderr:
        from converters.demo import build_models
        from edgeinfer.demo import DemoOptions, run_demo

        run_demo(build_models, DemoOptions(out=out, frames=frames, broker=broker, show=not quiet))
    if not verbose:
        click.echo(f"log output of TensorFlow, torch and the converters: {out.resolve() / 'demo.log'}")
