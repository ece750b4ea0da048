"""Speech segments from per-window speech probabilities, as a stream (task ``vad``).

:class:`VadSegmenter` follows the rules of silero-vad's ``get_speech_timestamps`` window by
window, so that a segment is known (and emitted) the moment it closes instead of after the
whole file:

- speech starts at the first window with probability ``>= threshold``;
- inside speech, a window below ``neg_threshold`` (default ``threshold - 0.15``) starts a
  possible end; a window back at ``>= threshold`` cancels it; once the silence has lasted
  ``min_silence_ms`` the segment closes at the possible end;
- segments no longer than ``min_speech_ms`` are dropped;
- kept segments are widened by ``speech_pad_ms`` each side, never before 0, past the
  samples seen, or into the previous segment.

One difference from the batch function: when two segments are closer than twice the pad
(only possible with ``min_silence_ms < 2 * speech_pad_ms``), silero splits the gap in the
middle; here the earlier one, already emitted, keeps its full pad and the later one starts
where it ended. ``max_speech_duration_s`` is not supported.
"""

from __future__ import annotations

from edgeinfer.card_schema import VadSpec
from edgeinfer.results.audio import SpeechSegment

__all__ = ["VadSegmenter"]


class VadSegmenter:
    """Turn window probabilities into :class:`SpeechSegment` events with hysteresis.

    Args:
        spec: The card's ``stream.vad`` settings.
        sample_rate: Samples per second.
        hop: Samples between window starts (the time one probability stands for).
    """

    def __init__(self, spec: VadSpec, sample_rate: int, hop: int) -> None:
        self.spec = spec
        self.sample_rate = sample_rate
        self.hop = hop
        self.threshold = spec.threshold
        self.neg_threshold = spec.neg_threshold if spec.neg_threshold is not None else max(spec.threshold - 0.15,
                                                                                          0.01)
        self._min_speech = sample_rate * spec.min_speech_ms / 1000
        self._min_silence = sample_rate * spec.min_silence_ms / 1000
        self._pad = int(sample_rate * spec.speech_pad_ms / 1000)
        self.reset()

    def reset(self) -> None:
        """Forget any open segment and the clock (a new signal starts at sample 0)."""
        self._start: int | None = None  # the open segment's first sample
        self._temp_end: int | None = None  # where a silence inside the open segment began
        self._sum = 0.0  # probabilities of the open segment's windows ...
        self._count = 0
        self._sum_at_end = 0.0  # ... and up to the possible end
        self._count_at_end = 0
        self._last_end = 0  # the previous emitted segment's end (padded), samples
        self._seen = 0

    @property
    def in_speech(self) -> bool:
        """True while a segment is open."""
        return self._start is not None

    def update(self, probability: float, start_sample: int) -> SpeechSegment | None:
        """Take the probability of the window starting at ``start_sample``.

        Returns:
            The segment that closed at this window, or ``None``.
        """
        self._seen = max(self._seen, start_sample + self.hop)
        speech = probability >= self.threshold
        if self._start is None:
            if speech:
                self._start, self._sum, self._count = start_sample, probability, 1
            return None
        self._sum += probability
        self._count += 1
        if speech:
            self._temp_end = None
            return None
        if probability >= self.neg_threshold:
            return None
        if self._temp_end is None:
            self._temp_end = start_sample
            self._sum_at_end, self._count_at_end = self._sum - probability, self._count - 1
        if start_sample - self._temp_end < self._min_silence:
            return None
        return self._close(self._temp_end, self._sum_at_end, self._count_at_end)

    def finish(self, total_samples: int | None = None) -> SpeechSegment | None:
        """End of the signal: close an open segment at its end (``total_samples``, default all seen)."""
        if total_samples is not None:
            self._seen = total_samples
        if self._start is None:
            return None
        return self._close(self._seen, self._sum, self._count)

    def _close(self, end: int, prob_sum: float, count: int) -> SpeechSegment | None:
        start = self._start
        assert start is not None
        self._start = self._temp_end = None
        if end - start <= self._min_speech:
            return None
        padded_start = max(start - self._pad, self._last_end, 0)
        padded_end = min(end + self._pad, self._seen)
        self._last_end = padded_end
        score = prob_sum / count if count else 0.0
        return SpeechSegment(padded_start / self.sample_rate, padded_end / self.sample_rate, float(score))
