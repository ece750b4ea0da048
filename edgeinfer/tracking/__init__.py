"""Tracking: give each detected object an id that lasts across frames.

Sits after decoding, in the pipeline's publish thread, in frame order::

    decode -> Detections -> tracker.update(detections, timestamp) -> Detections with track_ids -> sinks

A tracker is a small object with ``update`` and ``reset`` (:class:`Tracker`); the
built-in ones are ``bytetrack`` (:class:`~edgeinfer.tracking.bytetrack.ByteTracker`) and
``iou`` (:class:`~edgeinfer.tracking.iou.IouTracker`, no motion model, for very slow
devices). Third parties add theirs with ``registry.register`` or an ``edgeinfer.trackers``
entry point; the class is called with a :class:`TrackerConfig`.

Example:
    >>> import numpy as np
    >>> from edgeinfer.results import Detections
    >>> tracker = make_tracker("bytetrack")
    >>> def frame(x):
    ...     return Detections(np.array([[x, 10, x + 40, 90]], np.float32), np.array([0.9], np.float32),
    ...                       np.array([0]), ("person",))
    >>> [tracker.update(frame(10 + 5 * i), timestamp=i / 30).track_ids.tolist() for i in range(3)]
    [[1], [1], [1]]
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeinfer.errors import ConfigError
from edgeinfer.registry import Registry
from edgeinfer.results import Detections

__all__ = ["Tracker", "TrackerConfig", "make_tracker", "registry"]


class TrackerConfig(BaseModel):
    """How objects are followed (the ``tracker:`` key of a stream; ``tracker: bytetrack`` means ``{type: bytetrack}``).

    Scores and overlaps follow ByteTrack's names: detections at or above ``high_score``
    are matched first (on ``IoU * score``, as ByteTrack fuses them), those between
    ``low_score`` and ``high_score`` only continue tracks that are still being followed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bytetrack", "iou", "none"] = "bytetrack"
    high_score: float = Field(0.5, ge=0.0, le=1.0, description="first-stage detections score at least this")
    low_score: float = Field(0.1, ge=0.0, le=1.0, description="second-stage detections score at least this")
    new_track_score: float = Field(0.6, ge=0.0, le=1.0, description="a new track starts only from this score")
    match_iou: float = Field(0.2, ge=0.0, le=1.0, description="least IoU (times score) to match, first stage")
    low_match_iou: float = Field(0.5, ge=0.0, le=1.0, description="least IoU to match, second stage")
    track_buffer_s: float = Field(1.0, ge=0.0, description="a lost track may be found again within this, seconds")
    class_aware: bool = Field(True, description="a track only matches detections of its own class")

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _scores_ordered(self) -> TrackerConfig:
        if self.low_score > self.high_score:
            raise ValueError(f"low_score ({self.low_score}) must not exceed high_score ({self.high_score})")
        return self


@runtime_checkable
class Tracker(Protocol):
    """Follows objects across the frames of one stream; not thread-safe (one per stream)."""

    def update(self, detections: Detections, timestamp: float) -> Detections:
        """Add one frame's detections.

        Args:
            detections: The frame's detections, in frame pixels.
            timestamp: The frame's time, seconds (any clock, increasing).

        Returns:
            The detections that belong to confirmed tracks, with ``track_ids`` set (the
            measured boxes, not predicted ones), best score first. Ids start at 1 and are
            never reused by this tracker.
        """
        ...

    def reset(self) -> None:
        """Forget every track (ids start again at 1)."""
        ...


registry: Registry[Any] = Registry("tracker", entry_point_group="edgeinfer.trackers")
registry.register("bytetrack", "edgeinfer.tracking.bytetrack:ByteTracker", extra="track", package="lap")
registry.register("iou", "edgeinfer.tracking.iou:IouTracker")
_BUILTIN = ("bytetrack", "iou")


def make_tracker(config: TrackerConfig | Tracker | str | bool | None) -> Tracker | None:
    """The tracker a config, name or flag asks for.

    Args:
        config: A :class:`TrackerConfig`; a registered name (``"bytetrack"``, ``"iou"``,
            or a third party's, made with the default settings); ``True`` for the default
            (``bytetrack``); a :class:`Tracker`, returned as it is; ``None``, ``False`` or
            ``"none"`` for no tracking.

    Returns:
        A new tracker, or ``None`` for no tracking.

    Raises:
        ConfigError: the name is not a registered tracker (the message lists the known ones).
        MissingDependencyError: the tracker's dependency is not installed.
    """
    if config is None or config is False or config == "none":
        return None
    if config is True:
        config = TrackerConfig()
    if isinstance(config, str):
        name = config
        config = TrackerConfig.model_validate(name) if name in _BUILTIN else TrackerConfig()
    elif isinstance(config, TrackerConfig):
        if config.type == "none":
            return None
        name = config.type
    elif isinstance(config, Tracker):
        return config
    else:
        raise ConfigError(f"tracker must be a TrackerConfig, a tracker name or a Tracker, got {config!r}")
    tracker: Tracker = registry.get(name)(config)
    return tracker
