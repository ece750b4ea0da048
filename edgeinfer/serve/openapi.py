"""The OpenAPI 3.1 document of the HTTP routes, served at ``/openapi.json``.

Written by hand next to the routes (a test checks that every route is described and that
the document is valid OpenAPI), so the contract reads in one place.
"""

from __future__ import annotations

from typing import Any

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}
_JSON_ERROR = {"application/json": {"schema": _ERROR}}
_BINARY = {"type": "string", "format": "binary"}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Undecodable image, empty body or bad query value.", 401: "Missing or wrong bearer token.",
        404: "No such stream.",
        413: "Body larger than the server's limit, or an image declaring more pixels than its cap.",
        415: "Unsupported Content-Type.", 500: "The model failed.",
        503: "No model is served here, or too many predictions are waiting (see Retry-After).",
    }
    return {str(code): {"description": texts[code], "content": _JSON_ERROR} for code in codes}


def _ok(description: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, "content": content}}


def _predict() -> dict[str, Any]:
    annotate = {
        "name": "annotate", "in": "query", "required": False,
        "description": "1: answer the annotated JPEG instead of JSON; inline: add it to the JSON as base64.",
        "schema": {"type": "string", "enum": ["0", "1", "inline"]},
    }
    upload = {"type": "object", "properties": {"image": _BINARY, "file": _BINARY}}
    body = {"required": True, "content": {
        "image/jpeg": {"schema": _BINARY}, "image/png": {"schema": _BINARY},
        "application/octet-stream": {"schema": _BINARY}, "multipart/form-data": {"schema": upload},
        "text/plain": {"schema": {"type": "string"}},  # a text model (card with tokenizer:)
    }}
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}},
               "image/jpeg": {"schema": _BINARY}}
    return {"post": {
        "summary": "Predict one image", "operationId": "predict", "parameters": [annotate],
        "requestBody": body,
        "responses": {**_ok("The result, or the annotated JPEG with ?annotate=1.", content),
                      **_errors(400, 401, 413, 415, 500, 503)},
    }}


def _get(summary: str, operation: str, content: dict[str, Any], *codes: int, params: Any = ()) -> dict[str, Any]:
    operation_doc: dict[str, Any] = {"summary": summary, "operationId": operation,
                                     "responses": {**_ok(summary, content), **_errors(*codes)}}
    if params:
        operation_doc["parameters"] = list(params)
    return {"get": operation_doc}


def _schemas() -> dict[str, Any]:
    obj = {"type": "object"}
    return {
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "Prediction": {
            "type": "object", "required": ["task", "model", "latency_ms"],
            "description": "result.to_dict() of the model's task, plus serving fields.",
            "properties": {
                "task": {"type": "string"}, "model": {"type": "string"},
                "latency_ms": {"type": "number", "description": "decode + queue + inference on the server"},
                "batch_size": {"type": "integer", "description": "frames in the model call this one ran in"},
                "annotated_jpeg_base64": {"type": "string", "description": "with ?annotate=inline"},
            },
            "additionalProperties": True,
        },
        "Health": {"type": "object", "required": ["status", "uptime_s", "requests"], "properties": {
            "status": {"type": "string", "enum": ["ok"]}, "model": {"type": ["string", "null"]},
            "accelerator": {"type": ["string", "null"]}, "uptime_s": {"type": "number"},
            "requests": {"type": "integer"}, "predictions": {"type": "integer"},
            "batches": {"type": "integer"}, "max_batch": {"type": "integer"},
            "batch_limit": {"type": "integer"}, "streams": {"type": "integer"},
            "mjpeg_clients": {"type": "integer"}, "token_required": {"type": "boolean"},
            "in_flight": {"type": "integer"}, "rejected_busy": {"type": "integer"},
        }},
        "ModelInfo": {"type": "object", "properties": {
            "model": {"type": "string"}, "kind": {"type": "string"}, "accelerator": {"type": "string"},
            "inputs": {"type": "array", "items": obj}, "outputs": {"type": "array", "items": obj},
            "card": obj, "card_origin": {"type": "string"}, "plan": {"type": "array", "items": obj},
        }},
        "Streams": {"type": "object", "properties": {
            "streams": {"type": "array", "items": {"type": "string"}},
            "stats": {"type": "object", "additionalProperties": obj},
        }},
        "Events": {"type": "object", "required": ["events"], "properties": {
            "events": {"type": "array", "items": {
                "type": "object", "additionalProperties": True,
                "description": "an event message (docs/event.schema.json) plus links to its files",
                "properties": {"links": {"type": "object", "additionalProperties": {"type": "string"}}}}},
        }},
    }


def openapi_document(*, version: str, token_required: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the routes of :func:`edgeinfer.serve.create_app`.

    Args:
        version: The API version shown (edgeinfer's version).
        token_required: Whether the server asks for a bearer token (adds the security scheme).

    Returns:
        A JSON-serialisable OpenAPI 3.1 document.
    """
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    fps = {"name": "fps", "in": "query", "required": False, "schema": {"type": "number"},
           "description": "how often to look for a new frame (0.1 to 60 per second, default 10)"}
    frames = {"name": "frames", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1},
              "description": "end the stream after this many frames"}
    mjpeg_type = {"multipart/x-mixed-replace": {"schema": _BINARY}}
    stream = {"name": "stream", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "only this stream's events"}
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "at most this many (50)"}
    event_id = {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
    what = {"name": "what", "in": "path", "required": True,
            "schema": {"type": "string", "enum": ["frame.jpg", "crop.jpg", "clip.mp4"]}}

    def ref(schema: str) -> dict[str, Any]:
        return {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "edgeinfer", "version": version,
                 "description": "Local HTTP inference and live view of an edgeinfer model or daemon."},
        "paths": {
            "/": _get("The web page", "page", {"text/html": {"schema": {"type": "string"}}}),
            "/healthz": _get("Liveness and counters", "healthz", ref("Health")),
            "/openapi.json": _get("This document", "openapi", {"application/json": {"schema": {"type": "object"}}},
                                  401),
            "/v1/model": _get("The model card and I/O specs", "model", ref("ModelInfo"), 401, 503),
            "/v1/predict": _predict(),
            "/v1/streams": _get("Streams and their stats", "streams", ref("Streams"), 401),
            "/v1/streams/{name}/mjpeg": _get("Live annotated frames (MJPEG)", "mjpeg", mjpeg_type,
                                             400, 401, 404, params=[name, fps, frames]),
            "/v1/streams/{name}/latest.jpg": _get("The newest annotated frame", "latest_jpeg",
                                                  {"image/jpeg": {"schema": _BINARY}}, 401, 404, params=[name]),
            "/v1/events": _get("Recent events, newest first, with links to snapshots and clips", "events",
                               ref("Events"), 400, 401, params=[stream, limit]),
            "/v1/events/{event_id}/{what}": _get(
                "An event's snapshot (frame.jpg, crop.jpg) or clip (clip.mp4)", "event_file",
                {"image/jpeg": {"schema": _BINARY}, "video/mp4": {"schema": _BINARY}}, 401, 404,
                params=[event_id, what]),
        },
        "components": {"schemas": _schemas()},
    }
    if token_required:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for path in ("/", "/healthz"):
            doc["paths"][path]["get"]["security"] = []
    return doc
