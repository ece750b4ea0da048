"""Events: tracked detections to ``new`` / ``update`` / ``end`` events and zone/line counts.

Sits after the tracker in a stream's publish thread: :class:`EventEngine` takes each frame's
tracked :class:`~edgeinfer.results.Detections`, a :class:`ZoneSet` locates them in zones and
on lines, and a :class:`ClipRecorder` writes an MP4 clip per event.
"""

from edgeinfer.events.clips import ClipConfig, ClipRecorder
from edgeinfer.events.engine import ClipRecording, EngineOutput, EventEngine, EventsConfig
from edgeinfer.events.snapshots import SnapshotConfig
from edgeinfer.events.zones import LineConfig, ZoneConfig, ZoneSet, ZonesFile, load_zones, parse_zones

__all__ = [
    "ClipConfig", "ClipRecorder", "ClipRecording", "EngineOutput", "EventEngine", "EventsConfig", "LineConfig",
    "SnapshotConfig", "ZoneConfig", "ZoneSet", "ZonesFile", "load_zones", "parse_zones",
]
