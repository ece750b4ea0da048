"""Pydantic models of the messages :class:`~edgeinfer.events.engine.EventEngine` emits, and their JSON Schema.

``event.schema.json`` beside this module (and ``docs/event.schema.json``) is the output of
``python -m edgeinfer.events.schema``; a test checks both equal :func:`event_schema`.
The models mirror the dicts built in ``engine.py`` (events) and ``counting.py`` (counts):
every key is required, unknown keys are not allowed.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Crossing", "EventMessage", "LineCounts", "LineLabelCounts", "Snapshot", "ZoneCounts",
           "ZoneLabelCounts", "event_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_TITLE = "edgeinfer event message"


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Crossing(_Message):
    """One crossing of a line by the event's track."""

    line: str = Field(description="The line's name.")
    direction: Literal["in", "out"] = Field(description="in: from the left of A->B to its right on screen.")
    timestamp: float = Field(description="Frame time of the crossing, seconds.")


class Snapshot(_Message):
    """The JPEG files of the track's best detection."""

    frame: str | None = Field(description="Path of the whole frame, null when off or not written.")
    crop: str | None = Field(description="Path of the padded crop of the box, null when off or not written.")
    score: float = Field(description="Score of the detection shown.")
    timestamp: float = Field(description="Frame time of the detection shown, seconds.")


class EventMessage(_Message):
    """One ``new``, ``update`` or ``end`` message of a tracked object."""

    kind: Literal["event"]
    type: Literal["new", "update", "end"]
    event_id: str = Field(description="Unique, the same in all messages of the event.")
    device_id: str
    stream: str
    model: str
    timestamp: float = Field(description="Frame time of this message, seconds.")
    track_id: int
    label: str = Field(description="The class the track was detected as most often.")
    class_id: int
    score: float = Field(description="Best score so far.")
    box_xyxy: list[float] = Field(min_length=4, max_length=4, description="Latest box, frame pixels.")
    first_seen: float
    last_seen: float
    dwell_s: float
    zones: list[str] = Field(description="Zones the track is inside now.")
    entered_zones: list[str] = Field(description="Zones the track ever entered.")
    crossings: list[Crossing]
    path: list[tuple[float, float, float]] = Field(description="[t, x, y] anchor points (bottom center), decimated.")
    snapshot: Snapshot | None
    clip: str | None = Field(description="Path of the event's video clip, null without clips.")
    end_reason: Literal["lost", "source_ended", "stopped", "interrupted"] | None = Field(
        description="Why the event ended; null unless type is end.")


class ZoneLabelCounts(_Message):
    """A zone's counts for one label."""

    inside: int
    entered: int
    left: int


class ZoneCounts(_Message):
    """The counts of one zone (retained on ``edgeinfer/{device_id}/{stream}/zones/{name}``)."""

    kind: Literal["zone"]
    name: str
    stream: str
    timestamp: float = Field(description="Frame time of the last change, seconds.")
    polygon: list[tuple[float, float]] = Field(description="The zone's [x, y] points in frame pixels.")
    inside: int
    entered: int
    left: int
    by_label: dict[str, ZoneLabelCounts]


class LineLabelCounts(_Message):
    """A line's counts for one label."""

    in_: int = Field(alias="in")
    out: int


class LineCounts(_Message):
    """The counts of one line (retained on ``edgeinfer/{device_id}/{stream}/zones/{name}``)."""

    kind: Literal["line"]
    name: str
    stream: str
    timestamp: float = Field(description="Frame time of the last change, seconds.")
    points: tuple[tuple[float, float], tuple[float, float]] = Field(
        description="[[x1, y1], [x2, y2]]: the directed line A->B in frame pixels.")
    in_: int = Field(alias="in")
    out: int
    by_label: dict[str, LineLabelCounts]


def event_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of :class:`EventMessage`."""
    schema = EventMessage.model_json_schema(by_alias=True)
    return {"$schema": SCHEMA_DIALECT, **schema, "title": SCHEMA_TITLE}


if __name__ == "__main__":
    print(json.dumps(event_schema(), indent=2))
