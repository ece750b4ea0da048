"""The tests every source kind passes; a kind subclasses :class:`SourceConformance`.

A subclass defines ``make_source(self, tmp_path) -> (source, expected_count)`` returning
an open source that delivers ``expected_count`` frames and then ends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeinfer.sources import Source, SourceInfo, SourceStats
from edgeinfer.types import Frame


class SourceConformance:
    kind = ""

    def make_source(self, tmp_path: Path) -> tuple[Any, int]:
        raise NotImplementedError

    def test_is_a_source_with_info(self, tmp_path: Path) -> None:
        source, _ = self.make_source(tmp_path)
        with source:
            assert isinstance(source, Source)
            info = source.info
            assert isinstance(info, SourceInfo)
            assert info.kind == self.kind
            assert info.policy in ("latest", "every")
            assert info.width > 0 and info.height > 0
            assert set(info.to_dict()) >= {"kind", "uri", "live", "policy", "width", "height", "fps"}

    def test_frames_are_bgr_uint8_indexed_and_stamped(self, tmp_path: Path) -> None:
        source, expected = self.make_source(tmp_path)
        with source:
            frames: list[Frame] = []
            while (frame := source.read()) is not None:
                frames.append(frame)
        assert len(frames) == expected
        for frame in frames:
            assert frame.image.dtype == np.uint8 and frame.image.ndim == 3 and frame.image.shape[2] == 3
            assert frame.stream == source.info.name
        indices = [f.index for f in frames]
        stamps = [f.timestamp for f in frames]
        assert indices == sorted(set(indices)) and indices[0] == 0
        assert stamps == sorted(stamps)

    def test_ends_and_counts(self, tmp_path: Path) -> None:
        source, expected = self.make_source(tmp_path)
        with source:
            count = sum(1 for _ in source)
            assert source.read() is None  # stays ended
            stats = source.stats()
        assert isinstance(stats, SourceStats)
        assert count == expected == stats.frames_delivered
        assert stats.frames_captured >= count

    def test_close_releases_and_is_idempotent(self, tmp_path: Path) -> None:
        source, _ = self.make_source(tmp_path)
        assert source.read() is not None
        source.close()
        source.close()
        assert source.closed
        assert source.read() is None
