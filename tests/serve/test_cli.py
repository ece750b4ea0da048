"""``edgeinfer serve`` as a real process: token from the environment, examples/http_client.py
against it, graceful exit on SIGTERM; and serve_forever's error for a port in use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

import edgeinfer
from edgeinfer.errors import EdgeInferError
from edgeinfer.serve import create_app, serve_forever
from tests.conftest import find_free_port, poll_until
from tests.image_bombs import png_bomb
from tests.serve.conftest import Photo, cv2, result_part

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "examples" / "http_client.py"
TOKEN = "cli-t0ken"


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def served(onnx_model_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = find_free_port()
    env = {**os.environ, "EDGEINFER_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from edgeinfer.cli import main; main()", "serve", str(onnx_model_path),
         "--port", str(port), "--max-body-mb", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not poll_until(lambda: proc.poll() is None and healthy(url), timeout_s=60, interval_s=0.2):
            proc.kill()
            pytest.fail(f"edgeinfer serve did not start: {proc.communicate()[1][-3000:]}")
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def photo_file(photo: Photo, tmp_path: Path) -> Path:
    path = tmp_path / "cat.jpg"
    path.write_bytes(photo.jpeg)
    return path


def run_client(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "EDGEINFER_TOKEN"}
    return subprocess.run([sys.executable, str(CLIENT), *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


def test_cli_server_uses_token_from_environment(served: tuple[str, subprocess.Popen[str]],
                                                onnx_model_path: Path, photo: Photo) -> None:
    url, _ = served
    assert httpx.post(f"{url}/v1/predict", content=photo.jpeg).status_code == 401
    response = httpx.post(f"{url}/v1/predict", content=photo.jpeg, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    with edgeinfer.load(onnx_model_path) as model:
        assert result_part(response.json()) == model.predict(photo.jpeg).to_dict()
    big = httpx.post(f"{url}/v1/predict", content=b"\0" * (1024 * 1024 + 1),
                     headers={"Authorization": f"Bearer {TOKEN}"})
    assert big.status_code == 413  # --max-body-mb 1


def test_example_client(served: tuple[str, subprocess.Popen[str]], onnx_model_path: Path, photo_file: Path,
                        tmp_path: Path) -> None:
    url, _ = served
    out = tmp_path / "annotated.jpg"
    done = run_client("--url", url, "--image", str(photo_file), "--token", TOKEN, "--save", str(out))
    assert done.returncode == 0, done.stderr
    with edgeinfer.load(onnx_model_path) as model:
        top = model.predict(photo_file).to_dict()["top"][0]
    assert f"cat.jpg: {top['label']} {top['score']:.3f}" in done.stdout
    assert "server: cnn.onnx on cpu" in done.stdout
    assert cv2.imread(str(out), cv2.IMREAD_COLOR).shape[:2] == (300, 451)
    refused = run_client("--url", url, "--image", str(photo_file))
    assert refused.returncode == 1
    assert "HTTP 401" in refused.stderr


def test_example_client_unreachable(photo_file: Path) -> None:
    done = run_client("--url", f"http://127.0.0.1:{find_free_port()}", "--image", str(photo_file))
    assert done.returncode == 2
    assert "cannot reach" in done.stderr


def test_concurrent_png_bombs_keep_the_server_small_and_alive(served: tuple[str, subprocess.Popen[str]],
                                                             photo: Photo) -> None:
    url, proc = served
    server = psutil.Process(proc.pid)
    bomb = png_bomb()  # 20000 x 20000: 1.2 GB each once decoded
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "image/png"}
    rss_before = server.memory_info().rss
    peak = [rss_before]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], server.memory_info().rss)
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: httpx.post(f"{url}/v1/predict", content=bomb, headers=headers,
                                                         timeout=30), range(4)))
    finally:
        sampling.set()
        sampler.join()
    assert [a.status_code for a in answers] == [413] * 4
    assert peak[0] - rss_before < 150 * 1024 * 1024, f"server RSS grew by {(peak[0] - rss_before) / 2**20:.0f} MiB"
    still = httpx.post(f"{url}/v1/predict", content=photo.jpeg, headers={**headers, "Content-Type": "image/jpeg"})
    assert still.status_code == 200


def test_sigterm_stops_gracefully(served: tuple[str, subprocess.Popen[str]]) -> None:
    url, proc = served
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 0, stderr[-3000:]
    assert "Serving cnn.onnx (classification) on cpu" in stderr
    assert "token required" in stderr
    assert "Shutting down" in stderr
    assert not healthy(url)


def test_port_in_use_is_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EdgeInferError, match=f"could not serve on 127.0.0.1:{port}"):
            serve_forever(create_app(None), "127.0.0.1", port, log_level="critical")
