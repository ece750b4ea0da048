"""``edgeinfer demo``: the whole product in one command, with nothing attached.

A dev-machine command: it joins the converters' half (:func:`converters.demo.build_models`,
training and conversion) to the runtime's (:func:`edgeinfer.demo.run_demo`).
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("edgeinfer-demo"),
              show_default=True, help="Folder for models, video, results, plot and summary (reused on re-runs).")
@click.option("--frames", type=int, default=240, show_default=True, help="Frames in the generated camera video.")
@click.option("--broker", default="127.0.0.1:1883", show_default=True,
              help="MQTT broker to publish to when it answers (else results go to JSON lines).")
@click.option("--quiet", is_flag=True, help="Do not print every result.")
def command(out: Path, frames: int, broker: str, quiet: bool) -> None:
    """Train a digit classifier, convert it to int8 TFLite/ONNX, stream a video through it, summarise."""
    from converters.demo import build_models
    from edgeinfer.demo import DemoOptions, run_demo

    run_demo(build_models, DemoOptions(out=out, frames=frames, broker=broker, show=not quiet))
