"""URI resolution and the errors users see when a source cannot be opened."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from edgeinfer.errors import ConfigError, MissingDependencyError, SourceError
from edgeinfer.sources import open_source, registry, resolve_uri
from tests.sources.helpers import index_frames, write_video

cv2 = pytest.importorskip("cv2")


def test_resolve_uri_kinds(tmp_path: Path) -> None:
    video = write_video(tmp_path / "a.mp4", index_frames(2))
    (tmp_path / "p.jpg").write_bytes(b"")
    assert resolve_uri(0) == ("camera", "0")
    assert resolve_uri("2") == ("camera", "2")
    assert resolve_uri("/dev/video1") == ("camera", "/dev/video1")
    assert resolve_uri("rtsp://u:p@cam/live") == ("stream", "rtsp://u:p@cam/live")
    assert resolve_uri("https://host/x.m3u8")[0] == "stream"
    assert resolve_uri("gst:videotestsrc ! appsink") == ("gstreamer", "videotestsrc ! appsink")
    assert resolve_uri("picam:1") == ("picamera2", "1")
    assert resolve_uri(video) == ("file", str(video))
    assert resolve_uri(f"file://{video}") == ("file", str(video))
    assert resolve_uri(tmp_path) == ("images", str(tmp_path))
    assert resolve_uri(tmp_path / "*.jpg")[0] == "images"
    assert resolve_uri(tmp_path / "p.jpg")[0] == "images"
    with pytest.raises(SourceError, match="not a camera, URL or existing path"):
        resolve_uri(tmp_path / "missing.mp4")


def test_registry_names_every_kind() -> None:
    assert set(registry.names()) >= {"camera", "file", "stream", "gstreamer", "images", "picamera2", "replay"}
    with pytest.raises(ConfigError, match="Did you mean 'camera'"):
        registry.get("camra")


def test_missing_camera_names_the_device_and_what_to_check() -> None:
    with pytest.raises(SourceError) as info:
        open_source("/dev/video9")
    message = str(info.value)
    assert "/dev/video9" in message
    assert "v4l2-ctl --list-devices" in message


def test_missing_camera_by_index() -> None:
    with pytest.raises(SourceError, match="/dev/video9"):
        open_source(9)


@pytest.mark.skipif(sys.platform != "linux", reason="V4L2 permission hint is Linux-only")
def test_unopenable_device_hints_at_busy_or_permissions(tmp_path: Path) -> None:
    from edgeinfer.sources.camera import camera_open_error

    node = tmp_path / "video7"
    node.write_bytes(b"")
    node.chmod(0o000)
    try:
        import os

        if os.access(node, os.R_OK):  # root ignores permissions
            assert "in use by another process" in camera_open_error(str(node))
        else:
            assert "video' group" in camera_open_error(str(node))
    finally:
        node.chmod(0o600)
    assert "in use by another process" in camera_open_error(str(node))


def test_gstreamer_without_support_says_how_to_fix() -> None:
    from edgeinfer.sources._opencv import has_gstreamer

    if has_gstreamer():
        pytest.skip("this OpenCV has GStreamer")
    with pytest.raises(SourceError) as info:
        open_source("gst:videotestsrc ! videoconvert ! appsink")
    assert "GStreamer: NO" in str(info.value) and "apt install python3-opencv" in str(info.value)


def test_picamera2_missing_is_a_dependency_error() -> None:
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed")
    with pytest.raises(MissingDependencyError, match="picamera2"):
        open_source("picam:0")


def test_bad_policy_is_a_config_error(tmp_path: Path) -> None:
    video = write_video(tmp_path / "a.mp4", index_frames(2))
    with pytest.raises(ConfigError, match="latest, every"):
        open_source(video, policy="newest")


def test_corrupt_video_and_empty_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match=r"bad\.mp4"):
        open_source(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="No images found"):
        open_source(empty)


def test_stream_url_password_is_redacted() -> None:
    from edgeinfer.sources.stream import redact_url

    assert redact_url("rtsp://admin:hunter2@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert redact_url("http://host/x") == "http://host/x"


def test_importing_sources_does_not_import_cv2() -> None:
    code = "import edgeinfer.sources, edgeinfer.pipeline, sys; print('cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_kind_takes_the_target_and_one_options_object() -> None:
    for kind in registry.names():
        params = list(inspect.signature(registry.get(kind).__init__).parameters.values())[1:]
        assert params[1].name == "options" and params[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, kind
        assert not any(p.name in ("width", "policy", "backoff") for p in params), kind
