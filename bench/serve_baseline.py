"""The baseline of the serving benchmark: a bare uvicorn + starlette endpoint on one ONNX Runtime session.

What a user would write by hand instead of ``edgeinfer serve``: decode the body with OpenCV,
resize and scale it to the model input, run the session, answer the top class as JSON.
No batching, no limits, no token. The same session options as edgeinfer's ONNX backend
(threads, no spinning of idle intra-op threads), so the row compares the serving layers.

Run: ``python bench/serve_baseline.py MODEL.onnx --port 8081 [--threads N]``.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import onnxruntime as ort
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def make_app(model: str, threads: int | None) -> Starlette:
    """The one-route app around an ONNX Runtime session (NCHW float input, 0..1 RGB)."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as edgeinfer/backends/onnx.py
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    height, width = int(spec.shape[2]), int(spec.shape[3])

    async def predict(request: Request) -> JSONResponse:
        body = await request.body()
        image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return JSONResponse({"error": "not an image"}, status_code=400)
        small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
        x = (small[:, :, ::-1].transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
        scores = session.run(None, {spec.name: x})[0][0]
        top = int(np.argmax(scores))
        return JSONResponse({"class_id": top, "score": float(scores[top])})

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    uvicorn.run(make_app(args.model, args.threads), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
