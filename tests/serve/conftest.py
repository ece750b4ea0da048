"""Fixtures for the HTTP server tests: real models, real photos, real uvicorn servers.

Fixtures:
    onnx_model_path  float ONNX classifier, dynamic batch [N, 3, 16, 16], 5 labels in its card.
    onnx_model       that model loaded (module scope).
    photo            a real photo (skimage's cat) as BGR uint8, with ``jpeg`` and ``png`` bytes.
    serve            ``serve(model_provider, **create_app_kwargs) -> RunningServer``: uvicorn on
                     a background thread on a free port of 127.0.0.1, stopped after the test.
    onnx_server      one module-wide server for ``onnx_model`` (body limit 512 KiB).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.card import write
from edgeinfer.model import Model
from edgeinfer.serve import RunningServer, create_app, start_in_thread
from tests.model_factory import onnx_cnn_bytes

cv2 = pytest.importorskip("cv2")
skdata = pytest.importorskip("skimage.data")

ONNX_CARD = {"task": "classification", "labels": ["ant", "bee", "cat", "dog", "eel"],
             "preprocess": {"std": 255}, "postprocess": {"top_k": 3}}
MAX_BODY_BYTES = 512 * 1024
SERVING_KEYS = ("model", "latency_ms", "batch_size", "annotated_jpeg_base64")


@dataclass(frozen=True)
class Photo:
    """One image in three forms."""

    bgr: np.ndarray
    jpeg: bytes
    png: bytes


def result_part(body: dict[str, Any]) -> dict[str, Any]:
    """The ``result.to_dict()`` part of a /v1/predict answer (serving fields removed)."""
    return {k: v for k, v in body.items() if k not in SERVING_KEYS}


def encode(frame: np.ndarray, ext: str) -> bytes:
    ok, data = cv2.imencode(ext, frame)
    assert ok
    return bytes(data.tobytes())


def onnx_with_batch(batch: int | None) -> bytes:
    """The factory's ONNX CNN, with the batch dimension fixed to ``batch`` (None keeps it dynamic)."""
    data = onnx_cnn_bytes()
    if batch is None:
        return data
    import onnx

    model = onnx.load_from_string(data)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = batch
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve_models")


@pytest.fixture(scope="session")
def onnx_model_path(model_folder: Path) -> Path:
    path = model_folder / "cnn.onnx"
    path.write_bytes(onnx_with_batch(None))
    write(path, ONNX_CARD)
    return path


@pytest.fixture(scope="module")
def onnx_model(onnx_model_path: Path) -> Iterator[Model]:
    with edgeinfer.load(onnx_model_path) as model:
        yield model


@pytest.fixture(scope="session")
def photo() -> Photo:
    bgr = np.ascontiguousarray(cv2.cvtColor(skdata.chelsea(), cv2.COLOR_RGB2BGR))
    return Photo(bgr, encode(bgr, ".jpg"), encode(bgr, ".png"))


@pytest.fixture
def serve() -> Iterator[Callable[..., RunningServer]]:
    servers: list[RunningServer] = []

    def make(model_provider: Any, **kwargs: Any) -> RunningServer:
        server = start_in_thread(create_app(model_provider, **kwargs))
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def onnx_server(onnx_model: Model) -> Iterator[RunningServer]:
    with start_in_thread(create_app(onnx_model, max_body_bytes=MAX_BODY_BYTES)) as server:
        yield server
