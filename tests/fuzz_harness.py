"""Run mutated model files through ``edgeinfer.load`` and one inference, in child processes.

A child (``python -m tests.fuzz_harness FOLDER``) runs every file of the folder (named
``000001.tflite`` ...) in name order and prints one JSON line before each (``{"start": name}``) and one
after (``{"name", "outcome", "detail"}``). ``outcome`` is ``"ok"``, the name of the
edgeinfer error raised, or ``"foreign:<type>"`` for any other exception. When a child
dies by a signal or hangs, the file it had started is the one to blame; it is run once
more alone to confirm, and a new child goes on with the files after it.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.model_mutations import Mutant

ROOT = Path(__file__).resolve().parent.parent
# A file with exactly these bytes makes the child kill itself with SIGSEGV: the harness's own test.
CRASH_FOR_TEST = b"edgeinfer-fuzz: crash here"
MEMORY_LIMIT = 6 << 30  # address space per child: a runaway allocation fails instead of swapping the machine


@dataclass
class Outcome:
    """What one file did: ``ok``, an edgeinfer error class, ``foreign:<type>``, ``signal:<name>``, ``timeout``."""

    name: str
    outcome: str
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        """Signals, hangs and foreign exceptions: anything but a success or an edgeinfer error."""
        bad = ("signal", "timeout", "foreign", "lost", "flaky")
        return [o for o in self.outcomes if o.outcome.split(":")[0] in bad]

    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes)


def _child_main(folder: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import edgeinfer
    from edgeinfer.benchmark import random_inputs

    for path in sorted(folder.iterdir()):
        print(json.dumps({"start": path.name}), flush=True)
        if path.read_bytes() == CRASH_FOR_TEST:
            os.kill(os.getpid(), signal.SIGSEGV)
        outcome, detail = "ok", ""
        try:
            with edgeinfer.load(path) as model:
                model.run(random_inputs(model.inputs, size_wh=(32, 32)))
        except edgeinfer.EdgeInferError as exc:
            outcome, detail = type(exc).__name__, str(exc)
        except Exception as exc:  # the point of the harness: any other exception is a finding
            outcome, detail = f"foreign:{type(exc).__name__}", str(exc)
        print(json.dumps({"name": path.name, "outcome": outcome, "detail": detail[:2000]}), flush=True)


def _limit_memory() -> None:
    """Cap the child's address space (set by the child itself: a ``preexec_fn`` would run the
    parent's at-fork handlers, and JAX, imported by some converter tests, warns in its own)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _reader(stream: Iterable[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _run_child(folder: Path, timeout_s: float) -> tuple[list[Outcome], str | None, str]:
    """Run one child over ``folder``; returns the outcomes, the file it died on, and why."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz_harness", str(folder)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        outcomes, started, hung = _collect(lines, timeout_s)
        if hung:
            proc.kill()
        code = proc.wait()
        reader.join()
    finally:
        proc.stdout.close()
    if hung:
        return outcomes, started, "timeout"
    if code < 0:
        return outcomes, started, f"signal:{signal.Signals(-code).name}"
    return outcomes, started, "" if started is None else f"lost:exit {code}"


def _collect(lines: queue.Queue[str | None], timeout_s: float) -> tuple[list[Outcome], str | None, bool]:
    """Read a child's lines until it ends: outcomes, the file started last and not finished, and whether it hung."""
    outcomes: list[Outcome] = []
    started: str | None = None
    while True:
        try:
            line = lines.get(timeout=timeout_s)
        except queue.Empty:
            return outcomes, started, True
        if line is None:
            return outcomes, started, False
        if not line.startswith("{"):
            continue
        message = json.loads(line)
        if "start" in message:
            started = message["start"]
        else:
            outcomes.append(Outcome(message["name"], message["outcome"], message["detail"]))
            started = None


def run_files(mutants: Iterable[Mutant], *, timeout_s: float = 60.0) -> Report:
    """Run each mutant in child processes (many per child) and collect the outcomes.

    A file a child died or hung on is run again alone; the outcome of that second run is
    kept (so a crash caused by an earlier file in the same child is not blamed on it).
    """
    mutants = list(mutants)
    report = Report()
    with tempfile.TemporaryDirectory(prefix="edgeinfer-fuzz-") as tmp:
        folder = Path(tmp) / "batch"
        pending = {f"{i:06d}{m.suffix}": m.data for i, m in enumerate(mutants)}
        names = {file_name: m.name for file_name, m in zip(pending, mutants, strict=True)}
        while pending:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            for file_name, data in pending.items():
                (folder / file_name).write_bytes(data)
            outcomes, culprit, why = _run_child(folder, timeout_s)
            for o in outcomes:
                report.outcomes.append(Outcome(names[o.name], o.outcome, o.detail))
                pending.pop(o.name)
            if culprit is None:
                break
            report.outcomes.append(_alone(folder, culprit, names[culprit], why, timeout_s))
            pending.pop(culprit)
    return report


def _alone(folder: Path, file_name: str, name: str, why: str, timeout_s: float) -> Outcome:
    single = folder.parent / "single"
    shutil.rmtree(single, ignore_errors=True)
    single.mkdir()
    shutil.copy(folder / file_name, single / file_name)
    outcomes, culprit, again = _run_child(single, timeout_s)
    if culprit is not None:
        return Outcome(name, again, f"in a batch: {why}")
    first = outcomes[0]
    return Outcome(name, f"flaky:{first.outcome}", f"{why} in a batch, {first.outcome} alone: {first.detail}")


if __name__ == "__main__":
    _limit_memory()
    _child_main(Path(sys.argv[1]))
