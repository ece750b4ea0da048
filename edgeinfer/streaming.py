"""``stream()``: iterate over ``(frame, result)`` pairs, with the pipeline running ahead.

The generator face of :class:`~edgeinfer.pipeline.Pipeline` (``Model.stream`` calls it):
the pipeline hands each result to a one-item (policy ``latest``) or bounded (``every``)
:class:`~edgeinfer.flow.Channel` that the caller's loop reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.flow import Channel
from edgeinfer.gating import FrameGate, GateConfig
from edgeinfer.pipeline import Pipeline
from edgeinfer.sources.base import Source
from edgeinfer.types import Frame

__all__ = ["stream"]


class _GeneratorSink:
    """Hands ``(frame, result)`` pairs to :func:`stream`; newest only with policy ``latest``."""

    draws = True  # gets every frame, also when a stream publishes only events

    def __init__(self, capacity: int, *, keep_latest: bool) -> None:
        self.items: Channel[tuple[Frame, Any]] = Channel(capacity)
        self.keep_latest = keep_latest

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        if frame is None:
            return
        item = Frame(frame, envelope["frame_index"], envelope["timestamp"], envelope["stream"])
        self.items.put((item, result), replace_oldest=self.keep_latest)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        self.items.abort()


def stream(
    model: Any, source: Source | str | int | Path, *, policy: str | None = None,
    gate: FrameGate | GateConfig | bool | None = None, width: int | None = None, height: int | None = None,
    fps: float | None = None, loop: bool = False, name: str = "default", queue_size: int = 2,
    workers: int = 1, track: Any = None,
) -> Iterator[tuple[Frame, Any]]:
    """Yield ``(frame, result)`` pairs from a source, inference running ahead on its own thread.

    With policy ``latest`` (live sources) a slow loop body only ever gets the newest
    result; with ``every`` (files, folders) every frame is yielded in order.
    Closing the generator (``break``) stops the pipeline and releases the source.

    Args:
        model: A ``Model`` or any ``infer(image) -> result`` callable.
        source: An open source, or anything :func:`edgeinfer.sources.open_source` takes.
        policy: ``latest`` or ``every``; default by source kind.
        gate: Frame gating (see :class:`Pipeline`).
        width: Requested frame width, pixels (when ``source`` is opened here).
        height: Requested frame height, pixels.
        fps: Requested frame rate.
        loop: Loop files and folders.
        name: Stream name.
        queue_size: Queue capacity between the stages.
        workers: Interpreters running side by side (see :class:`Pipeline`).
        track: Give detections stable ``track_ids``: ``True`` (ByteTrack), ``"bytetrack"``,
            ``"iou"``, a :class:`~edgeinfer.tracking.TrackerConfig` or a tracker.

    Yields:
        ``(Frame, result)``.
    """
    if isinstance(source, str | int | Path):
        from edgeinfer.sources import open_source

        source = open_source(source, width=width, height=height, fps=fps, policy=policy, loop=loop, name=name)
    latest = source.info.policy == "latest"
    out = _GeneratorSink(1 if latest else queue_size, keep_latest=latest)
    pipeline = Pipeline(source, model, [out], device_id="local", stream_name=source.info.name, gate=gate,
                        queue_size=queue_size, workers=workers, tracker=track)
    pipeline.start()
    try:
        while True:
            item = out.items.get(timeout_s=0.1)
            if item is not None:
                yield item
            elif pipeline.finished and len(out.items) == 0:
                break
        pipeline.raise_error()
    finally:
        out.close()
        pipeline.stop()
