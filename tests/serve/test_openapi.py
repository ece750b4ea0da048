"""/openapi.json: a valid OpenAPI 3.1 document that describes every route the app has."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from edgeinfer.serve import RunningServer, create_app


def require_validator() -> Any:
    """openapi-spec-validator; missing skips the test, except with CI=true where it fails."""
    try:
        from openapi_spec_validator import validate
    except ImportError:
        message = "openapi-spec-validator is not installed (pip install openapi-spec-validator)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return validate


@pytest.mark.parametrize("token", [None, "t0ken"])
def test_document_is_valid_openapi(token: str | None) -> None:
    validate = require_validator()
    app = create_app(None, token=token)
    from edgeinfer.serve.openapi import openapi_document

    validate(openapi_document(version="0.1.0", token_required=token is not None))
    assert app.state.edgeinfer.token_required is (token is not None)


def test_served_document_covers_every_route(onnx_server: RunningServer) -> None:
    doc = httpx.get(f"{onnx_server.url}/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    app = create_app(None)
    routes = {(route.path, method.lower()) for route in app.routes if isinstance(route, Route)
              for method in route.methods or () if method != "HEAD"}
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    predict = doc["paths"]["/v1/predict"]["post"]
    assert set(predict["requestBody"]["content"]) >= {"image/jpeg", "image/png", "multipart/form-data"}
    assert {"400", "413", "415"} <= set(predict["responses"])
