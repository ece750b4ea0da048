"""The ``edgeinfer`` command: one module per subcommand, imported when it is invoked.

Each module ``edgeinfer/cli/<name>.py`` defines a click command named ``command``.
Errors from the SDK become a one-line message on stderr and the exit code of their
class (:func:`edgeinfer.errors.exit_code_for`), so systemd can tell a bad config (78)
from a broker outage (75).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from edgeinfer.errors import EdgeInferError, exit_code_for

__all__ = ["main"]

COMMANDS = {
    "convert": "Convert a PyTorch, Keras or ONNX model to a checked, quantized TFLite/ONNX artifact.",
    "distill": "Train a small student model on a teacher's outputs over unlabeled images.",
    "devices": "Show the accelerators found here and the plan each backend would use.",
    "card": "Show a model's effective model card and where it came from.",
    "predict": "Run a model on images and print (or save) the results.",
    "run": "Run the camera -> model -> sinks daemon from a YAML config.",
    "bench": "Measure load time and latency percentiles per accelerator.",
    "serve": "Serve a model over local HTTP.",
    "demo": "Train, convert and run the end-to-end demo with nothing attached.",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"edgeinfer.cli.{cmd_name}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(COMMANDS.items()))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeInferError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exit_code_for(exc))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeinfer")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """edgeinfer: convert models for the edge and run them on any Linux device."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="edgeinfer")
