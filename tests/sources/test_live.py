"""Live sources: newest-frame policy, reconnection after drops, streams that appear late."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from edgeinfer.sources import Backoff, ReplaySource, SourceOptions
from tests.sources.helpers import decode_index, index_frames, write_video

cv2 = pytest.importorskip("cv2")

FAST = Backoff(initial_s=0.01, factor=2.0, max_s=0.05)


def test_backoff_doubles_and_caps() -> None:
    delays = [Backoff(0.5, 2.0, 30.0).delay_s(n) for n in range(10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == 30.0 and max(delays) == 30.0


def test_latest_with_slow_consumer_drops_and_never_goes_stale() -> None:
    fps = 200.0
    with ReplaySource(index_frames(120), fps=fps, realtime=True) as source:
        assert source.info.policy == "latest" and source.info.live
        seen, ages = [], []
        while (frame := source.read()) is not None:
            ages.append(time.time() - frame.timestamp)
            seen.append(frame.index)
            assert decode_index(frame.image) == frame.index
            time.sleep(0.02)  # a model 4x slower than the camera
        stats = source.stats()
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert stats.frames_captured == 120
    assert stats.frames_dropped > 50
    assert stats.frames_dropped + stats.frames_delivered == 120
    # Each frame handed out was the newest: at most about one camera period old.
    assert sorted(ages)[len(ages) // 2] < 2.0 / fps + 0.005
    assert max(ages) < 0.25  # generous: the test machine may be busy


def test_simulated_disconnects_reconnect_and_lose_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="edgeinfer.sources")
    source = ReplaySource(index_frames(30), fps=500, realtime=True, policy="every", backoff=FAST,
                          disconnect_at=[10, 20], failed_reconnects=3)
    with source:
        got = [decode_index(f.image) for f in source]
        stats = source.stats()
    assert got == list(range(30))
    assert (stats.disconnects, stats.reconnects, stats.connected) == (2, 2, True)
    assert source.reader_opens == 3
    assert sum("reconnect attempt" in r.message for r in caplog.records) == 6
    assert sum("reconnected after 3 failed" in r.message for r in caplog.records) == 2


def test_close_interrupts_a_long_reconnect_wait() -> None:
    source = ReplaySource(index_frames(5), fps=500, realtime=True, policy="every",
                          backoff=Backoff(1.0, 2.0, 30.0), disconnect_at=[2], failed_reconnects=100)
    results: list[object] = []
    assert source.read() is not None and source.read() is not None
    reader = threading.Thread(target=lambda: results.append(source.read()))
    reader.start()
    time.sleep(0.1)
    assert source.stats().connected is False
    started = time.monotonic()
    source.close()
    reader.join(3.0)
    assert not reader.is_alive() and results == [None]
    assert time.monotonic() - started < 1.5
    assert source.closed


def _place_later(src: Path, dest: Path, delay_s: float) -> threading.Thread:
    def place() -> None:
        time.sleep(delay_s)
        os.replace(src, dest)  # atomic: the reader never sees half a file

    thread = threading.Thread(target=place)
    thread.start()
    return thread


def test_stream_that_appears_later_and_comes_back_after_a_drop(tmp_path: Path) -> None:
    from edgeinfer.sources.stream import StreamSource

    live = tmp_path / "live.mp4"
    first = write_video(tmp_path / "first.mp4", index_frames(5))
    second = write_video(tmp_path / "second.mp4", index_frames(5, start=100))
    placing = _place_later(first, live, 0.2)
    source = StreamSource(str(live), SourceOptions(policy="every", backoff=FAST, open_timeout_s=10.0))
    placing.join()
    with source:
        got = [decode_index(source.read().image) for _ in range(5)]  # type: ignore[union-attr]
        live.unlink()  # the server goes away at the end of the first stream
        placing = _place_later(second, live, 0.3)
        got += [decode_index(source.read().image) for _ in range(5)]  # type: ignore[union-attr]
        placing.join()
        stats = source.stats()
    assert got == [0, 1, 2, 3, 4, 100, 101, 102, 103, 104]
    assert stats.disconnects == 1 and stats.reconnects == 1
    assert source.info.kind == "stream" and source.info.live


def test_stream_that_never_appears_fails_after_open_timeout(tmp_path: Path) -> None:
    from edgeinfer.errors import SourceError
    from edgeinfer.sources.stream import StreamSource

    started = time.monotonic()
    with pytest.raises(SourceError, match="Cannot open the stream"):
        StreamSource(str(tmp_path / "never.mp4"), SourceOptions(backoff=FAST, open_timeout_s=0.2))
    assert time.monotonic() - started < 2.0


def test_replay_keywords_are_source_options_fields() -> None:
    frames = index_frames(3)
    with ReplaySource(frames, SourceOptions(name="cam", policy="latest"), policy="every") as source:
        assert (source.info.name, source.info.policy) == ("cam", "every")
    with ReplaySource(frames) as source:
        assert source.info.name == "replay"
    with pytest.raises(TypeError, match="fsp"):
        ReplaySource(frames, fsp=30)
