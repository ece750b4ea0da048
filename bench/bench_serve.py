"""Serving benchmark: ``edgeinfer serve`` against a bare uvicorn + starlette endpoint on the same session.

Rows, at 1, 4 and 16 keep-alive connections on 127.0.0.1 (goal: >= 0.9x the baseline's
requests/s at each):

- requests/s of ``edgeinfer serve MODEL`` (micro-batching, body and pixel caps, the card's
  preprocessing and decoding) over requests/s of ``bench/serve_baseline.py`` (OpenCV
  decode, resize, one ``session.run``, JSON), both posting the same 160 x 120 JPEG to a
  digits-size CNN (3 x 32 x 32, float ONNX made by our converters), with p50/p99 latency.

Both servers run as their own processes for the whole suite, each with the interpreter
threads of this machine's board profile; the load goes to one of them at a time, in
alternating rounds, and the ratio is the median of the rounds' ratios. The load generator
is ``wrk`` (Debian package ``wrk``) when installed, otherwise a pool of keep-alive httpx
clients, one thread per connection (weaker: on 2 cores the client then competes harder).

Run: ``python bench/bench_serve.py [--quick]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, row

HERE = Path(__file__).resolve().parent
CONNECTIONS = (1, 4, 16)
CARD = {"task": "classification", "labels": [str(i) for i in range(10)],
        "preprocess": {"color": "rgb", "resize": "stretch", "std": [255, 255, 255]}}


def build_model() -> Path:
    """A digits-size CNN (random weights) converted to float ONNX by our converters, cached."""
    path = CACHE / "serve" / "digits_cnn.onnx"
    if path.exists():
        return path
    import torch

    import converters

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 8 * 8, 10),
    ).eval()
    converters.convert(net, to="onnx", input_shape=(1, 3, 32, 32), card=CARD, out=path, check=False, verbose=False)
    return path


def photo_jpeg() -> bytes:
    import cv2

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), (7, 7), 0)
    ok, data = cv2.imencode(".jpg", image)
    assert ok
    return bytes(data.tobytes())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process and wait until its port accepts connections."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"{command[:3]} exited: {stderr[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:3]} did not listen on {port}") from None
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk_load(url: str, body_path: Path, connections: int, seconds: int) -> dict[str, float]:
    """requests/s and latency percentiles (ms) from one wrk run."""
    script = body_path.with_suffix(".lua")
    script.write_text(f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "image/jpeg"\n'
                      f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*all")\nf:close()\n')
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True)
    out = done.stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors under load:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = {p: _ms(re.search(rf"^\s+{p}%\s+([\d.]+\w+)", out, re.M).group(1))  # type: ignore[union-attr]
           for p in ("50", "99")}
    return {"rps": rps, "p50_ms": pct["50"], "p99_ms": pct["99"]}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def pool_load(url: str, body: bytes, connections: int, seconds: float) -> dict[str, float]:
    """The fallback load: one keep-alive httpx client per connection, each on its own thread."""
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with httpx.Client(headers={"Content-Type": "image/jpeg"}, timeout=30) as http:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                http.post(url, content=body).raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lat = np.asarray(latencies)
    return {"rps": lat.size / seconds, "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99))}


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` uses shorter and fewer rounds."""
    from edgeinfer.backends import probe_cached

    model = build_model()
    threads = str(probe_cached(("onnx",)).default_threads)
    rounds, seconds = (2, 2) if quick else (4, 5)
    use_wrk = shutil.which("wrk") is not None
    ours_port, base_port = _free_port(), _free_port()
    ours_cmd = [sys.executable, "-m", "edgeinfer", "serve", str(model), "--port", str(ours_port), "--no-access-log"]
    base_cmd = [sys.executable, str(HERE / "serve_baseline.py"), str(model), "--port", str(base_port),
                "--threads", threads]
    urls = {"ours": f"http://127.0.0.1:{ours_port}/v1/predict", "base": f"http://127.0.0.1:{base_port}/predict"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp, server(ours_cmd, ours_port), server(base_cmd, base_port):
        body_path = Path(tmp) / "photo.jpg"
        body_path.write_bytes(photo_jpeg())
        for side in ("ours", "base"):  # warm both: first requests build buffers and thread pools
            pool_load(urls[side], body_path.read_bytes(), 2, 1.0)
        for connections in CONNECTIONS:
            figures: dict[str, list[dict[str, float]]] = {"ours": [], "base": []}
            for r in range(rounds):
                for side in (("ours", "base") if r % 2 == 0 else ("base", "ours")):
                    load = wrk_load(urls[side], body_path, connections, seconds) if use_wrk else \
                        pool_load(urls[side], body_path.read_bytes(), connections, seconds)
                    figures[side].append(load)
            ratio = statistics.median(o["rps"] / b["rps"] for o, b in zip(figures["ours"], figures["base"],
                                                                          strict=True))
            med = {side: {k: statistics.median(f[k] for f in figs) for k in ("rps", "p50_ms", "p99_ms")}
                   for side, figs in figures.items()}
            rows.append(row(
                f"serve requests/s vs bare uvicorn+starlette, {connections} connection(s) "
                f"({'wrk' if use_wrk else 'httpx pool'})", med["ours"]["rps"], "req/s", med["base"]["rps"],
                ">= 0.9x", ratio >= 0.9, ratio=ratio, p50_ms=med["ours"]["p50_ms"], p99_ms=med["ours"]["p99_ms"],
                baseline_p50_ms=med["base"]["p50_ms"], baseline_p99_ms=med["base"]["p99_ms"],
                round_ratios=[o["rps"] / b["rps"] for o, b in zip(figures["ours"], figures["base"], strict=True)],
            ))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter, fewer rounds")
    args = parser.parse_args()
    for r in run(args.quick):
        print(f"{r['name']:<75} {r['value']:>8.1f} vs {r['baseline']:>8.1f} req/s  ratio {r['ratio']:.3f}  "
              f"p99 {r['p99_ms']:.1f} ms (baseline {r['baseline_p99_ms']:.1f} ms)  {'PASS' if r['passed'] else 'FAIL'}")


if __name__ == "__main__":
    main()
