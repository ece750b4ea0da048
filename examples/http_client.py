"""Call a running ``edgeinfer serve`` over HTTP, with the standard library only.

Start a server, then send it an image::

    edgeinfer serve model.onnx --port 8080 --token s3cret &
    python examples/http_client.py --url http://127.0.0.1:8080 --image photo.jpg --token s3cret

It prints the server's health and model, then the prediction as one summary line and as
JSON; ``--save annotated.jpg`` also fetches the annotated image (``?annotate=1``). The
token may come from ``EDGEINFER_TOKEN`` instead of ``--token``. Exit codes: 0 done,
1 the server answered an error (its message is printed), 2 the server is unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


def call(url: str, token: str | None, data: bytes | None = None, content_type: str | None = None) -> bytes:
    """GET (or POST ``data``) ``url`` and return the body; raises ``urllib.error.HTTPError``."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def summary(result: dict[str, Any]) -> str:
    """One line for a result of any task."""
    if result["task"] == "classification":
        return ", ".join(f"{t['label']} {t['score']:.3f}" for t in result["top"])
    if result["task"] == "detection":
        return f"{len(result['detections'])} objects: " + ", ".join(
            f"{d['label']} {d['score']:.2f}" for d in result["detections"])
    return json.dumps({k: v for k, v in result.items() if k not in ("model", "latency_ms", "batch_size")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the server's base URL")
    parser.add_argument("--image", required=True, type=Path, help="a JPEG or PNG file")
    parser.add_argument("--token", default=os.environ.get("EDGEINFER_TOKEN"), help="bearer token, if the server asks")
    parser.add_argument("--save", type=Path, help="also write the annotated JPEG here")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    data = args.image.read_bytes()
    content_type = CONTENT_TYPES.get(args.image.suffix.lower(), "application/octet-stream")
    try:
        health = json.loads(call(f"{base}/healthz", None))
        print(f"server: {health['model']} on {health['accelerator']}, up {health['uptime_s']:.0f} s")
        result = json.loads(call(f"{base}/v1/predict", args.token, data, content_type))
        print(f"{args.image.name}: {summary(result)} ({result['latency_ms']:.1f} ms on the server)")
        print(json.dumps(result, indent=2))
        if args.save:
            args.save.write_bytes(call(f"{base}/v1/predict?annotate=1", args.token, data, content_type))
            print(f"annotated image written to {args.save}")
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        message = json.loads(body).get("error", body) if body.startswith("{") else body
        print(f"error: HTTP {exc.code}: {message}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"error: cannot reach {base}: {exc.reason}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
