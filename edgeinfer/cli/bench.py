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
@click.option("--compare", "other", type=click.Path(exists=True, dir_okay=False),
              help="Another artifact of the same model (e.g. int8 vs float): time both, say which to ship here.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--plot", type=click.Path(path_type=Path), help="Write a latency histogram PNG per accelerator.")
def command(model: str, accelerator: str, threads: int | None, runs: int, warmup: int, end_to_end: bool,
            frame_path: str | None, other: str | None, as_json: bool, plot: Path | None) -> None:
    """Measure MODEL: init and first-inference time, latency min/mean/p50/p90/p99, throughput, peak RSS.

    With --compare OTHER, time MODEL and OTHER in alternating rounds instead and say which
    is faster on this machine (an int8 artifact is not faster on every CPU).
    """
    from rich.progress import Progress

    if other is not None:
        _compare(model, other, accelerator, threads, runs, as_json)
        return

    from edgeinfer.benchmark import benchmark, plot_latency
    from edgeinfer.images import read_image

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


def _compare(model: str, other: str, accelerator: str, threads: int | None, runs: int, as_json: bool) -> None:
    from rich.table import Table

    from edgeinfer.benchmark import compare
    from edgeinfer.cli.output import make_console

    if not as_json:
        click.echo(f"timing {Path(model).name} and {Path(other).name} in alternating rounds ...", err=True)
    result = compare(model, other, accelerator="auto" if accelerator == "all" else accelerator, threads=threads,
                     runs=runs)
    if as_json:
        click.echo(json.dumps({"comparison": result.to_dict()}, indent=2))
        return
    table = Table(title=f"{Path(model).name} vs {Path(other).name} on this CPU ({result.cpu_target})")
    for col in ("model", "kind", "size KiB", "p50 ms"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for i in range(2):
        size_kib, p50 = result.sizes_bytes[i] / 1024, result.p50_ms[i]
        table.add_row(result.models[i], result.kinds[i], f"{size_kib:.1f}", f"{p50:.4g}")
    console = make_console()
    console.print(table)
    console.print(result.verdict)


def _print_table(summaries: list[dict[str, object]]) -> None:
    from rich.table import Table

    from edgeinfer.cli.output import make_console

    cols = ["accelerator", "init_ms", "first_ms", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms",
            "throughput_per_s", "peak_rss_mb"]
    title = "end to end (preprocess + infer + decode)" if summaries and summaries[0]["end_to_end"] else "inference"
    table = Table(title=f"{summaries[0]['model'] if summaries else ''} — {title}")
    for col in cols:
        table.add_column(col.replace("_per_s", "/s").replace("_", " "), justify="right")
    for s in summaries:
        table.add_row(*[f"{s[c]:.4g}" if isinstance(s[c], float) else str(s[c]) for c in cols])
    make_console().print(table)
