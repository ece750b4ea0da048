"""The README's first command, run as a new user would: a fresh clone, a clean environment.

This installs a new virtual environment (torch first, then edgeinfer[all]) in the clone, so
it takes minutes; it is marked slow and runs in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands() -> list[str]:
    """The command lines of the first code block under '## Quick start' in README.md."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash)?\n(.*?)```", section, re.S)
    assert block, "README has no code block under ## Quick start"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_exactly_two_commands() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2
    assert commands[1] in (ROOT / ".ci" / "run").read_text() or "scripts/test.sh" in commands[1]


@pytest.mark.slow
def test_first_command_runs_the_demo_in_a_fresh_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "edgeinfer"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    command = quick_start_commands()[0]

    def run() -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        proc = subprocess.run(command, shell=True, cwd=clone, env=env, capture_output=True, text=True,
                              timeout=1500, check=False)
        return proc, time.monotonic() - started

    first, first_s = run()
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = clone / "edgeinfer-demo"
    for name in ("annotated.mp4", "summary.png", "summary.json", "digits_int8.tflite", "digits_int8.onnx"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 240
    assert summary["int8_accuracy"]["tflite"] > 0.9 and summary["live_accuracy"] > 0.85
    assert "5/5 edgeinfer demo summary" in first.stdout
    second, second_s = run()
    assert second.returncode == 0, second.stderr[-3000:]
    assert "reusing the models" in second.stdout and second_s < first_s
