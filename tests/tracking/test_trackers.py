"""Trackers on synthetic boxes: stable ids, occlusion within the buffer, the low-score stage,
classes kept apart, ids never reused, both assignment back-ends; and Model.stream(track=True)."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.results import Detections
from edgeinfer.tracking import TrackerConfig, make_tracker

FPS = 15.0


def dets(boxes: list[list[float]], scores: list[float] | None = None, classes: list[int] | None = None) -> Detections:
    n = len(boxes)
    class_ids = np.asarray(classes if classes is not None else [0] * n, np.int64)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4),
                      np.asarray(scores if scores is not None else [0.9] * n, np.float32), class_ids,
                      tuple("cat" if c == 0 else "cup" for c in class_ids))


def box(x: float, y: float, size: float = 40.0) -> list[float]:
    return [x, y, x + size, y + size]


def ids_by_x(out: Detections) -> list[int]:
    assert out.track_ids is not None
    return [int(out.track_ids[i]) for i in np.argsort(out.boxes_xyxy[:, 0])]


@pytest.mark.parametrize("name", ["bytetrack", "iou"])
def test_moving_objects_keep_their_ids(name: str) -> None:
    tracker = make_tracker(name)
    assert tracker is not None
    seen = [ids_by_x(tracker.update(dets([box(10 + 3 * i, 50), box(200 + 2 * i, 120)]), i / FPS)) for i in range(30)]
    assert seen[0] == [1, 2] and all(s == [1, 2] for s in seen)


def test_crossing_objects_keep_their_ids_through_the_kalman_prediction() -> None:
    tracker = make_tracker("bytetrack")
    assert tracker is not None
    first = None
    for i in range(40):
        a, b = box(20 + 8 * i, 100), box(340 - 8 * i, 104)  # they pass each other around i = 20
        out = tracker.update(dets([a, b]), i / FPS)
        assert out.track_ids is not None
        if a[0] == b[0]:
            continue  # the frame where they coincide tells nothing apart
        by_direction = {("right" if out.boxes_xyxy[k, 0] == a[0] else "left"): int(out.track_ids[k])
                        for k in range(len(out))}
        first = first or by_direction
        assert by_direction == first, i


def test_an_occluded_object_gets_its_id_back_within_the_buffer_and_a_new_one_after() -> None:
    tracker = make_tracker(TrackerConfig(track_buffer_s=0.5))
    assert tracker is not None
    t = 0
    for _ in range(10):
        tracker.update(dets([box(10 + 4 * t, 50)]), t / FPS)
        t += 1
    for _ in range(4):  # hidden 4 frames (0.27 s < 0.5 s)
        assert len(tracker.update(dets([]), t / FPS)) == 0
        t += 1
    assert ids_by_x(tracker.update(dets([box(10 + 4 * t, 50)]), t / FPS)) == [1]
    t += 1
    for _ in range(15):  # hidden 1 s > 0.5 s: the track is gone
        tracker.update(dets([]), t / FPS)
        t += 1
    tracker.update(dets([box(10 + 4 * t, 50)]), t / FPS)
    t += 1
    assert ids_by_x(tracker.update(dets([box(10 + 4 * t, 50)]), t / FPS)) == [2]


def test_a_low_score_box_continues_a_track_but_never_starts_one() -> None:
    tracker = make_tracker("bytetrack")
    assert tracker is not None
    for i in range(5):
        tracker.update(dets([box(10 + 4 * i, 50)]), i / FPS)
    continued = tracker.update(dets([box(30, 50)], scores=[0.3]), 5 / FPS)
    assert ids_by_x(continued) == [1]
    fresh = make_tracker("bytetrack")
    assert fresh is not None
    assert all(len(fresh.update(dets([box(10 + 4 * i, 50)], scores=[0.3]), i / FPS)) == 0 for i in range(5))


def test_class_aware_tracks_do_not_swap_classes() -> None:
    tracker = make_tracker("bytetrack")
    assert tracker is not None
    for i in range(5):
        tracker.update(dets([box(10 + 4 * i, 50)], classes=[0]), i / FPS)
    out = tracker.update(dets([box(30, 50)], classes=[1]), 5 / FPS)  # same place, other class
    assert 1 not in (out.track_ids.tolist() if out.track_ids is not None else [])


def test_ids_are_never_reused() -> None:
    tracker = make_tracker(TrackerConfig(track_buffer_s=0.1))
    assert tracker is not None
    ids: list[int] = []
    for k in range(5):  # five objects, one after the other, each gone before the next
        for i in range(4):
            out = tracker.update(dets([box(50 * k, 50 + i)]), (10 * k + i) / FPS)
            ids += [] if out.track_ids is None else out.track_ids.tolist()
        for i in range(4, 10):
            tracker.update(dets([]), (10 * k + i) / FPS)
    assert sorted(set(ids)) == [1, 2, 3, 4, 5]


def test_lap_and_scipy_assignments_give_the_same_tracks(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    rng = np.random.default_rng(0)
    base = rng.uniform(0, 600, (30, 2))
    frames = [np.concatenate([base + 3 * i, base + 3 * i + 30], 1).tolist() for i in range(20)]

    def run() -> list[list[int]]:
        tracker = make_tracker("bytetrack")
        assert tracker is not None
        return [ids_by_x(tracker.update(dets(f), i / FPS)) for i, f in enumerate(frames)]

    with_lap = run()
    monkeypatch.setitem(sys.modules, "lap", None)  # import lap -> ImportError: the scipy path
    assert run() == with_lap


def test_to_dict_carries_track_ids_and_unknown_trackers_are_config_errors() -> None:
    tracker = make_tracker("bytetrack")
    assert tracker is not None
    out = tracker.update(dets([box(1, 1)]), 0.0)
    assert out.to_dict()["detections"][0]["track_id"] == 1
    assert "track_id" not in dets([box(1, 1)]).to_dict()["detections"][0]
    assert make_tracker("none") is None and make_tracker(None) is None
    with pytest.raises(ConfigError, match="bytetrack"):
        make_tracker("bytetrak")


def test_stream_with_track_true_yields_tracked_detections() -> None:
    from edgeinfer.sources import ReplaySource
    from edgeinfer.streaming import stream

    frames = [np.zeros((120, 160, 3), np.uint8) for _ in range(6)]

    def detector(image: np.ndarray, _state: list[int] = [0]) -> Detections:  # noqa: B006
        _state[0] += 1
        return dets([box(5 * _state[0], 20)])

    got = [result.track_ids.tolist() for _, result in stream(detector, ReplaySource(frames), track=True)]
    assert got == [[1]] * 6
