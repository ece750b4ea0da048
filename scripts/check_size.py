"""Fail when a Python module outside tests/ is longer than the house limit (shared/STYLE.md).

Run by scripts/test.sh from the repository root: ``python scripts/check_size.py``. Prints
every module over the limit with its line count and exits 1; prints nothing and exits 0
when all are within it.
"""

from __future__ import annotations

import sys
from pathlib import Path

MAX_LINES = 400
PACKAGES = ("edgeinfer", "devices", "converters", "bench", "examples", "scripts")
ROOT = Path(__file__).resolve().parent.parent


def oversized(root: Path = ROOT, max_lines: int = MAX_LINES) -> list[tuple[Path, int]]:
    """Return ``(path relative to root, lines)`` of every module above ``max_lines``, longest first."""
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > max_lines:
                found.append((path.relative_to(root), lines))
    return sorted(found, key=lambda item: -item[1])


def main() -> int:
    """Print the modules over the limit; 1 when there is one, else 0."""
    found = oversized()
    for path, lines in found:
        print(f"{path}: {lines} lines (the limit is {MAX_LINES}; split the module)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
