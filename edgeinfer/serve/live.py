"""Live-view routes: stats and annotated frames of the streams ``edgeinfer run`` is running,
and the recent events with their snapshots and clips (``GET /v1/events``).

The daemon hands :func:`~edgeinfer.serve.create_app` an object following the
:class:`~edgeinfer.serve.state.LiveView` protocol; these routes only read from it. An MJPEG
stream (``multipart/x-mixed-replace``) sends each new frame once, checks for a new one
``fps`` times a second, and ends when the client disconnects (Starlette cancels the
generator), when the server stops, or after ``?frames=N`` frames.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from edgeinfer.serve.state import LiveView, ServeState

__all__ = ["BOUNDARY", "live_routes", "mjpeg_parts"]

BOUNDARY = "frame"
DEFAULT_FPS = 10.0
MAX_FPS = 60.0


def live_routes() -> list[Route]:
    """The ``/v1/streams`` routes."""
    return [
        Route("/v1/streams", list_streams, methods=["GET"]),
        Route("/v1/streams/{name}/mjpeg", mjpeg, methods=["GET"]),
        Route("/v1/streams/{name}/latest.jpg", latest_jpeg, methods=["GET"]),
        Route("/v1/events", list_events, methods=["GET"]),
        Route("/v1/events/{event_id}/{what}", event_file, methods=["GET"]),
    ]


def _state(request: Request) -> ServeState:
    state: ServeState = request.app.state.edgeinfer
    return state


def _stream(request: Request) -> tuple[ServeState, LiveView, str]:
    state = _state(request)
    name = request.path_params["name"]
    names = state.live.stream_names() if state.live is not None else []
    if state.live is None or name not in names:
        raise HTTPException(404, f"no stream named {name!r}; streams here: {names}")
    return state, state.live, name


async def list_streams(request: Request) -> Response:
    """``{"streams": [names], "stats": {name: {...}}}``; empty when nothing is running."""
    live = _state(request).live
    if live is None:
        return JSONResponse({"streams": [], "stats": {}})
    return JSONResponse({"streams": live.stream_names(), "stats": live.stream_stats()})


async def latest_jpeg(request: Request) -> Response:
    """The newest annotated frame of one stream (404 before the first one)."""
    _, live, name = _stream(request)
    jpeg = await asyncio.to_thread(live.latest_jpeg, name)  # may draw and encode
    if jpeg is None:
        raise HTTPException(404, f"stream {name!r} has no annotated frame yet; try again in a moment")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


async def mjpeg(request: Request) -> Response:
    """Annotated frames of one stream as MJPEG (``?fps=`` poll rate, ``?frames=`` limit)."""
    state, live, name = _stream(request)
    fps = _number(request, "fps", DEFAULT_FPS, low=0.1, high=MAX_FPS)
    frames = request.query_params.get("frames")
    limit = int(_number(request, "frames", 1, low=1, high=1e9)) if frames is not None else None
    return StreamingResponse(
        mjpeg_parts(state, live, name, fps=fps, limit=limit),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


_FILES = {"frame.jpg": ("frame", "image/jpeg"), "crop.jpg": ("crop", "image/jpeg"), "clip.mp4": ("clip", "video/mp4")}


def _links(event: dict[str, Any]) -> dict[str, str]:
    base = f"/v1/events/{quote(str(event.get('event_id', '')), safe='')}"
    snapshot = event.get("snapshot") or {}
    links = {f"snapshot_{k}": f"{base}/{k}.jpg" for k in ("frame", "crop") if snapshot.get(k)}
    if event.get("clip"):
        links["clip"] = f"{base}/clip.mp4"
    return links


async def list_events(request: Request) -> Response:
    """``{"events": [...]}``: the latest message of each recent event, newest first, with ``links``
    to its snapshots and clip (``?stream=`` one stream, ``?limit=`` at most this many, default 50)."""
    live = _state(request).live
    recent = getattr(live, "recent_events", None)
    if recent is None:
        return JSONResponse({"events": []})
    limit = int(_number(request, "limit", 50, low=1, high=1000))
    events = recent(request.query_params.get("stream"), limit)
    return JSONResponse({"events": [{**e, "links": _links(e)} for e in events]})


async def event_file(request: Request) -> Response:
    """An event's ``frame.jpg``, ``crop.jpg`` (snapshots) or ``clip.mp4``."""
    live = _state(request).live
    event_id, what = request.path_params["event_id"], request.path_params["what"]
    if what not in _FILES:
        raise HTTPException(404, f"an event has {sorted(_FILES)}; not {what!r}")
    key, media_type = _FILES[what]
    finder = getattr(live, "event_file", None)
    path = None if finder is None else finder(event_id, key)
    if path is None:
        raise HTTPException(404, f"no recent event {event_id!r} with a {key} file; GET /v1/events lists them")
    if not path.is_file():
        if key == "clip":
            raise HTTPException(404, f"the clip of {event_id} is not written yet (it ends a few seconds after "
                                     "the event); try again shortly", headers={"Retry-After": "5"})
        raise HTTPException(404, f"the {key} snapshot of {event_id} is gone (removed from {path.parent})")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})


def _number(request: Request, key: str, default: float, *, low: float, high: float) -> float:
    text = request.query_params.get(key)
    try:
        value = float(text) if text is not None else default
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise HTTPException(400, f"{key}={text!r} must be a number from {low:g} to {high:g}")
    return value


async def mjpeg_parts(state: ServeState, live: LiveView, name: str, *, fps: float,
                      limit: int | None) -> AsyncIterator[bytes]:
    """Yield one multipart part per new JPEG of ``name`` until stopped, or ``limit`` parts.

    Args:
        state: Holds the ``stopping`` flag and the client counter.
        live: Where the frames come from.
        name: The stream.
        fps: How often to look for a new frame, per second.
        limit: Stop after this many frames; None for no limit.
    """
    state.mjpeg_clients += 1
    sent = 0
    last: bytes | None = None
    try:
        while not state.stopping.is_set() and (limit is None or sent < limit):
            jpeg = await asyncio.to_thread(live.latest_jpeg, name)  # may draw and encode
            if jpeg is not None and jpeg != last:
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                yield head.encode("ascii") + jpeg + b"\r\n"
                sent += 1
                last = jpeg
            await asyncio.sleep(1.0 / fps)
    finally:
        state.mjpeg_clients -= 1
