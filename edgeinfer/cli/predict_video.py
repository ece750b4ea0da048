"""``edgeinfer predict MODEL video.mp4 [--track] [--zones zones.yaml] [--save out.mp4]``.

A video, a camera or a stream goes through the same pipeline as ``edgeinfer run``. With
``--track`` or ``--zones`` the command prints events as they happen (an object's ``new``,
its zone changes and line crossings, its ``end``) and a table of the zone and line counts
at the end; otherwise one line per frame. ``--json`` prints the messages as JSON lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgeinfer.sinks.base import BaseSink

__all__ = ["VIDEO_SUFFIXES", "is_stream", "run_video"]

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"}


def is_stream(name: str) -> bool:
    """A video file, a camera index or device, or a stream URL (not an image file)."""
    return (Path(name).suffix.lower() in VIDEO_SUFFIXES or name.isdigit() or name.startswith("/dev/video")
            or "://" in name or name.startswith(("gst:", "picam:")))


def _describe(event: dict[str, Any], t0: float) -> str:
    """One line for an event: time into the video, type, object, and what happened."""
    at = event["timestamp"] - t0
    head = f"{at:8.1f}s  {event['type']:<6} #{event['track_id']:<4} {event['label']} {event['score']:.2f}"
    details = []
    if event["type"] == "end":
        details.append(f"after {event['dwell_s']:.1f}s ({event['end_reason']})")
        if event["entered_zones"]:
            details.append(f"entered {', '.join(event['entered_zones'])}")
        details.extend(f"crossed {c['line']} {c['direction']}" for c in event["crossings"])
    elif event["zones"]:
        details.append(f"in {', '.join(event['zones'])}")
    if event["crossings"] and event["type"] == "update":
        last = event["crossings"][-1]
        details.append(f"crossed {last['line']} {last['direction']}")
    return head + ("  " + "; ".join(details) if details else "")


class _Printer(BaseSink):
    """Prints events (or per-frame results) as they come, and keeps the zone counts."""

    def __init__(self, console: Any, *, as_json: bool, origin: Any) -> None:
        super().__init__()
        self.console, self.as_json, self.origin = console, as_json, origin
        self.counts: dict[str, dict[str, Any]] = {}
        self.events = 0

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        from edgeinfer.cli.predict import summarize

        if self.as_json:
            click.echo(json.dumps(envelope))
        else:
            self.console.print(f"frame {envelope['frame_index']:>5}: {summarize(envelope['result'])}",
                               highlight=False)

    def send_event(self, event: dict[str, Any]) -> None:
        self.events += event["type"] == "new"
        if self.as_json:
            click.echo(json.dumps(event))
        else:
            self.console.print(_describe(event, self.origin() or event["first_seen"]), highlight=False)

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        self.counts[name] = counts
        if self.as_json:
            click.echo(json.dumps(counts))


def run_video(model: Any, source_name: str, *, track: bool, tracker: str, zones: Path | None,
              snapshots: Path | None, save: Path | None, as_json: bool, clips: Path | None = None) -> None:
    """Run ``model`` over a video or camera; print events (``track``/``zones``) or per-frame results.

    Raises:
        EdgeInferError: the source cannot be opened, the zones are invalid, the model is no detector.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from edgeinfer.card_schema import BOX_TASKS
    from edgeinfer.cli.output import make_console
    from edgeinfer.errors import InputError
    from edgeinfer.events import ClipConfig, EventsConfig, SnapshotConfig
    from edgeinfer.pipeline import Pipeline
    from edgeinfer.publishing import EventSetup
    from edgeinfer.sinks.video import VideoSink
    from edgeinfer.sources import open_source

    events = track or zones is not None or snapshots is not None or clips is not None
    if events and model.card.task not in BOX_TASKS:
        raise InputError(f"{model.name}: --track and --zones follow detected objects, but this model's task is "
                         f"{model.card.task!r}; leave them out to print one result per frame")
    source = open_source(int(source_name) if source_name.isdigit() else source_name, name="video")
    console = make_console(stderr=True)
    setup = None
    if events:
        snapshot = None if snapshots is None else SnapshotConfig(dir=snapshots)
        setup = EventSetup(zones_file=zones, events=EventsConfig(snapshots=snapshot),
                           clips=None if clips is None else ClipConfig(dir=clips))
    sinks: list[Any] = []
    pipeline: Any = None
    printer = _Printer(make_console(), as_json=as_json, origin=lambda: pipeline.clock_origin)
    sinks.append(printer)
    if save is not None:
        sinks.append(VideoSink(save, fps=source.info.fps or 15.0))
    try:
        pipeline = Pipeline(source, model, sinks, stream_name="video", tracker=tracker if events else None,
                            events=setup)
    except BaseException:
        source.close()
        raise
    total = source.info.frame_count
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True, disable=as_json or not console.is_terminal) as progress:
        task = progress.add_task(Path(source_name).name, total=total)
        pipeline.start()
        try:
            while not pipeline.finished:
                progress.update(task, completed=pipeline.stats().frames_published)
                pipeline.wait(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            pipeline.close()
    pipeline.raise_error()
    if events and not as_json:
        _print_counts(printer, pipeline.stats().frames_published, save)


def _print_counts(printer: _Printer, frames: int, save: Path | None) -> None:
    from rich.table import Table

    from edgeinfer.cli.output import make_console

    console = make_console()
    console.print(f"{printer.events} object(s) followed over {frames} frames"
                  + (f"; annotated video in {save}" if save else ""), highlight=False)
    if not printer.counts:
        return
    table = Table(title="zones and lines")
    for column in ("name", "kind", "inside", "entered", "left", "in", "out"):
        table.add_column(column)
    for name, c in printer.counts.items():
        is_zone = c.get("kind") == "zone" or "inside" in c
        row = ([str(c.get("inside", 0)), str(c.get("entered", 0)), str(c.get("left", 0)), "", ""] if is_zone
               else ["", "", "", str(c.get("in", 0)), str(c.get("out", 0))])
        table.add_row(name, "zone" if is_zone else "line", *row)
    console.print(table)
