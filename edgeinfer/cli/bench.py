"""``edgeinfer bench MODEL``: load time and latency percentiles per accelerator."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["command"]


def _accelerators(model: str, request: str) -> list[str]:
    if request != "all":
        return [request]
    from edgeinfer.backends import plan, probe_cached
    from edgeinfer.formats import open_model_file

    model_file = open_model_file(model)
    steps = plan(probe_cached(), model_file.kind, "auto", edgetpu_model=model_file.edgetpu_compiled)
    return [s.accelerator for s in steps if s.status == "try"]


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--accelerator", default="auto", show_default=True,
              help="auto, all (each one the plan says is present), or a name from `edgeinfer devices`.")
@click.option("--threads", type=int, help="Interpreter threads (default: board profile).")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed runs.")
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs before timing.")
@click.option("--end-to-end", is_flag=True, help="Include preprocessing and decoding of a 1920x1080 frame.")
@click.option("--frame", "frame_path", type=click.Path(exists=True, dir_okay=False),
              help="Image to use with --end-to-end (default: a synthetic 1920x1080 frame).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a latency histogram PNG per accelerator.")
def command(model: str, accelerator: str, threads: int | None, runs: int, warmup: int, end_to_end: bool,
            frame_path: str | None, as_json: bool, plot: Path | None) -> None:
    """Measure MODEL: init and first-inference time, latency min/mean/p50/p90/p99, throughput, peak RSS."""
    from rich.progress import Progress

    from edgeinfer.benchmark import benchmark, plot_latency
    from edgeinfer.predict import read_image

    frame = read_image(frame_path) if frame_path else None
    results = []
    with Progress(transient=True, disable=as_json) as progress:
        for name in _accelerators(model, accelerator):
            task = progress.add_task(f"{name}: {runs} runs", total=runs)
            results.append(benchmark(model, accelerator=name, threads=threads, runs=runs, warmup=warmup,
                                     end_to_end=end_to_end, frame=frame,
                                     progress=lambda t=task: progress.advance(t)))
    summaries = [r.summary() for r in results]
    if as_json:
        click.echo(json.dumps({"results": summaries}, indent=2))
    else:
        _print_table(summaries)
    if plot is not None:
        click.echo(f"latency histogram: {plot_latency(results, plot)}", err=as_json)


def _print_table(summaries: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = ["accelerator", "init_ms", "first_ms", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms",
            "throughput_per_s", "peak_rss_mb"]
    title = "end to end (preprocess + infer + decode)" if summaries and summaries[0]["end_to_end"] else "inference"
    table = Table(title=f"{summaries[0]['model'] if summaries else ''} — {title}")
    for col in cols:
        table.add_column(col.replace("_per_s", "/s").replace("_", " "), justify="right")
    for s in summaries:
        table.add_row(*[f"{s[c]:.4g}" if isinstance(s[c], float) else str(s[c]) for c in cols])
    Console().print(table)
