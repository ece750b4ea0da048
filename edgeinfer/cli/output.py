"""The console the subcommands print tables with.

On a terminal rich fits tables to its width. Piped into a file or another program, rich
would assume 80 columns and cut cells short (``acce…``); there the console is as wide as
the widest row needs, unless ``COLUMNS`` says otherwise.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["make_console"]

UNBOUNDED_WIDTH = 4096


def make_console(**options: Any) -> Any:
    """A ``rich.console.Console``; full width when stdout is not a terminal (see the module docstring).

    Args:
        options: Passed on to ``Console`` (``highlight``, ``stderr`` ...).
    """
    from rich.console import Console

    stream = sys.stderr if options.get("stderr") else sys.stdout
    if "width" not in options and "COLUMNS" not in os.environ and not stream.isatty():
        options["width"] = UNBOUNDED_WIDTH
    return Console(**options)
