"""POST /v1/predict, GET /v1/model and /healthz over real HTTP, and every error answer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

import edgeinfer
from edgeinfer.model import Model
from edgeinfer.serve import RunningServer
from tests.image_bombs import png_bomb
from tests.serve.conftest import MAX_BODY_BYTES, Photo, cv2, result_part


def post_image(server: RunningServer, data: bytes, content_type: str | None = "image/jpeg",
               query: str = "") -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    return httpx.post(f"{server.url}/v1/predict{query}", content=data, headers=headers, timeout=30)


@pytest.mark.parametrize(("form", "content_type"), [("jpeg", "image/jpeg"), ("png", "image/png"),
                                                    ("png", "application/octet-stream"), ("jpeg", None)])
def test_body_equals_model_predict(onnx_server: RunningServer, onnx_model: Model, photo: Photo,
                                   form: str, content_type: str | None) -> None:
    data = getattr(photo, form)
    response = post_image(onnx_server, data, content_type)
    assert response.status_code == 200, response.text
    body = response.json()
    assert result_part(body) == onnx_model.predict(data).to_dict()
    assert body["task"] == "classification"
    assert body["top"][0]["label"] in {"ant", "bee", "cat", "dog", "eel"}
    assert body["model"] == onnx_model.name
    assert body["latency_ms"] > 0
    assert body["batch_size"] >= 1


@pytest.mark.parametrize("field", ["image", "file"])
def test_multipart_upload(onnx_server: RunningServer, onnx_model: Model, photo: Photo, field: str) -> None:
    files = {field: ("cat.png", photo.png, "image/png")}
    response = httpx.post(f"{onnx_server.url}/v1/predict", files=files, data={"note": "x"}, timeout=30)
    assert response.status_code == 200, response.text
    assert result_part(response.json()) == onnx_model.predict(photo.bgr).to_dict()


def test_annotate_returns_the_drawn_jpeg(onnx_server: RunningServer, onnx_model: Model, photo: Photo) -> None:
    response = post_image(onnx_server, photo.png, "image/png", "?annotate=1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert float(response.headers["x-latency-ms"]) > 0
    got = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    expected = edgeinfer.draw(photo.bgr, onnx_model.predict(photo.bgr))
    assert got.shape == photo.bgr.shape
    changed = np.abs(expected.astype(int) - photo.bgr.astype(int)).max(axis=2) > 40
    assert changed.sum() > 500  # the annotation panel is there ...
    # ... and the answer is that drawing, up to JPEG loss.
    assert np.abs(got.astype(int) - expected.astype(int))[changed].mean() < 12
    assert np.abs(got.astype(int) - photo.bgr.astype(int))[changed].mean() > 40


def test_annotate_inline_adds_base64(onnx_server: RunningServer, onnx_model: Model, photo: Photo) -> None:
    response = post_image(onnx_server, photo.jpeg, query="?annotate=inline")
    body = response.json()
    jpeg = base64.b64decode(body["annotated_jpeg_base64"])
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == photo.bgr.shape
    assert result_part(body) == onnx_model.predict(photo.jpeg).to_dict()


@pytest.mark.parametrize(("request_parts", "status", "words"), [
    ((b"\x89PNG\r\n\x1a\n garbage", "image/png", ""), 400, "could not be decoded"),
    ((b"", "image/jpeg", ""), 400, "body is empty"),
    ((b"{}", "application/json", ""), 415, "not accepted"),
    ((b"jpeg", "image/jpeg", "?annotate=maybe"), 400, "annotate"),
])
def test_bad_requests_get_a_message(onnx_server: RunningServer, request_parts: tuple[bytes, str, str],
                                    status: int, words: str) -> None:
    response = post_image(onnx_server, *request_parts)
    assert response.status_code == status
    assert words in response.json()["error"]


def test_multipart_without_image_field(onnx_server: RunningServer, photo: Photo) -> None:
    response = httpx.post(f"{onnx_server.url}/v1/predict", files={"picture": ("a.jpg", photo.jpeg)})
    assert response.status_code == 400
    assert "'image' or 'file'" in response.json()["error"]


def test_oversized_body_with_length_gets_413(onnx_server: RunningServer) -> None:
    response = post_image(onnx_server, b"\0" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert f"at most {MAX_BODY_BYTES} bytes" in response.json()["error"]


def test_oversized_chunked_body_gets_413(onnx_server: RunningServer) -> None:
    chunks = iter([b"\xff" * 65536] * 9)  # no Content-Length: the limit is enforced while reading
    response = httpx.post(f"{onnx_server.url}/v1/predict", content=chunks, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 413
    assert "too large" in response.json()["error"]


def test_oversized_multipart_gets_413(onnx_server: RunningServer) -> None:
    files = {"image": ("big.jpg", b"\0" * MAX_BODY_BYTES, "image/jpeg")}
    response = httpx.post(f"{onnx_server.url}/v1/predict", files=files)
    assert response.status_code == 413


def test_wrong_method_and_unknown_route(onnx_server: RunningServer) -> None:
    response = httpx.get(f"{onnx_server.url}/v1/predict")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "use POST" in response.json()["error"]
    assert httpx.delete(f"{onnx_server.url}/v1/model").status_code == 405
    missing = httpx.get(f"{onnx_server.url}/v2/nothing")
    assert missing.status_code == 404
    assert "/openapi.json" in missing.json()["error"]


def test_model_route_is_describe(onnx_server: RunningServer, onnx_model: Model) -> None:
    body = httpx.get(f"{onnx_server.url}/v1/model").json()
    assert body == json.loads(json.dumps(onnx_model.describe()))
    assert body["card_origin"] == "embedded"
    assert body["card"]["labels"] == ["ant", "bee", "cat", "dog", "eel"]
    assert body["inputs"][0]["shape"][0] == -1


def test_healthz_counts_requests(onnx_server: RunningServer, onnx_model: Model, photo: Photo) -> None:
    before = httpx.get(f"{onnx_server.url}/healthz").json()
    post_image(onnx_server, photo.jpeg)
    after = httpx.get(f"{onnx_server.url}/healthz").json()
    assert after["status"] == "ok"
    assert after["model"] == onnx_model.name
    assert after["accelerator"] == onnx_model.accelerator
    assert after["requests"] == before["requests"] + 1
    assert after["predictions"] == before["predictions"] + 1
    assert after["uptime_s"] > before["uptime_s"] >= 0


def test_model_failure_is_500_with_message(serve: Callable[..., RunningServer], onnx_model_path: Path,
                                           photo: Photo) -> None:
    model = edgeinfer.load(onnx_model_path)
    model.close()  # a closed model raises ModelError on every call
    server = serve(model)
    response = post_image(server, photo.jpeg)
    assert response.status_code == 500
    assert "ModelError" in response.json()["error"]
    assert "closed" in response.json()["error"]


def test_without_model_predict_is_503(serve: Callable[..., RunningServer], photo: Photo) -> None:
    server = serve(None)
    assert post_image(server, photo.jpeg).status_code == 503
    assert "no model" in httpx.get(f"{server.url}/v1/model").json()["error"]
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["model"] is None
    assert health["status"] == "ok"


def test_provider_without_model_yet_is_503(serve: Callable[..., RunningServer], onnx_model: Model,
                                           photo: Photo) -> None:
    current: list[Model | None] = [None]  # a daemon whose stream has not started yet
    server = serve(lambda: current[0])
    assert post_image(server, photo.jpeg).status_code == 503
    assert httpx.get(f"{server.url}/healthz").json()["model"] is None
    current[0] = onnx_model
    response = post_image(server, photo.jpeg)
    assert response.status_code == 200
    assert result_part(response.json()) == onnx_model.predict(photo.jpeg).to_dict()


def test_image_over_the_pixel_cap_gets_413_before_decoding(serve: Callable[..., RunningServer],
                                                           onnx_model: Model, photo: Photo) -> None:
    server = serve(onnx_model, max_pixels=photo.bgr.shape[0] * photo.bgr.shape[1] - 1)
    response = post_image(server, photo.png, "image/png")
    assert response.status_code == 413
    assert "MP allowed" in response.json()["error"]
    bomb = post_image(server, png_bomb(), "image/png")
    assert bomb.status_code == 413
    assert "20000 x 20000 = 400.0 MP" in bomb.json()["error"]


def test_image_bytes_without_an_image_content_type_are_sniffed(onnx_server: RunningServer, onnx_model: Model,
                                                               photo: Photo) -> None:
    # what `curl --data-binary @photo.jpg URL` sends
    response = post_image(onnx_server, photo.jpeg, "application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert result_part(response.json()) == onnx_model.predict(photo.jpeg).to_dict()
    refused = post_image(onnx_server, b"name=value", "application/x-www-form-urlencoded")
    assert refused.status_code == 415
