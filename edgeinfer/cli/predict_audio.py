"""``edgeinfer predict MODEL speech.wav --card vad.yaml``: a streaming model over audio files.

Used by :mod:`edgeinfer.cli.predict` when the card has a ``stream:`` section. Each file is
read at the card's ``stream.sample_rate`` (:func:`edgeinfer.sources.audio_file.read_audio`)
and streamed in 20 ms chunks, as a microphone would give it. Task ``vad`` prints each speech
segment (``--json``: one JSON line per segment, as it closes); other tasks print the number
of windows (``--json``: one line per window).
"""

from __future__ import annotations

import json
from typing import Any

import click

from edgeinfer.errors import InputError
from edgeinfer.sources.audio_file import audio_chunks, read_audio

__all__ = ["run_audio"]


def run_audio(model: Any, files: tuple[str, ...], *, as_json: bool) -> int:
    """Stream each file through ``model.streamer()`` and print what it finds; returns the files that failed."""
    spec = model.card.stream
    streamer = model.streamer()
    chunk = max(spec.sample_rate // 50, 1)
    rows, failed = [], 0
    for name in files:
        try:
            samples = read_audio(name, sample_rate=spec.sample_rate)
        except InputError as exc:
            failed += 1
            click.secho(f"error: {exc}", fg="red", err=True)
            continue
        segments, windows = [], 0
        for window in streamer.run(audio_chunks(samples, chunk)):
            windows += window.window > 0
            if as_json and model.card.task != "vad":
                click.echo(json.dumps({"file": name, **window.to_dict()}))
            for segment in window.segments:
                segments.append(segment)
                if as_json:
                    click.echo(json.dumps({"file": name, "task": "vad", **segment.to_dict()}))
        seconds = len(samples) / spec.sample_rate
        if model.card.task == "vad":
            found = "; ".join(f"{s.start:.2f}-{s.end:.2f} s ({s.score:.2f})" for s in segments) or "no speech"
            rows.append((name, f"{seconds:.1f} s, {len(segments)} speech segments: {found}"))
        else:
            rows.append((name, f"{seconds:.1f} s, {windows} windows"))
    if rows and not as_json:
        from rich.table import Table

        from edgeinfer.cli.output import make_console

        table = Table(title=f"{model.name} ({model.card.task}, streamed) on {model.accelerator}")
        table.add_column("file")
        table.add_column("result")
        for name, text in rows:
            table.add_row(name, text)
        make_console().print(table)
    return failed
