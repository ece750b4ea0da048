"""Concurrent requests: batched for a dynamic-batch model, serialised for a batch-1 model."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import edgeinfer
from edgeinfer.card import write
from edgeinfer.model import Model
from edgeinfer.serve import RunningServer, batch_capacity
from tests.conftest import poll_until
from tests.model_factory import tflite_bytes
from tests.serve.conftest import ONNX_CARD, Photo, encode, onnx_with_batch, result_part

PARALLEL = 16


def crops(photo: Photo, count: int) -> list[bytes]:
    """``count`` different JPEG crops of the photo, so each request has its own answer."""
    h, w = photo.bgr.shape[:2]
    return [encode(photo.bgr[i * 7:h - 40 + i * 2, i * 11:w - 60 + i * 3], ".jpg") for i in range(count)]


def assert_same_result(got: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal labels in the same order; scores equal up to float differences between batch sizes."""
    assert [t["class_id"] for t in got["top"]] == [t["class_id"] for t in expected["top"]]
    assert [t["label"] for t in got["top"]] == [t["label"] for t in expected["top"]]
    np.testing.assert_allclose([t["score"] for t in got["top"]], [t["score"] for t in expected["top"]], atol=2e-4)


def post_all(server: RunningServer, images: list[bytes]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=server.url, timeout=60) as client, ThreadPoolExecutor(len(images)) as pool:
        responses = list(pool.map(lambda data: client.post("/v1/predict", content=data), images))
    assert [r.status_code for r in responses] == [200] * len(images), [r.text for r in responses]
    return [r.json() for r in responses]


def test_concurrent_requests_form_batches(serve: Callable[..., RunningServer], onnx_model: Model,
                                          photo: Photo) -> None:
    server = serve(onnx_model, max_batch=8, batch_wait_ms=20)
    images = crops(photo, PARALLEL)
    bodies = post_all(server, images)
    for body, image in zip(bodies, images, strict=True):
        assert_same_result(result_part(body), onnx_model.predict(image).to_dict())
    assert len({tuple(t["score"] for t in b["top"]) for b in bodies}) > 1  # the crops differ
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["predictions"] == PARALLEL
    assert 1 < health["max_batch"] <= 8
    assert health["batches"] < PARALLEL
    assert max(b["batch_size"] for b in bodies) == health["max_batch"]


def test_batch_one_model_is_serialised(serve: Callable[..., RunningServer], tmp_path: Path, photo: Photo) -> None:
    path = tmp_path / "fixed.onnx"
    path.write_bytes(onnx_with_batch(1))
    write(path, ONNX_CARD)
    with edgeinfer.load(path) as model:
        assert batch_capacity(model) == 1
        server = serve(model, max_batch=8, batch_wait_ms=20)
        images = crops(photo, 8)
        bodies = post_all(server, images)
        for body, image in zip(bodies, images, strict=True):
            assert result_part(body) == model.predict(image).to_dict()
        health = httpx.get(f"{server.url}/healthz").json()
    assert health["max_batch"] == 1
    assert health["batches"] == 8
    assert {b["batch_size"] for b in bodies} == {1}


@pytest.mark.slow
def test_tflite_model_over_http(serve: Callable[..., RunningServer], tmp_path: Path, photo: Photo) -> None:
    pytest.importorskip("ai_edge_litert")
    path = tmp_path / "cnn.tflite"
    path.write_bytes(tflite_bytes("none"))
    write(path, {"task": "classification", "labels": ["a", "b", "c", "d"],
                 "preprocess": {"resize": "center_crop", "std": 255}})
    with edgeinfer.load(path) as model:
        images = crops(photo, 4)
        bodies = post_all(serve(model), images)
        for body, image in zip(bodies, images, strict=True):
            assert_same_result(result_part(body), model.predict(image).to_dict())
            assert body["model"] == "cnn.tflite"


def test_burst_beyond_max_in_flight_gets_503(serve: Callable[..., RunningServer], onnx_model: Model,
                                             photo: Photo) -> None:
    server = serve(onnx_model, max_batch=1, max_in_flight=2)
    url = f"{server.url}/v1/predict"
    with ThreadPoolExecutor(6) as pool:
        # Holding the model's lock stands in for a slow accelerator: admitted requests wait.
        with onnx_model._lock:
            futures = [pool.submit(httpx.post, url, content=photo.jpeg, timeout=30) for _ in range(6)]
            assert poll_until(lambda: httpx.get(f"{server.url}/healthz").json()["rejected_busy"] == 4)
        responses = [f.result() for f in futures]
    busy = [r for r in responses if r.status_code == 503]
    assert len(busy) == 4
    assert busy[0].headers["retry-after"] == "1"
    assert "busy" in busy[0].json()["error"]
    assert [r.status_code for r in responses].count(200) == 2
    assert httpx.get(f"{server.url}/healthz").json()["in_flight"] == 0


def test_lone_request_does_not_wait_for_company(serve: Callable[..., RunningServer], onnx_model: Model,
                                                photo: Photo) -> None:
    server = serve(onnx_model, max_batch=8, batch_wait_ms=1000)
    started = time.perf_counter()
    response = httpx.post(f"{server.url}/v1/predict", content=photo.jpeg, timeout=30)
    assert response.status_code == 200
    assert time.perf_counter() - started < 0.5  # far below the 1000 ms batch window
    assert response.json()["batch_size"] == 1


@pytest.mark.parametrize("batch", [1, None], ids=["batch-1", "dynamic"])
def test_bodies_on_their_way_hold_back_only_a_model_that_batches(tmp_path: Path, photo: Photo,
                                                                 batch: int | None) -> None:
    import asyncio

    from edgeinfer.serve import MicroBatcher

    path = tmp_path / "m.onnx"
    path.write_bytes(onnx_with_batch(batch))
    write(path, ONNX_CARD)
    with edgeinfer.load(path) as model:
        batcher = MicroBatcher(lambda: model)

        async def scenario() -> tuple[Any, Any]:
            alone = company = None
            for _ in range(30):  # a loaded machine can make one call slow: then it queues, tried again
                await batcher.predict(photo.bgr)  # measured: the model is known to be quick
                alone = batcher.run_now(photo.bgr)
                batcher.expect(1)  # another request's body is still being received
                company = batcher.run_now(photo.bgr) if alone is not None else None
                batcher.expect(-1)
                if company is not None:
                    break
            await batcher.stop()
            return alone, company

        alone, company = asyncio.run(scenario())
    assert alone is not None and alone[1] == 1
    if batch == 1:
        assert company is not None  # nothing to batch with: runs at once, no queue round trip
        assert company[0].to_dict() == alone[0].to_dict()
    else:
        assert company is None  # queued, so the coming body can join its batch
