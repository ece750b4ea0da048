"""``edgeinfer devices``: what accelerators are here, and the plan each backend would use.

Prints the inventory from :func:`devices.probe` (board, profile, CPUs, runtimes with their
versions) and, per backend, the ordered plan from :func:`devices.plan` with the reason
for every step. ``--json`` prints the same data for scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from devices.types import Inventory, PlanStep

__all__ = ["build_report", "command"]

_STATUS_STYLE = {"try": "green", "skip": "dim", "used": "bold green", "failed": "red", "not needed": "dim"}


def _model_facts(model: Path) -> dict[str, Any]:
    from edgeinfer.formats import open_model_file

    model_file = open_model_file(model)
    return {"path": str(model), "kind": model_file.kind, "edgetpu_compiled": model_file.edgetpu_compiled}


def build_report(inventory: Inventory, model: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return ``{"inventory": ..., "plans": {backend: [step, ...]}}`` as JSON-friendly data.

    Args:
        inventory: What :func:`devices.probe` found.
        model: ``{"path", "kind", "edgetpu_compiled"}`` of a model file to plan for; its
            backend's plan only. ``None`` plans for both backends and a plain model.

    Returns:
        The report; with a model, also ``"model"``.
    """
    from edgeinfer.backends import kinds, plan

    backends = [model["kind"]] if model else kinds()
    compiled = bool(model and model["edgetpu_compiled"])
    plans = {b: [s.to_dict() for s in plan(inventory, b, edgetpu_model=compiled)] for b in backends}
    report: dict[str, Any] = {"inventory": inventory.to_dict(), "plans": plans}
    if model:
        report["model"] = model
    return report


def _runtimes(inventory: Inventory) -> tuple[str, str]:
    tflite = (f"{inventory.tflite_runtime} {inventory.tflite_runtime_version or ''}".strip()
              if inventory.tflite_runtime else "not installed (pip install 'edgeinfer[tflite]')")
    providers = ", ".join(inventory.extra.get("onnx_providers", []))
    onnx = (f"onnxruntime {inventory.onnxruntime_version} ({providers})" if inventory.onnxruntime_version
            else "not installed (pip install 'edgeinfer[onnx]')")
    return tflite, onnx


def _cpu_int8(inventory: Inventory) -> str:
    cpu = inventory.cpu_int8
    if not cpu:
        return "unknown"
    kernels = {"x86-vnni": "exact (VNNI)", "arm64": "exact", "x86-avx2": "AVX2 without VNNI: convert ONNX int8 "
               "with --target x86-avx2, 8-bit weights saturate here"}
    features = ", ".join(cpu["features"]) or "none"
    return f"{features}; ONNX int8 kernels {cpu['target']}, {kernels.get(cpu['target'], '')}"


def _print_report(report: dict[str, Any], inventory: Inventory) -> None:
    from rich.markup import escape
    from rich.table import Table

    from edgeinfer.cli.output import make_console

    console = make_console(highlight=False)
    summary = Table(show_header=False, box=None, pad_edge=False)
    tflite, onnx = _runtimes(inventory)
    rows = [("Board", inventory.board), ("Profile", f"{inventory.profile}: {inventory.profile_description}"),
            ("Machine", inventory.machine), ("CPUs", f"{inventory.cpu_count} (default threads "
                                                    f"{inventory.default_threads})"),
            ("CPU int8", _cpu_int8(inventory)), ("TFLite runtime", tflite), ("ONNX Runtime", onnx)]
    extra = {k: v for k, v in inventory.extra.items() if k != "onnx_providers"}
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in extra.items()]
    if "model" in report:
        model = report["model"]
        compiled = ", compiled for the Edge TPU" if model["edgetpu_compiled"] else ""
        rows.append(("Model", f"{model['path']} ({model['kind']}{compiled})"))
    for key, value in rows:
        summary.add_row(f"[bold]{key}[/bold]", escape(value))  # "edgeinfer[onnx]" is not markup
    console.print(summary)
    for backend, steps in report["plans"].items():
        table = Table(title=f"{backend} plan", title_justify="left")
        table.add_column("#", justify="right")
        table.add_column("accelerator")
        table.add_column("status")
        table.add_column("reason", overflow="fold")
        for i, step in enumerate(steps, 1):
            style = _STATUS_STYLE.get(step["status"], "")
            table.add_row(str(i), step["accelerator"], f"[{style}]{step['status']}[/{style}]", escape(step["reason"]))
        console.print(table)
        console.print(f"{backend}: {_first_choice([PlanStep(**s) for s in steps])}")
    if inventory.install_notes:
        console.print("[bold]Setup notes for this board[/bold]")
        for note in inventory.install_notes:
            console.print(f"  - {note}", markup=False)


def _first_choice(steps: list[PlanStep]) -> str:
    chosen = next((s.accelerator for s in steps if s.status == "try"), None)
    return f"would use {chosen}" if chosen else "nothing here can run it"


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory and plans as JSON.")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Plan for this .tflite/.onnx model (detects Edge TPU-compiled models).")
@click.option("--root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=Path("/"),
              hidden=True, help="Filesystem root to probe (tests).")
def command(as_json: bool, model_path: Path | None, root: Path) -> None:
    """Show the accelerators found here and the plan each backend would use."""
    from edgeinfer.backends import probe

    inventory = probe(root)
    model = _model_facts(model_path) if model_path else None
    report = build_report(inventory, model)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report, inventory)
