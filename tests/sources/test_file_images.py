"""Files and folders: every frame exactly once, in order; loops; real photos unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeinfer.errors import ImageTooLargeError, SourceError
from edgeinfer.sources import open_source
from tests.image_bombs import png_bomb
from tests.sources.helpers import decode_index, index_frames, photos, write_video

cv2 = pytest.importorskip("cv2")


def test_every_frame_of_a_video_once_in_order(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", index_frames(40), fps=25.0)
    with open_source(path) as source:
        assert source.info.policy == "every" and not source.info.live
        assert source.info.frame_count == 40 and source.info.fps == pytest.approx(25.0)
        assert (source.info.width, source.info.height) == (96, 64)
        frames = list(source)
    assert [f.index for f in frames] == list(range(40))
    assert [decode_index(f.image) for f in frames] == list(range(40))


def test_loop_restarts_and_keeps_counting(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", index_frames(5))
    with open_source(path, loop=True) as source:
        frames = [source.read() for _ in range(12)]
    assert [f.index for f in frames if f] == list(range(12))
    assert [decode_index(f.image) for f in frames if f] == [i % 5 for i in range(12)]


def test_folder_and_glob_in_path_order_pixel_exact(tmp_path: Path) -> None:
    images = photos()
    for name, image in images.items():
        cv2.imwrite(str(tmp_path / f"{name}.png"), image)
    cv2.imwrite(str(tmp_path / "zz_extra.jpg"), images["coffee"])
    with open_source(tmp_path / "*.png") as source:
        got = list(source)
    assert [f.index for f in got] == [0, 1, 2, 3]
    for frame, name in zip(got, sorted(images), strict=True):
        np.testing.assert_array_equal(frame.image, images[name])
    with open_source(tmp_path) as folder:
        assert folder.info.frame_count == 5
        assert sum(1 for _ in folder) == 5


def test_corrupt_image_in_folder_names_the_file(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), photos()["chelsea"])
    (tmp_path / "b.png").write_bytes(b"\x89PNG garbage")
    with open_source(tmp_path) as source:
        assert source.read() is not None
        with pytest.raises(SourceError, match=r"b\.png"):
            source.read()


def test_an_image_bomb_in_a_folder_is_refused_from_its_header(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), photos()["chelsea"])
    (tmp_path / "b.png").write_bytes(png_bomb(10000, 6000))  # 60 MP, 180 MB once decoded
    with open_source(tmp_path) as source:
        assert (source.info.width, source.info.height) == photos()["chelsea"].shape[1::-1]
        assert source.read() is not None
        with pytest.raises(ImageTooLargeError, match=r"b\.png is 10000 x 6000 = 60\.0 MP"):
            source.read()


def test_latest_policy_on_a_file_skips_but_stays_ordered(tmp_path: Path) -> None:
    import time

    path = write_video(tmp_path / "clip.mp4", index_frames(60))
    with open_source(path, policy="latest") as source:
        seen = []
        while (frame := source.read()) is not None:
            seen.append(frame.index)
            time.sleep(0.01)
        stats = source.stats()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert stats.frames_captured == 60
    assert stats.frames_dropped == 60 - len(seen) > 0
