"""Orchestrate the demo: train -> convert (given, from the dev machine) -> render -> stream -> summarise."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.demo.digits import load_digits_data
from edgeinfer.demo.video import render_video

__all__ = ["LATENCY_NOTE", "DemoOptions", "ModelBuilder", "run_demo"]

LATENCY_NOTE = (
    "capture -> publish includes the wait in the pipeline's queues: the file is read ahead of the "
    "slowest stage (drawing and encoding annotated.mp4); a live camera (policy latest) drops frames instead."
)

ModelBuilder = Callable[[Path, int, Any], dict[str, Any]]
"""``(out, epochs, console) -> built``: trains and converts, or reuses what an earlier run left.

The dev-machine half, :func:`converters.demo.build_models`; ``built`` holds ``artifacts``
(``tflite`` and ``onnx`` paths), ``training`` and ``reports``.
"""


@dataclass(frozen=True)
class DemoOptions:
    """What the demo does and where it writes.

    Attributes:
        out: Folder for the models, video, results, plot and summary.
        frames: Length of the generated video.
        broker: ``host:port`` of an MQTT broker to publish to when it answers.
        epochs: Training epochs.
        show: Print each result as it comes.
    """

    out: Path = Path("edgeinfer-demo")
    frames: int = 240
    broker: str = "127.0.0.1:1883"
    epochs: int = 12
    show: bool = True


class _ConsoleSink:
    """Prints each result as it arrives and keeps what the summary needs."""

    def __init__(self, console: Any, truth: list[int], show: bool) -> None:
        self.console, self.truth, self.show = console, truth, show
        self.rows: list[tuple[int, int, float, float]] = []  # frame, predicted, score, latency_ms

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        top = envelope["result"]["top"][0]
        index, predicted = int(envelope["frame_index"]), int(top["label"])
        self.rows.append((index, predicted, float(top["score"]), float(envelope["latency_ms"])))
        if self.show:
            ok = "[green]ok[/]" if index < len(self.truth) and predicted == self.truth[index] else "[red]miss[/]"
            self.console.print(f"frame {index:4d}  digit {predicted} ({top['score']:.2f})  {ok}  "
                               f"{envelope['latency_ms']:.1f} ms", highlight=False)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        return None


def _broker_answers(broker: str) -> tuple[str, int] | None:
    host, _, port = broker.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return host or "127.0.0.1", int(port)
    except (OSError, ValueError):
        return None


def _int8_accuracy(path: Path) -> float:
    import edgeinfer

    data = load_digits_data()
    with edgeinfer.load(path) as model:
        results = model.predict_batch(list(data.test_images))
    predicted = np.array([int(r.to_dict()["top"][0]["label"]) for r in results])
    return float((predicted == data.test_labels).mean())


def run_demo(build_models: ModelBuilder, options: DemoOptions = DemoOptions()) -> dict[str, Any]:
    """Run the whole demo and return (and write) its summary.

    Args:
        build_models: Trains and converts the models (steps 1 and 2), on the dev machine:
            :func:`converters.demo.build_models`.
        options: What the demo does and where it writes.

    Returns:
        The summary dict also written to ``<out>/summary.json``.
    """
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    out = options.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    built = build_models(out, options.epochs, console)
    video = out / "camera.mp4"
    if not video.exists() or not Path(str(video) + ".json").exists():
        data = load_digits_data()
        from sklearn.datasets import load_digits

        raw = load_digits().images
        order = np.random.default_rng(0).permutation(len(raw))[int(0.8 * len(raw)):]
        render_video(video, raw[order], data.test_labels, frames=options.frames)
        console.print(f"3/5 rendered {options.frames} camera frames of unseen digits: {video}")
    truth = json.loads(Path(str(video) + ".json").read_text())["labels"]
    stats, sink, target = _stream(out, built["artifacts"]["tflite"], video, truth, options=options,
                                   console=console)
    summary = _summarise(out, built, stats, sink, truth=truth, target=target)
    _print_summary(console, summary)
    return summary


def _stream(out: Path, model_path: Path, video: Path, truth: list[int], *, options: DemoOptions,
            console: Any) -> tuple[Any, _ConsoleSink, str]:
    import edgeinfer
    from edgeinfer.pipeline import Pipeline
    from edgeinfer.sinks import registry
    from edgeinfer.sources import open_source

    console.print("4/5 running the live pipeline: camera.mp4 -> int8 TFLite -> sinks")
    shown = _ConsoleSink(console, truth, options.show)
    sinks: list[Any] = [shown, registry.get("video")(out / "annotated.mp4", fps=24.0)]  # type: ignore[call-arg]
    broker = _broker_answers(options.broker)
    if broker is not None:
        from edgeinfer.sinks.mqtt import MqttOptions

        mqtt_options = MqttOptions(host=broker[0], port=broker[1], queue_path=str(out / "queue.db"))
        sinks.append(registry.get("mqtt")(mqtt_options, device_id="demo"))  # type: ignore[call-arg]
        target = f"MQTT {broker[0]}:{broker[1]} topic edgeinfer/demo/camera/results"
    else:
        sinks.append(registry.get("jsonl")(out / "results.jsonl"))  # type: ignore[call-arg]
        target = f"{out / 'results.jsonl'} (no MQTT broker answered at {options.broker})"
    model = edgeinfer.load(model_path)
    pipeline = Pipeline(open_source(str(video), policy="every", name="camera"), model, sinks, device_id="demo")
    try:
        stats = pipeline.run()
    finally:
        for sink in sinks:
            sink.close()
        model.close()
    return stats, shown, target


def _summarise(out: Path, built: dict[str, Any], stats: Any, sink: _ConsoleSink, *, truth: list[int],
               target: str) -> dict[str, Any]:
    import edgeinfer

    rows = np.array(sink.rows) if sink.rows else np.zeros((0, 4))
    hits = [int(p) == truth[int(i)] for i, p, _, _ in rows if int(i) < len(truth)]
    with edgeinfer.load(built["artifacts"]["tflite"]) as model:
        accelerator = model.accelerator
    reports = built["reports"]
    summary = {
        "frames": len(rows),
        "fps": round(stats.frames_published / max(stats.uptime_s, 1e-9), 1),
        "latency_ms": stats.latency_ms,
        "model_ms": stats.infer_ms,
        "accelerator": accelerator,
        "live_accuracy": round(float(np.mean(hits)), 4) if hits else None,
        "float_accuracy": built["training"]["float_accuracy"],
        "int8_accuracy": {k: _int8_accuracy(p) for k, p in built["artifacts"].items()},
        "fidelity": {k: {"passed": r.get("passed"), "outputs": r.get("outputs")} for k, r in reports.items()},
        "sizes_bytes": {k: r.get("sizes_bytes") for k, r in reports.items()},
        "published_to": target,
        "files": {name: str(out / name) for name in ("annotated.mp4", "summary.png", "summary.json", "camera.mp4")},
    }
    from edgeinfer.demo.plot import plot_summary

    plot_summary(out / "summary.png", rows, truth, summary)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return summary


def _print_summary(console: Any, s: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="5/5 edgeinfer demo summary", show_header=False)
    lat = s["latency_ms"]
    table.add_row("frames / fps", f"{s['frames']} frames at {s['fps']} fps")
    table.add_row("latency (capture -> publish)", f"p50 {lat.get('p50', 0):.1f} ms, p90 {lat.get('p90', 0):.1f} ms")
    table.add_row("model (preprocess + infer + decode)", f"p50 {s['model_ms'].get('p50', 0):.1f} ms per frame")
    table.add_row("accelerator", s["accelerator"])
    table.add_row("accuracy", f"float {s['float_accuracy']:.1%}, int8 tflite {s['int8_accuracy']['tflite']:.1%}, "
                  f"int8 onnx {s['int8_accuracy']['onnx']:.1%}, live video {s['live_accuracy']:.1%}")
    table.add_row("results went to", s["published_to"])
    for name, path in s["files"].items():
        table.add_row(name, path)
    console.print(table)
    console.print(LATENCY_NOTE, style="dim")
