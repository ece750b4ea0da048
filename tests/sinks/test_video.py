"""Video sink: annotated MP4 and image folders, read back with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeinfer.errors import SinkError
from edgeinfer.results import Detections
from edgeinfer.sinks import make_envelope, registry
from edgeinfer.sinks.video import VideoSink


def detections() -> Detections:
    return Detections(boxes_xyxy=np.array([[16, 16, 112, 80]], np.float32), scores=np.array([0.9], np.float32),
                      class_ids=np.array([0], np.int64), labels=("cat",))


def read_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def test_mp4_gets_every_frame_with_the_result_drawn(tmp_path: Path) -> None:
    assert registry.get("video") is VideoSink
    black = np.zeros((96, 128, 3), np.uint8)
    with VideoSink(tmp_path / "out" / "{stream}.mp4", fps=10) as sink:
        for i in range(5):
            env = make_envelope(device_id="d", stream="front", frame_index=i, result=detections())
            sink.send(env, frame=black, result=detections() if i < 3 else None)
    frames = read_frames(tmp_path / "out" / "front.mp4")
    assert len(frames) == 5 and frames[0].shape == (96, 128, 3)
    box_edge = (slice(14, 19), slice(40, 90))  # the top edge of the box, away from the label
    assert frames[0][box_edge].mean() > 40  # drawn
    assert frames[4][box_edge].mean() < 10  # no result given: the frame as it was


def test_folder_of_images_named_by_stream_and_index(tmp_path: Path) -> None:
    frame = np.full((32, 48, 3), 200, np.uint8)
    with VideoSink(tmp_path / "shots", image_format="png") as sink:
        for i in (3, 4):
            sink.send(make_envelope(device_id="d", stream="back/door", frame_index=i, result={}), frame=frame)
    files = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert files == ["back_door_000003.png", "back_door_000004.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "shots" / files[0])), frame)


def test_a_frame_is_required(tmp_path: Path) -> None:
    with VideoSink(tmp_path / "x.mp4") as sink, pytest.raises(SinkError, match="needs the frame"):
        sink.send(make_envelope(device_id="d", stream="s", frame_index=0, result={}))
