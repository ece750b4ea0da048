"""The live view of ``edgeinfer run``: stream stats and MJPEG over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from edgeinfer.serve import LiveView, RunningServer, create_app, start_in_thread
from tests.conftest import poll_until
from tests.serve.conftest import Photo, cv2, encode


class FrameBoard:
    """A LiveView whose streams show numbered frames; ``advance()`` makes the next one."""

    def __init__(self, photo: Photo, names: tuple[str, ...] = ("front", "back")) -> None:
        self.names = list(names)
        self.base = photo.bgr[:120, :160]
        self.counter = 0
        self.lock = threading.Lock()
        self.frames: dict[str, bytes] = {}
        self.advance()

    def advance(self) -> None:
        with self.lock:
            self.counter += 1
            frame = self.base.copy()
            cv2.putText(frame, str(self.counter), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (0, 255, 0), 3)
            frame[-10:, :] = self.counter * 20 % 256  # a band the test reads back
            self.frames = {name: encode(frame, ".jpg") for name in self.names}

    def stream_names(self) -> list[str]:
        return list(self.names)

    def latest_jpeg(self, name: str) -> bytes | None:
        with self.lock:
            return self.frames.get(name)

    def stream_stats(self) -> dict[str, Any]:
        return {name: {"frames": self.counter, "fps": 12.5} for name in self.names}


def split_parts(data: bytes, boundary: bytes) -> list[bytes]:
    """JPEG payloads of a multipart/x-mixed-replace body, checked against Content-Length."""
    parts = []
    for chunk in data.split(b"--" + boundary + b"\r\n")[1:]:
        head, _, rest = chunk.partition(b"\r\n\r\n")
        length = int(dict(line.split(b": ", 1) for line in head.split(b"\r\n"))[b"Content-Length"])
        assert rest[length:length + 2] == b"\r\n"
        parts.append(rest[:length])
    return parts


def band_value(jpeg: bytes) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return round(float(image[-6:-3, 20:140].mean()))


@pytest.fixture
def board(photo: Photo) -> FrameBoard:
    return FrameBoard(photo)


@pytest.fixture
def server(serve: Callable[..., RunningServer], board: FrameBoard) -> RunningServer:
    return serve(None, live=board)


@pytest.fixture
def ticking(board: FrameBoard) -> Iterator[None]:
    """Advance the board's frames every 30 ms while the test runs."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.03):
            board.advance()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_board_is_a_live_view(board: FrameBoard) -> None:
    assert isinstance(board, LiveView)


def test_streams_lists_names_and_stats(server: RunningServer, board: FrameBoard) -> None:
    body = httpx.get(f"{server.url}/v1/streams").json()
    assert body["streams"] == ["front", "back"]
    assert body["stats"] == board.stream_stats()
    assert httpx.get(f"{server.url}/healthz").json()["streams"] == 2


def test_streams_empty_without_live_view(serve: Callable[..., RunningServer], onnx_model: Any) -> None:
    server = serve(onnx_model)
    assert httpx.get(f"{server.url}/v1/streams").json() == {"streams": [], "stats": {}}
    assert httpx.get(f"{server.url}/v1/streams/front/mjpeg").status_code == 404


@pytest.mark.usefixtures("ticking")
def test_mjpeg_sends_new_frames(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/v1/streams/front/mjpeg", params={"frames": 4, "fps": 50}, timeout=10)
    assert response.status_code == 200
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/x-mixed-replace")
    boundary = content_type.split("boundary=")[1].encode()
    parts = split_parts(response.content, boundary)
    assert len(parts) == 4
    values = [band_value(p) for p in parts]
    assert len(set(values)) == 4  # four different frames, never one sent twice


def test_latest_jpeg_is_the_current_frame(server: RunningServer, board: FrameBoard) -> None:
    board.advance()
    response = httpx.get(f"{server.url}/v1/streams/back/latest.jpg")
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == board.latest_jpeg("back")


def test_unknown_stream_and_bad_fps(server: RunningServer) -> None:
    missing = httpx.get(f"{server.url}/v1/streams/side/mjpeg")
    assert missing.status_code == 404
    assert "front" in missing.json()["error"]
    bad = httpx.get(f"{server.url}/v1/streams/front/mjpeg", params={"fps": "fast"})
    assert bad.status_code == 400
    assert "fps" in bad.json()["error"]


@pytest.mark.usefixtures("ticking")
def test_mjpeg_ends_when_client_disconnects(server: RunningServer) -> None:
    health = f"{server.url}/healthz"
    with httpx.stream("GET", f"{server.url}/v1/streams/front/mjpeg", timeout=10) as response:
        chunks = response.iter_bytes()  # kept: dropping the iterator closes the connection
        assert next(chunks).startswith(b"--frame")
        assert httpx.get(health).json()["mjpeg_clients"] == 1
    assert poll_until(lambda: httpx.get(health).json()["mjpeg_clients"] == 0, timeout_s=5)


def test_stop_ends_open_mjpeg_streams(board: FrameBoard) -> None:
    server = start_in_thread(create_app(None, live=board))
    received: list[bytes] = []
    opened = threading.Event()

    def watch() -> None:
        with httpx.stream("GET", f"{server.url}/v1/streams/front/mjpeg", timeout=10) as response:
            for chunk in response.iter_bytes():
                received.append(chunk)
                opened.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert opened.wait(5)
    started = time.monotonic()
    server.stop()
    watcher.join(5)
    assert not watcher.is_alive()
    assert time.monotonic() - started < 3  # well under uvicorn's graceful timeout
    assert received[0].startswith(b"--frame")


def test_daemon_live_frames_over_http(serve: Callable[..., RunningServer], onnx_model: Any, photo: Photo) -> None:
    from edgeinfer.sinks.live import LiveFrames

    live = LiveFrames(lambda: {"cam": {"fps": 9.5}})
    assert isinstance(live, LiveView)
    result = onnx_model.predict(photo.bgr)
    live.send({"stream": "cam", "frame_index": 1}, frame=photo.bgr, result=result)
    server = serve(onnx_model, live=live)
    assert httpx.get(f"{server.url}/v1/streams").json() == {"streams": ["cam"], "stats": {"cam": {"fps": 9.5}}}
    jpeg = httpx.get(f"{server.url}/v1/streams/cam/latest.jpg").content
    got = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).astype(int)
    import edgeinfer

    expected = edgeinfer.draw(photo.bgr, result).astype(int)
    assert np.abs(got - expected).mean() < 4  # the annotated frame, up to JPEG loss
    mjpeg = httpx.get(f"{server.url}/v1/streams/cam/mjpeg", params={"frames": 1}, timeout=10)
    assert split_parts(mjpeg.content, b"frame") == [jpeg]
