"""`edgeinfer run` with an `http` section serves each stream's live view and stats."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.daemon.helpers import finish, make_model, make_video, produced, start_daemon, write_config


def test_daemon_serves_live_view_and_stream_stats(
    tmp_path: Path, mosquitto: Any, free_port: Any, wait_for: Any
) -> None:
    import cv2

    make_model(tmp_path)
    make_video(tmp_path / "clip.mp4", 20)
    port = free_port()
    config = write_config(tmp_path, mosquitto, source="clip.mp4", device_id="cam-http",
                          stream_extra={"loop": True}, http={"host": "127.0.0.1", "port": port, "token": "t0k"})
    daemon = start_daemon(config)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": "Bearer t0k"}
    try:
        assert wait_for(lambda: len(produced(tmp_path)) >= 10, timeout_s=30)

        def streams() -> Any:
            try:
                return httpx.get(f"{base}/v1/streams", headers=headers, timeout=2)
            except httpx.HTTPError:
                return None

        assert wait_for(lambda: (r := streams()) is not None and r.status_code == 200, timeout_s=15)
        stats = streams().json()
        assert "front" in str(stats)
        assert httpx.get(f"{base}/v1/streams", timeout=2).status_code == 401
        jpeg = httpx.get(f"{base}/v1/streams/front/latest.jpg", headers=headers, timeout=5)
        assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (120, 160, 3)
        page = httpx.get(f"{base}/", timeout=2)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        daemon.send_signal(signal.SIGTERM)
        code, err = finish(daemon, timeout_s=20)
    assert code == 0, err
