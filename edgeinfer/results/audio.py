"""Results of streaming models: one window's outputs, and speech segments (task ``vad``).

Their JSON payloads::

    {"task": "raw", "window": 3, "start": 0.096, "end": 0.128, "outputs": {"out": [1, 1]}}
    {"task": "vad", "window": 3, "start": 0.096, "end": 0.128, "probability": 0.91,
     "segments": [{"start": 0.53, "end": 1.41, "score": 0.87}]}

Times are seconds on the signal's sample clock (samples / sample rate), not the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np

from edgeinfer.results.core import SCORE_DECIMALS

__all__ = ["SpeechSegment", "StreamWindow"]

TIME_DECIMALS = 6  # microseconds: one sample at 16 kHz is 62.5 us


@dataclass(frozen=True, eq=False)
class SpeechSegment:
    """One stretch of speech, padded as the card's ``stream.vad`` says.

    Attributes:
        start: Start, seconds from the first sample of the stream.
        end: End, seconds.
        score: Mean speech probability of its windows (before padding).
    """

    task: ClassVar[Literal["vad"]] = "vad"
    start: float
    end: float
    score: float

    @property
    def duration(self) -> float:
        """``end - start``, seconds."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """``{"start", "end", "score"}``, rounded."""
        return {"start": round(self.start, TIME_DECIMALS), "end": round(self.end, TIME_DECIMALS),
                "score": round(self.score, SCORE_DECIMALS)}


class StreamWindow(NamedTuple):
    """What one model call over one window gave (:meth:`edgeinfer.streamer.Streamer.process_chunk`).

    A named tuple rather than a frozen dataclass: one is made per window, and at silero-vad's
    0.3 ms a call the dataclass's slower constructor alone was 1% of the time.

    Attributes:
        task: The card's task (``"raw"`` or ``"vad"``).
        number: Window number since the start (or the last ``reset()``), from 0.
        start_sample: The window's first sample (context not counted).
        window: Window length, samples.
        sample_rate: Samples per second of the signal.
        outputs: Every model output of this call (state outputs included).
        probability: Task ``vad``: the window's speech probability, else ``None``.
        segments: Task ``vad``: the speech segments that closed at this window (usually none).
    """

    task: str
    number: int
    start_sample: int
    window: int
    sample_rate: int
    outputs: dict[str, np.ndarray]
    probability: float | None = None
    segments: tuple[SpeechSegment, ...] = ()

    @property
    def start(self) -> float:
        """The window's start, seconds on the sample clock."""
        return self.start_sample / self.sample_rate

    @property
    def end(self) -> float:
        """The window's end, seconds on the sample clock."""
        return (self.start_sample + self.window) / self.sample_rate

    def to_dict(self) -> dict[str, Any]:
        """The JSON payload: window number and times, then outputs' shapes (raw) or probability and segments."""
        out: dict[str, Any] = {"task": self.task, "window": self.number, "start": round(self.start, TIME_DECIMALS),
                               "end": round(self.end, TIME_DECIMALS)}
        if self.task == "vad":
            out["probability"] = None if self.probability is None else round(self.probability, SCORE_DECIMALS)
            out["segments"] = [segment.to_dict() for segment in self.segments]
        else:
            out["outputs"] = {name: list(np.shape(value)) for name, value in self.outputs.items()}
        return out
