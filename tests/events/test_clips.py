"""Event clips: real MP4 files written by OpenCV into tmp_path, read back with OpenCV and ffprobe.

Frames are 64x48 and their brightness encodes their index (``index * STEP``), so a test reads a
clip back and knows which frames it holds (mp4v blurs the value by a few levels, hence +-1).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydantic
import pytest

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.events import EventEngine, EventsConfig, _clipwriter, parse_zones
from edgeinfer.events.clips import FALLBACK_FPS, ClipConfig, ClipRecorder, measure_fps
from edgeinfer.events.engine import ClipRecording
from edgeinfer.results import Detections

W, H = 64, 48
STEP = 4  # brightness per frame index: indices 0..63 fit in uint8
DT = 0.1  # 10 fps
FFPROBE = shutil.which("ffprobe")
needs_ffprobe = pytest.mark.skipif(FFPROBE is None, reason="ffprobe is not installed (apt-get install ffmpeg)")


def frame(i: int, size_wh: tuple[int, int] = (W, H)) -> np.ndarray:
    """A frame whose brightness is ``i * STEP``."""
    return np.full((size_wh[1], size_wh[0], 3), (i * STEP) % 256, np.uint8)


def read_clip(path: Path) -> tuple[list[int], float, tuple[int, int]]:
    """The frame indices in a clip (from their brightness), its fps and its ``(width, height)``."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"OpenCV cannot open {path}"
    fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    indices = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        indices.append(round(float(image.mean()) / STEP))
    cap.release()
    return indices, fps, size


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a clip: ``{"duration": s, "nb_frames": n, "codec": name}``."""
    assert FFPROBE is not None
    out = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "format=duration:stream=nb_frames,codec_name", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    return {"duration": float(info["format"]["duration"]), "nb_frames": int(info["streams"][0]["nb_frames"]),
            "codec": info["streams"][0]["codec_name"]}


def feed(rec: ClipRecorder, first: int, last: int, events: dict[int, list[tuple[str, str]]] | None = None,
         size_for: Callable[[int], tuple[int, int]] | None = None) -> dict[str, Path]:
    """Add frames ``first..last`` (at ``i * DT``); ``events[i]``: ``("start" | "stop", id)`` after frame i."""
    paths = {}
    for i in range(first, last + 1):
        rec.add_frame(frame(i, size_for(i) if size_for else (W, H)), i * DT)
        for action, event_id in (events or {}).get(i, []):
            if action == "start":
                paths[event_id] = rec.start(event_id, i * DT)
            else:
                rec.stop(event_id, i * DT)
    return paths


def parts(root: Path) -> list[Path]:
    return sorted(root.rglob(".part/*"))


def make_clip(root: Path, event_id: str, stream: str = "cam", **cfg: Any) -> Path:
    """One finished 11-frame clip (1 s at 10 fps) of ``event_id``."""
    with ClipRecorder(ClipConfig(dir=root, pre_s=0.5, post_s=0.5, **cfg), stream=stream) as rec:
        paths = feed(rec, 0, 10, {5: [("start", event_id), ("stop", event_id)]})
    return paths[event_id]


def test_clip_covers_pre_s_before_new_to_post_s_after_end(tmp_path: Path) -> None:
    rec = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=1.0, post_s=1.0), stream="cam")
    paths = feed(rec, 0, 70, {30: [("start", "ev1")], 50: [("stop", "ev1")]})
    assert paths["ev1"] == tmp_path / "cam" / "ev1.mp4"
    rec.close()
    indices, fps, size = read_clip(paths["ev1"])
    assert (fps, size) == (10.0, (W, H))
    assert abs(indices[0] - 20) <= 1 and abs(indices[-1] - 60) <= 1  # 1 s before frame 30 .. 1 s after 50
    assert len(indices) == 41
    assert rec.stats()["clips_written"] == 1 and rec.stats()["clips_failed"] == 0
    assert rec.stats()["bytes_on_disk"] == paths["ev1"].stat().st_size
    assert parts(tmp_path) == []


@needs_ffprobe
def test_clip_plays_in_ffprobe_with_the_right_duration(tmp_path: Path) -> None:
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=1.0, post_s=1.0), stream="cam") as rec:
        paths = feed(rec, 0, 70, {30: [("start", "ev1")], 50: [("stop", "ev1")]})
    info = ffprobe(paths["ev1"])
    assert info["codec"] == "mpeg4" and info["nb_frames"] == 41
    assert info["duration"] == pytest.approx(4.1, abs=0.11)


def test_overlapping_events_each_get_their_own_clip(tmp_path: Path) -> None:
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.5, post_s=0.5), stream="cam") as rec:
        paths = feed(rec, 0, 60, {20: [("start", "a")], 30: [("start", "b")], 35: [("stop", "a")],
                                  50: [("stop", "b")]})
    a, _, _ = read_clip(paths["a"])
    b, _, _ = read_clip(paths["b"])
    assert abs(a[0] - 15) <= 1 and abs(a[-1] - 40) <= 1
    assert abs(b[0] - 25) <= 1 and abs(b[-1] - 55) <= 1
    assert rec.stats()["clips_written"] == 2


def test_close_finishes_open_clips_with_the_frames_they_have(tmp_path: Path) -> None:
    rec = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.5, post_s=5.0), stream="cam")
    paths = feed(rec, 0, 30, {10: [("start", "open")], 20: [("start", "ending"), ("stop", "ending")]})
    assert sorted(rec.open_clips) == ["ending", "open"]
    rec.close()
    assert abs(read_clip(paths["open"])[0][-1] - 30) <= 1
    assert abs(read_clip(paths["ending"])[0][0] - 15) <= 1
    assert parts(tmp_path) == [] and rec.open_clips == []
    rec.add_frame(frame(31), 3.1)  # after close: ignored
    with pytest.raises(RuntimeError, match="closed"):
        rec.start("late", 3.1)


def test_a_frame_size_change_is_resized_to_the_clips_size(tmp_path: Path) -> None:
    # The clip starts on the first frame, before a rate can be measured: the source's rate is used.
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.0, post_s=0.0), stream="cam", source_fps=1 / DT) as rec:
        paths = feed(rec, 0, 20, {0: [("start", "ev")], 20: [("stop", "ev")]},
                     size_for=lambda i: (W, H) if i < 10 else (2 * W, 2 * H))
    indices, _, size = read_clip(paths["ev"])
    assert size == (W, H) and len(indices) == 21 and abs(indices[-1] - 20) <= 1


def test_fps_is_measured_from_the_timestamps_or_configured(tmp_path: Path) -> None:
    assert measure_fps([0.0, 0.2, 0.4, 0.6, 1.6]) == 5.0  # the median step: one stall does not count
    assert measure_fps([1.0]) is None and measure_fps([2.0, 2.0]) is None
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=1.0, post_s=0.0), stream="slow") as rec:
        for i in range(20):
            rec.add_frame(frame(i), i * 0.2)
        slow = rec.start("slow", 3.8)
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=1.0, post_s=0.0, fps=25), stream="fixed") as rec:
        fixed = feed(rec, 0, 5, {5: [("start", "fixed")]})["fixed"]
    with ClipRecorder(ClipConfig(dir=tmp_path), stream="one") as rec:
        rec.add_frame(frame(0), 0.0)
        one = rec.start("one", 0.0)
    assert read_clip(slow)[1] == 5.0 and read_clip(fixed)[1] == 25.0 and read_clip(one)[1] == FALLBACK_FPS


def test_a_gap_in_the_frames_repeats_the_last_frame_so_the_clip_plays_in_real_time(tmp_path: Path) -> None:
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=1.0, post_s=0.0), stream="cam") as rec:
        frames = [i for i in range(40) if not 20 <= i < 25]  # the camera stalled for 0.5 s
        for i in frames:
            rec.add_frame(frame(i), i * DT)
            if i == 10:
                path = rec.start("ev", i * DT)
        rec.stop("ev", 39 * DT)
    indices, _, _ = read_clip(path)
    assert len(indices) == 40  # frames 0..39 on the 10 fps grid
    assert all(abs(v - 19) <= 1 for v in indices[20:25])  # frame 19 shown through the stall


def test_a_full_queue_drops_frames_and_never_blocks_the_caller(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_open = _clipwriter.open_video

    def stalled_open(*args: Any) -> Any:
        release.wait(timeout=30)  # the encoder stalls until the caller is done
        return real_open(*args)

    monkeypatch.setattr(_clipwriter, "open_video", stalled_open)
    rec = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.5, post_s=0.0), stream="cam", max_queued_frames=8)
    paths = feed(rec, 0, 40, {5: [("start", "ev")]})  # returns although nothing was encoded
    dropped = rec.stats()["frames_dropped"]
    assert dropped == 41 - 8
    release.set()
    rec.close()
    assert rec.stats()["clips_written"] == 1 and paths["ev"].is_file()


def test_retention_by_size_deletes_the_oldest_and_never_a_clip_being_written(
        tmp_path: Path, wait_for: Callable[..., bool]) -> None:
    limit_mb = 0.01  # 10 kB: a few of these clips
    live = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.0, max_total_mb=limit_mb), stream="live")
    live.add_frame(frame(0), 0.0)
    live_path = live.start("live", 0.0)
    live_part = tmp_path / "live" / ".part" / "live.mp4"
    assert wait_for(live_part.exists)
    old = time.time() - 3600
    os.utime(live_part, (old, old))  # the oldest file of all, and still being written
    made = [make_clip(tmp_path, f"e{i:02d}", max_total_mb=limit_mb) for i in range(12)]
    kept = [p for p in made if p.exists()]
    assert made[-1] in kept and made[0] not in kept
    assert kept == made[len(made) - len(kept):]  # the newest survive, in order
    assert sum(p.stat().st_size for p in kept) <= limit_mb * 1e6
    assert live_part.exists()
    feed(live, 1, 5)
    live.close()
    assert read_clip(live_path)[0][-1] in (4, 5, 6)


def test_retention_by_age_at_start_up(tmp_path: Path) -> None:
    old_clip, new_clip = make_clip(tmp_path, "old"), make_clip(tmp_path, "new", stream="other")
    hours_ago = time.time() - 100 * 3600
    os.utime(old_clip, (hours_ago, hours_ago))
    ClipRecorder(ClipConfig(dir=tmp_path, max_age_h=72), stream="cam").close()
    assert not old_clip.exists() and new_clip.exists()
    os.utime(new_clip, (hours_ago, hours_ago))
    rec = ClipRecorder(ClipConfig(dir=tmp_path, max_age_h=None), stream="cam")
    assert new_clip.exists() and rec.stats()["bytes_on_disk"] == new_clip.stat().st_size


def test_leftover_part_files_are_deleted_at_start_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clip = make_clip(tmp_path, "whole")
    for stream in ("cam", "other"):
        (tmp_path / stream / ".part").mkdir(parents=True, exist_ok=True)
        (tmp_path / stream / ".part" / "killed.mp4").write_bytes(clip.read_bytes()[:200])  # no index
    with caplog.at_level(logging.WARNING, logger="edgeinfer.events.clips"):
        ClipRecorder(ClipConfig(dir=tmp_path), stream="cam").close()
    assert not (tmp_path / "cam" / ".part" / "killed.mp4").exists()
    assert (tmp_path / "other" / ".part" / "killed.mp4").exists()  # another stream's: maybe live
    assert clip.exists() and "killed.mp4" in caplog.text


def test_a_full_disk_mid_clip_abandons_it_without_raising(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class FullDisk:
        def __init__(self, video: Any) -> None:
            self.video, self.frames = video, 0

        def write(self, image: np.ndarray) -> None:
            self.frames += 1
            if self.frames > 5:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.video.write(image)

        def release(self) -> None:
            self.video.release()

    real_open = _clipwriter.open_video
    monkeypatch.setattr(_clipwriter, "open_video", lambda *a: FullDisk(real_open(*a)))
    with ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.5, post_s=0.5), stream="cam") as rec:
        paths = feed(rec, 0, 30, {10: [("start", "ev")], 20: [("stop", "ev")]})
    assert rec.stats()["clips_failed"] == 1 and rec.stats()["clips_written"] == 0
    assert not paths["ev"].exists() and parts(tmp_path) == []


def test_a_device_with_no_space_fails_the_writer_open_and_the_next_clip_works(tmp_path: Path) -> None:
    rec = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.0, post_s=0.0), stream="cam")
    (tmp_path / "cam" / ".part").mkdir(parents=True)
    (tmp_path / "cam" / ".part" / "full.mp4").symlink_to("/dev/full")  # every write: ENOSPC
    paths = feed(rec, 0, 10, {0: [("start", "full")], 5: [("stop", "full")], 6: [("start", "ok")],
                              10: [("stop", "ok")]})
    rec.close()
    assert rec.stats()["clips_failed"] == 1 and rec.stats()["clips_written"] == 1
    assert not paths["full"].exists() and paths["ok"].is_file() and parts(tmp_path) == []


def test_a_clips_dir_that_cannot_be_made_is_counted_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the clips folder should be")
    with ClipRecorder(ClipConfig(dir=blocker), stream="cam") as rec:
        feed(rec, 0, 5, {1: [("start", "ev"), ("stop", "ev")]})
    assert rec.stats()["clips_failed"] == 1 and rec.stats()["clips_written"] == 0


def test_config_and_names_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="FourCC"):
        ClipConfig(codec="h264x")
    with pytest.raises(pydantic.ValidationError):
        ClipConfig(pre_s=-1)
    with pytest.raises(pydantic.ValidationError):
        ClipConfig(max_total_mb=0)
    with pytest.raises(pydantic.ValidationError):
        ClipConfig(unknown=1)  # type: ignore[call-arg]
    schema = ClipConfig.model_json_schema()
    assert all(prop.get("description") for prop in schema["properties"].values())
    with pytest.raises(ConfigError, match="stream name"):
        ClipRecorder(ClipConfig(), stream="../cam")
    with pytest.raises(InputError, match="event id"):
        ClipRecorder(ClipConfig(dir=Path("unused")), stream="cam").start("a/b", 0.0)


def test_the_engine_records_a_clip_per_event(tmp_path: Path) -> None:
    zones = parse_zones({"zones": {"all": {"polygon": [[0, 0], [W, 0], [W, H], [0, H]]}}})
    rec = ClipRecorder(ClipConfig(dir=tmp_path, pre_s=0.5, post_s=0.5), stream="cam")
    recording: ClipRecording = rec
    eng = EventEngine(EventsConfig(min_frames=1, max_lost_s=0.3, snapshots=None), device_id="d", stream="cam",
                      zones=zones, clips=recording)
    events = []
    for i in range(40):
        seen = 10 <= i < 20
        d = Detections(np.array([[10, 10, 30, 30]] if seen else [], np.float32).reshape(-1, 4),
                       np.array([0.9] if seen else [], np.float32), np.array([0] if seen else [], np.int64),
                       ("person",) if seen else (), track_ids=np.array([7] if seen else [], np.int64))
        events.extend(eng.update(frame(i), i * DT, d).events)
    rec.close()
    new, end = events[0], next(e for e in events if e["type"] == "end")
    clip = Path(new["clip"])
    assert clip.parent == tmp_path / "cam" and clip.is_file()
    indices, _, _ = read_clip(clip)
    assert abs(indices[0] - 5) <= 1  # 0.5 s before the event's start at frame 10
    assert abs(indices[-1] * DT - (end["timestamp"] + 0.5)) <= 0.11
