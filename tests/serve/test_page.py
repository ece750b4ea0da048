"""The web page at /, driven by headless Chromium (Debian's ``chromium`` package).

The page runs ``?demo=<image URL>`` on load, so ``--dump-dom`` shows what a person would
see after dropping that image. Without Chromium the browser tests skip, except with
``CI=true`` where they fail (CI installs it: ``apt-get install -y chromium``).
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from edgeinfer.model import Model
from edgeinfer.serve import RunningServer
from tests.serve.conftest import Photo, cv2, encode, result_part
from tests.serve.test_live import FrameBoard

TOKEN = "page-t0ken"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900",
    # Virtual time runs the page's fetches to completion before the DOM is dumped.
    "--virtual-time-budget=8000",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def run_chromium(url: str, profile: Path, *extra: str) -> str:
    """Load ``url`` in headless Chromium and return stdout (the DOM with ``--dump-dom``)."""
    done = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def element_text(dom: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', dom, re.S)
    assert match, f"#{element_id} not in the DOM"
    return html.unescape(match.group(1))


@pytest.fixture
def small_png(photo: Photo) -> bytes:
    return encode(photo.bgr[100:196, 150:278], ".png")  # the cat's face, 128x96


def demo_url(server: RunningServer, image: bytes, fragment: str = "") -> str:
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    return f"{server.url}/?demo={quote(data_url, safe='')}{fragment}"


def test_page_is_self_contained(onnx_server: RunningServer) -> None:
    page = httpx.get(f"{onnx_server.url}/")
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert 'id="file"' in text
    assert 'id="drop"' in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//|@import|https?://", text)


def test_page_shows_result_of_dropped_image(onnx_server: RunningServer, onnx_model: Model, small_png: bytes,
                                            tmp_path: Path) -> None:
    dom = run_chromium(demo_url(onnx_server, small_png), tmp_path / "profile", "--dump-dom")
    assert 'data-state="done"' in dom, element_text(dom, "status")
    shown = json.loads(element_text(dom, "result-json"))
    assert result_part(shown) == onnx_model.predict(small_png).to_dict()
    assert shown["model"] == onnx_model.name
    assert re.search(r'id="annotated"[^>]*src="data:image/jpeg;base64,', dom)
    assert "classification (5 labels)" in element_text(dom, "model-info")


def test_page_screenshot(onnx_server: RunningServer, small_png: bytes, tmp_path: Path) -> None:
    shot = tmp_path / "page.png"
    run_chromium(demo_url(onnx_server, small_png), tmp_path / "profile", f"--screenshot={shot}")
    image = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert image.shape == (900, 1200, 3)
    assert float(image.std()) > 10  # not a blank page
    if os.environ.get("EDGEINFER_KEEP_SCREENSHOT"):
        shutil.copy(shot, os.environ["EDGEINFER_KEEP_SCREENSHOT"])


def test_page_sends_the_token(serve: Callable[..., RunningServer], onnx_model: Model, small_png: bytes,
                              tmp_path: Path) -> None:
    server = serve(onnx_model, token=TOKEN)
    refused = run_chromium(demo_url(server, small_png), tmp_path / "p1", "--dump-dom")
    assert 'data-state="error"' in refused
    assert "HTTP 401" in element_text(refused, "status")
    dom = run_chromium(demo_url(server, small_png, f"#token={TOKEN}"), tmp_path / "p2", "--dump-dom")
    assert 'data-state="done"' in dom, element_text(dom, "status")
    assert result_part(json.loads(element_text(dom, "result-json"))) == onnx_model.predict(small_png).to_dict()


def test_live_page_shows_streams(serve: Callable[..., RunningServer], photo: Photo, tmp_path: Path) -> None:
    board = FrameBoard(photo)
    server = serve(None, live=board, token=TOKEN)
    shot = tmp_path / "live.png"
    url = f"{server.url}/?frames=1#token={TOKEN}"  # one frame per live view, so the page finishes loading
    run_chromium(url, tmp_path / "p1", f"--screenshot={shot}")
    dom = run_chromium(url, tmp_path / "p2", "--dump-dom")
    assert re.search(r'<section id="predict" hidden', dom)  # no model: no upload panel
    for name in board.names:
        assert f'src="v1/streams/{name}/mjpeg?access_token={TOKEN}&amp;frames=1"' in dom
        stats = re.search(rf'data-stream="{name}">(.*?)</pre>', dom, re.S)
        assert stats
        assert json.loads(html.unescape(stats.group(1))) == board.stream_stats()[name]
    blue, _, red = cv2.split(cv2.imread(str(shot), cv2.IMREAD_COLOR).astype(int))
    # The page itself has no warm colours; the cat's fur in the live <img> elements has.
    assert ((red > 120) & (red - blue > 30)).mean() > 0.05
    if os.environ.get("EDGEINFER_KEEP_SCREENSHOT"):
        shutil.copy(shot, Path(os.environ["EDGEINFER_KEEP_SCREENSHOT"]).with_suffix(".live.png"))
