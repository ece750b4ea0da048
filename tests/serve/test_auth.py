"""The optional bearer token: every route but /healthz and the page needs it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from edgeinfer.model import Model
from edgeinfer.serve import RunningServer
from tests.serve.conftest import Photo, encode, result_part

TOKEN = "s3cret-token"


class OneFrame:
    """A LiveView with one stream and a fixed frame."""

    def __init__(self, jpeg: bytes) -> None:
        self.jpeg = jpeg

    def stream_names(self) -> list[str]:
        return ["cam"]

    def latest_jpeg(self, name: str) -> bytes | None:
        return self.jpeg if name == "cam" else None

    def stream_stats(self) -> dict[str, Any]:
        return {"cam": {"frames": 1}}


@pytest.fixture
def server(serve: Callable[..., RunningServer], onnx_model: Model, photo: Photo) -> RunningServer:
    return serve(onnx_model, token=TOKEN, live=OneFrame(encode(photo.bgr[:64, :64], ".jpg")))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": f"Bearer {TOKEN}x"}])
@pytest.mark.parametrize("path", ["/v1/model", "/openapi.json", "/v1/streams", "/v1/streams/cam/latest.jpg"])
def test_protected_routes_need_the_token(server: RunningServer, headers: dict[str, str], path: str) -> None:
    response = httpx.get(server.url + path, headers=headers)
    assert response.status_code == 401
    assert "bearer token" in response.json()["error"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("path", ["/v1/model", "/openapi.json", "/v1/streams", "/v1/streams/cam/latest.jpg"])
def test_right_token_passes(server: RunningServer, path: str) -> None:
    response = httpx.get(server.url + path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200


def test_predict_needs_the_token(server: RunningServer, onnx_model: Model, photo: Photo) -> None:
    url = f"{server.url}/v1/predict"
    assert httpx.post(url, content=photo.jpeg).status_code == 401
    response = httpx.post(url, content=photo.jpeg, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert result_part(response.json()) == onnx_model.predict(photo.jpeg).to_dict()


def test_healthz_and_page_are_public(server: RunningServer) -> None:
    health = httpx.get(f"{server.url}/healthz")
    assert health.status_code == 200
    assert health.json()["token_required"] is True
    assert httpx.get(f"{server.url}/").status_code == 200


def test_access_token_query_only_for_stream_images(server: RunningServer) -> None:
    image = httpx.get(f"{server.url}/v1/streams/cam/latest.jpg", params={"access_token": TOKEN})
    assert image.status_code == 200
    assert image.content[:2] == b"\xff\xd8"
    assert httpx.get(f"{server.url}/v1/streams/cam/latest.jpg", params={"access_token": "no"}).status_code == 401
    assert httpx.get(f"{server.url}/v1/model", params={"access_token": TOKEN}).status_code == 401


def test_openapi_declares_bearer_security(server: RunningServer) -> None:
    doc = httpx.get(f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/healthz"]["get"]["security"] == []
