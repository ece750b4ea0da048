"""Every source kind that runs without hardware passes the shared conformance tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgeinfer.sources import Backoff, ReplaySource, open_source
from tests.sources.conformance import SourceConformance
from tests.sources.helpers import index_frames, photos, write_video

cv2 = pytest.importorskip("cv2")

FAST = Backoff(initial_s=0.01, factor=2.0, max_s=0.05)


class TestFileSource(SourceConformance):
    kind = "file"

    def make_source(self, tmp_path: Path) -> tuple[Any, int]:
        path = write_video(tmp_path / "clip.mp4", index_frames(12))
        return open_source(path, name="clip"), 12


class TestImagesSource(SourceConformance):
    kind = "images"

    def make_source(self, tmp_path: Path) -> tuple[Any, int]:
        for name, image in photos().items():
            cv2.imwrite(str(tmp_path / f"{name}.png"), image)
        return open_source(tmp_path, name="photos"), 4


class TestReplayList(SourceConformance):
    kind = "replay"

    def make_source(self, tmp_path: Path) -> tuple[Any, int]:
        return ReplaySource(index_frames(7)), 7


class TestReplayVideoRealtime(SourceConformance):
    kind = "replay"

    def make_source(self, tmp_path: Path) -> tuple[Any, int]:
        path = write_video(tmp_path / "clip.mp4", index_frames(10))
        return ReplaySource(path, fps=200, realtime=True, policy="every", backoff=FAST), 10
