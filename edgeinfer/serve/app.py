"""The HTTP app behind ``edgeinfer serve`` and the ``http`` section of ``edgeinfer run``.

:func:`create_app` builds a Starlette (ASGI) app around a model, a live view of running
streams, or both::

    app = create_app(model, token="s3cret")          # edgeinfer serve
    app = create_app(None, live=daemon_live_view)    # edgeinfer run, http section
    serve_forever(app, "127.0.0.1", 8080)

Routes (see :mod:`edgeinfer.serve.openapi` for the full contract):

=========================  ===============================================================
``POST /v1/predict``       image body (JPEG/PNG/octet-stream) or multipart field ``image``;
                           ``text/plain`` for a text model (a card with ``tokenizer:``)
                           / ``file`` -> result JSON with ``model``, ``latency_ms``,
                           ``batch_size``; ``?annotate=1`` -> the annotated JPEG instead;
                           ``?annotate=inline`` -> the JSON plus ``annotated_jpeg_base64``
``GET /v1/model``          ``Model.describe()``: card with origin, I/O specs, plan
``GET /healthz``           status, model, accelerator, uptime and counters (no token)
``GET /v1/streams``        names and per-stream stats of the live view
``GET /v1/streams/{name}/mjpeg``       live annotated frames (multipart/x-mixed-replace)
``GET /v1/streams/{name}/latest.jpg``  the newest annotated frame
``GET /openapi.json``      the OpenAPI 3.1 document
``GET /``                  the page: drop an image, see the annotated result and JSON
=========================  ===============================================================

Errors are JSON ``{"error": message}``: 400 undecodable input (``InputError``), 401 no or
wrong token, 404, 405, 413 body too large or an image header declaring more pixels than
``max_pixels`` (checked before decoding), 415 unsupported content type, 500 other
``EdgeInferError``, 503 no model served here or too many predictions waiting
(``Retry-After``). With a token, image streams also take ``?access_token=`` (an ``<img>``
cannot send headers).

The page asks for the token and sends it as a header; ``#token=...`` in its URL fills it
in (fragments never reach a server), ``?demo=<image URL or data: URL>`` runs a prediction
on load, and ``?frames=N`` ends each live view after N frames (screenshots, tests).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import EdgeInferError, ImageTooLargeError, InputError, MissingDependencyError

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError("starlette", "serve", "edgeinfer serve") from exc

from edgeinfer.images import IMAGE_SIGNATURES, read_image
from edgeinfer.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, MicroBatcher
from edgeinfer.serve.guards import BearerAuthMiddleware, BodyLimitMiddleware, error_response
from edgeinfer.serve.live import live_routes
from edgeinfer.serve.openapi import openapi_document
from edgeinfer.serve.responses import prediction_json
from edgeinfer.serve.state import LiveView, ModelProvider, ServeState

if TYPE_CHECKING:
    import numpy as np

    from edgeinfer.model import Model

__all__ = ["DEFAULT_MAX_BODY_BYTES", "LiveView", "ServeState", "create_app", "request_stop"]

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
IMAGE_TYPES = ("image/", "application/octet-stream")
UPLOAD_FIELDS = ("image", "file")
PUBLIC_PATHS = ("/healthz", "/")
ANNOTATE_MODES = {"": None, "0": None, "false": None, "1": "jpeg", "true": "jpeg", "jpeg": "jpeg", "inline": "inline"}
JPEG_QUALITY = 90


def create_app(model_provider: Model | ModelProvider | None, *, token: str | None = None,
               max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, live: LiveView | None = None,
               max_batch: int = DEFAULT_MAX_BATCH, batch_wait_ms: float = DEFAULT_MAX_WAIT_MS,
               max_in_flight: int | None = None, max_pixels: int | None = None) -> Starlette:
    """Build the ASGI app.

    Args:
        model_provider: A loaded :class:`~edgeinfer.model.Model`, a callable returning the
            current one (a daemon that switches models; None while it has none), or None to
            serve streams only. Requests without a model get 503.
        token: Bearer token required on every route but ``/healthz`` and ``/``; None for none.
        max_body_bytes: Largest accepted request body, in bytes (larger ones get 413).
        live: Streams to show (``edgeinfer run``); None for none.
        max_batch: Most frames per model call when the model's batch dimension allows.
        batch_wait_ms: How long a request waits for others to join its batch, in ms.
        max_in_flight: Most predictions decoded or waiting at once (default ``4 * max_batch``,
            at least 16); more get 503 with ``Retry-After``, so a burst cannot fill the memory.
        max_pixels: Largest accepted image, width x height, checked from its header before
            decoding (larger ones get 413); None for the default (50 MP, or
            ``EDGEINFER_MAX_IMAGE_PIXELS``).

    Returns:
        The Starlette app; run it with :func:`edgeinfer.serve.serve_forever` or any ASGI server.
    """
    provider = _as_provider(model_provider)
    batcher = MicroBatcher(provider, max_batch=max_batch, max_wait_ms=batch_wait_ms,
                           prepare=functools.partial(_prepare, max_pixels=max_pixels)) if provider else None
    limit = max_in_flight if max_in_flight is not None else max(4 * max_batch, 16)
    state = ServeState(provider, batcher, live, token_required=token is not None, max_in_flight=limit)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.stopping.set()
            if batcher is not None:
                await batcher.stop()

    middleware = [Middleware(BodyLimitMiddleware, max_body_bytes=max_body_bytes)]
    if token is not None:
        middleware.append(Middleware(BearerAuthMiddleware, token=token, public_paths=PUBLIC_PATHS,
                                     query_token_prefixes=("/v1/streams/",)))
    routes = [  # the router tries them in order: the busiest first
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/", page, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/v1/model", model_info, methods=["GET"]),
        *live_routes(),
    ]
    handlers: dict[Any, Any] = {ImageTooLargeError: _too_large_error, InputError: _input_error,
                                EdgeInferError: _sdk_error, HTTPException: _http_error}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers, lifespan=lifespan)
    app.state.edgeinfer = state
    return app


def request_stop(app: Any) -> None:
    """Tell an app made by :func:`create_app` that the server is stopping (ends MJPEG streams)."""
    state = getattr(getattr(app, "state", None), "edgeinfer", None)
    if isinstance(state, ServeState):
        state.stopping.set()


def _as_provider(model_provider: Model | ModelProvider | None) -> ModelProvider | None:
    if model_provider is None or callable(model_provider):
        return model_provider
    model = model_provider
    return lambda: model


def get_state(request: Request) -> ServeState:
    """The :class:`ServeState` of the app serving ``request``."""
    state: ServeState = request.app.state.edgeinfer
    return state


# -- routes ---------------------------------------------------------------------------------

async def predict(request: Request) -> Response:
    """Decode the uploaded image, predict it (batched), answer JSON or an annotated JPEG."""
    state = get_state(request)
    state.requests += 1
    model = state.model()
    mode = _annotate_mode(request)
    if state.in_flight >= state.max_in_flight:
        state.rejected_busy += 1
        raise HTTPException(503, f"busy: {state.in_flight} predictions are running or waiting; retry in a moment",
                            headers={"Retry-After": "1"})
    state.in_flight += 1
    try:
        return await _predict(request, state, model, mode)
    finally:
        state.in_flight -= 1


async def _predict(request: Request, state: ServeState, model: Model, mode: str | None) -> Response:
    assert state.batcher is not None  # exists whenever a model does
    state.batcher.expect(1)  # a batch being formed may wait for this body
    try:
        data = await _image_bytes(request)
    finally:
        state.batcher.expect(-1)
    if isinstance(data, str) and (model.card.tokenizer is None or mode is not None):
        raise InputError("a text/plain body needs a text model (a card with a tokenizer: section) and no annotate="
                         f"; {model.name} takes images: send image/jpeg or image/png")
    started = time.perf_counter()
    done = state.batcher.run_now(data)
    result, batch_size, frame = done if done is not None else await state.batcher.submit(data)
    latency_ms = round((time.perf_counter() - started) * 1000.0, 3)
    if mode == "jpeg":
        jpeg = await asyncio.to_thread(_annotated_jpeg, frame, result)
        headers = {"X-Latency-Ms": str(latency_ms), "X-Batch-Size": str(batch_size)}
        return Response(jpeg, media_type="image/jpeg", headers=headers)
    extra = None
    if mode == "inline":
        jpeg = await asyncio.to_thread(_annotated_jpeg, frame, result)
        extra = {"annotated_jpeg_base64": base64.b64encode(jpeg).decode("ascii")}
    return Response(prediction_json(result, model.name, latency_ms, batch_size, extra), media_type="application/json")


async def model_info(request: Request) -> Response:
    """``Model.describe()``: file, accelerator, plan, I/O specs, card and its origin."""
    return JSONResponse(get_state(request).model().describe())


async def healthz(request: Request) -> Response:
    """Liveness and counters; public even when a token is set."""
    state = get_state(request)
    model = state.model_provider() if state.model_provider is not None else None
    stats = state.batcher.stats() if state.batcher is not None else None
    return JSONResponse({
        "status": "ok",
        "model": model.name if model is not None else None,
        "accelerator": model.accelerator if model is not None else None,
        "uptime_s": round(time.monotonic() - state.started_s, 3),
        "requests": state.requests,
        "predictions": stats.predictions if stats else 0,
        "batches": stats.batches if stats else 0,
        "max_batch": stats.max_batch if stats else 0,
        "batch_limit": state.batcher.max_batch if state.batcher is not None else 0,
        "streams": len(state.live.stream_names()) if state.live is not None else 0,
        "in_flight": state.in_flight,
        "rejected_busy": state.rejected_busy,
        "mjpeg_clients": state.mjpeg_clients,
        "token_required": state.token_required,
    })


async def openapi(request: Request) -> Response:
    """The OpenAPI document of these routes."""
    from edgeinfer import __version__

    return JSONResponse(openapi_document(version=__version__, token_required=get_state(request).token_required))


async def page(request: Request) -> Response:
    """The self-contained web page (no external resources)."""
    return HTMLResponse(_page_html())


_PAGE_CACHE: list[str] = []


def _page_html() -> str:
    if not _PAGE_CACHE:
        _PAGE_CACHE.append(resources.files("edgeinfer.serve").joinpath("page.html").read_text("utf-8"))
    return _PAGE_CACHE[0]


# -- helpers --------------------------------------------------------------------------------

def _annotate_mode(request: Request) -> str | None:
    if not request.scope.get("query_string"):
        return None  # the common case: no query to parse
    value = request.query_params.get("annotate", "").lower()
    if value not in ANNOTATE_MODES:
        raise HTTPException(400, f"annotate={value!r} is not one of 1 (JPEG response), inline (base64 in JSON), 0")
    return ANNOTATE_MODES[value]


async def _image_bytes(request: Request) -> bytes | str:
    """The image bytes of the body, or its text (``text/plain``, for a text model)."""
    content_type = request.headers.get("content-type", "application/octet-stream").lower()
    if content_type.startswith("text/plain"):
        try:
            return (await request.body()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"the text/plain body is not UTF-8 ({exc}); send UTF-8 text") from exc
    if content_type.startswith("multipart/form-data"):
        return await _upload_bytes(request)
    data = await request.body()
    # curl --data-binary @photo.jpg sends application/x-www-form-urlencoded: the bytes say what they are.
    if not content_type.startswith(IMAGE_TYPES) and not data.startswith(IMAGE_SIGNATURES):
        raise HTTPException(415, f"Content-Type {content_type!r} is not accepted: send image/jpeg, image/png, "
                                 "application/octet-stream, or multipart/form-data with a field 'image'")
    if not data:
        raise InputError("the request body is empty; send the image bytes (JPEG or PNG)")
    return data


def _prepare(item: bytes | str, max_pixels: int | None) -> Any:
    """Image bytes to a frame; a text passes on to the model's text input kind."""
    return item if isinstance(item, str) else read_image(item, max_pixels=max_pixels)


async def _upload_bytes(request: Request) -> bytes:
    async with request.form(max_files=4, max_fields=16) as form:
        for name in UPLOAD_FIELDS:
            upload = form.get(name)
            if upload is not None and not isinstance(upload, str):
                return await upload.read()
    raise InputError("the multipart upload has no file field named 'image' or 'file'")


def _annotated_jpeg(frame: np.ndarray, result: Any) -> bytes:
    from edgeinfer.annotate import draw
    from edgeinfer.preprocess import import_cv2

    cv2 = import_cv2()
    ok, encoded = cv2.imencode(".jpg", draw(frame, result), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise EdgeInferError("OpenCV could not encode the annotated frame as JPEG")
    return bytes(encoded.tobytes())


# -- errors ---------------------------------------------------------------------------------

async def _too_large_error(request: Request, exc: Exception) -> Response:
    return error_response(413, str(exc))


async def _input_error(request: Request, exc: Exception) -> Response:
    return error_response(400, str(exc))


async def _sdk_error(request: Request, exc: Exception) -> Response:
    return error_response(500, f"{type(exc).__name__}: {exc}")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    message = exc.detail
    if exc.status_code == 405:
        allowed = next((v for k, v in headers.items() if k.lower() == "allow"), "another method")
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
    elif exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.url.path}; the routes are listed in /openapi.json"
    return error_response(exc.status_code, message, headers=headers)
