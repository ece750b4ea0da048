"""Run the benchmark suite: every figure a ratio against a baseline measured in the same run.

    python bench/run.py [--quick] [--strict] [--only NAME ...]

Writes ``bench/results/latest.json`` as ``{"machine", "versions", "date", "rows": [{"name",
"value", "unit", "baseline", "ratio", "goal", "passed"}]}`` and prints a table. Exits
non-zero only with ``--strict`` when a goal is missed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = ["bench_runtime", "bench_preprocess", "bench_pipeline", "bench_mqtt", "bench_serve", "bench_int8_cpus",
          "bench_events", "bench_obb", "bench_pose", "bench_distill", "bench_ocr", "bench_seg", "bench_stream",
          "bench_text"]
PACKAGES = ["edgeinfer", "numpy", "ai-edge-litert", "onnxruntime", "opencv-python-headless", "paho-mqtt",
            "torch", "tensorflow"]


def machine() -> dict[str, object]:
    """Describe the machine the numbers were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def print_rows(rows: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="edgeinfer benchmarks (ratio = value / baseline)")
    for col in ("name", "value", "baseline", "ratio", "goal", "passed"):
        table.add_column(col, justify="left" if col in ("name", "goal") else "right")
    for r in rows:
        unit = r.get("unit", "")
        table.add_row(str(r["name"]), f"{r['value']:.4g} {unit}", f"{r['baseline']:.4g} {unit}" if isinstance(
            r.get("baseline"), int | float) else str(r.get("baseline")), f"{r['ratio']:.3g}" if isinstance(
            r.get("ratio"), int | float) else "-", str(r["goal"] if r["goal"] is not None else "info"),
            "[dim]info" if r["passed"] is None else "[green]pass" if r["passed"] else "[red]FAIL")
    Console(width=160).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; finishes in under two minutes")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--only", nargs="*", choices=SUITES, help="run only these suites")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    rows: list[dict[str, object]] = []
    started = time.time()
    for name in args.only or SUITES:
        try:
            suite = importlib.import_module(name)
            rows.extend(suite.run(quick=args.quick))
        except Exception as exc:  # one broken suite must not hide the others' numbers
            traceback.print_exc()
            rows.append({"name": f"{name} (suite failed)", "value": float("nan"), "unit": "", "baseline": None,
                         "ratio": None, "goal": "runs", "passed": False, "error": repr(exc)})
    report = {"machine": machine(), "versions": versions(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
              "quick": args.quick, "seconds": round(time.time() - started, 1), "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print_rows(rows)
    print(f"wrote {args.out} in {report['seconds']} s")
    failed = [r["name"] for r in rows if r["passed"] is False]  # None: reported, no goal
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
