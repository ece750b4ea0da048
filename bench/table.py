"""Print ``bench/results/latest.json`` as the Markdown table of the README's Benchmarks section.

    python bench/table.py [RESULTS.json]

Paste the output between the ``bench-table`` markers; the notes under the table are written
by hand from the figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _figure(value: Any, unit: str) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value:.4g} {unit}".strip()


def render(report: dict[str, Any]) -> str:
    """The header line and the table of one results file."""
    machine, versions = report["machine"], report["versions"]
    wanted = ("ai-edge-litert", "onnxruntime", "opencv-python-headless", "paho-mqtt")
    lines = [f"Measured {report['date']} on {machine['cpu']} ({machine['cores']} cores, {machine['machine']}, "
             f"Python {machine['python']}); " + ", ".join(f"{k} {versions[k]}" for k in wanted if k in versions)
             + ("; `--quick`." if report.get("quick") else "."), "",
             "| what | value | baseline | ratio | goal | |", "|---|---|---|---|---|---|"]
    for r in report["rows"]:
        ratio = f"{r['ratio']:.3g}" if isinstance(r.get("ratio"), int | float) else "-"
        verdict = "info" if r["passed"] is None else "pass" if r["passed"] else "**miss**"
        lines.append(f"| {r['name']} | {_figure(r['value'], r['unit'])} | {_figure(r.get('baseline'), r['unit'])} | "
                     f"{ratio} | {r['goal'] if r['goal'] is not None else '-'} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else HERE / "results" / "latest.json"
    print(render(json.loads(path.read_text())))


if __name__ == "__main__":
    main()
