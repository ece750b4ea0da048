"""ASGI middleware in front of the HTTP routes: body size limit and bearer token.

:class:`BodyLimitMiddleware` answers 413 before reading when ``Content-Length`` is too
large, and raises a 413 ``HTTPException`` from ``receive`` when a body without a length
(chunked) grows past the limit, so no route ever holds more than ``max_body_bytes``.
:class:`BearerAuthMiddleware` answers 401 unless the request carries the token, compared
in constant time; some paths are public, and image streams may pass it as
``?access_token=`` because an ``<img>`` element cannot send headers.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BearerAuthMiddleware", "BodyLimitMiddleware", "error_response"]


def error_response(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error body every route uses: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def _too_large(limit: int, size: int | None) -> str:
    given = f"{size} bytes" if size is not None else "more"
    return f"request body too large: {given} given, at most {limit} bytes allowed (--max-body-mb)"


def _content_length(scope: Scope) -> str | None:
    # What Headers(scope=scope).get("content-length") gives, without building the mapping
    # for every request (ASGI servers send header names lowercased).
    for name, value in scope["headers"]:
        if name == b"content-length":
            return str(value.decode("latin-1"))
    return None


class BodyLimitMiddleware:
    """Reject request bodies larger than ``max_body_bytes`` with 413.

    Args:
        app: The ASGI app to protect.
        max_body_bytes: Largest accepted body, in bytes.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None:
            if not length.isdigit():
                await error_response(400, f"invalid Content-Length header {length!r}")(scope, receive, send)
                return
            if int(length) > self.max_body_bytes:
                await error_response(413, _too_large(self.max_body_bytes, int(length)))(scope, receive, send)
                return
            # The HTTP parser delivers exactly Content-Length bytes: no need to count them.
            await self.app(scope, receive, send)
            return
        await self.app(scope, self._limited(receive), send)

    def _limited(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body_bytes

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, _too_large(limit, None))
            return message

        return limited_receive


class BearerAuthMiddleware:
    """Require ``Authorization: Bearer <token>`` on every path but the public ones.

    Args:
        app: The ASGI app to protect.
        token: The expected token.
        public_paths: Exact paths served without a token (``/healthz``, ``/``).
        query_token_prefixes: Path prefixes where ``?access_token=`` is accepted for GET
            (image streams shown by ``<img>`` elements, which cannot set headers).
    """

    def __init__(self, app: ASGIApp, token: str, *, public_paths: Collection[str] = (),
                 query_token_prefixes: Collection[str] = ()) -> None:
        if not token:
            raise ValueError("an empty token would protect nothing; pass None to serve without one")
        self.app = app
        self._token = token.encode()
        self.public_paths = frozenset(public_paths)
        self.query_token_prefixes = tuple(query_token_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public_paths or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, "missing or wrong bearer token: send the header 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="edgeinfer"'},
        )
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        header = Headers(scope=scope).get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and given:
            return hmac.compare_digest(given.strip().encode(), self._token)
        if scope["method"] == "GET" and scope["path"].startswith(self.query_token_prefixes):
            query = QueryParams(scope.get("query_string", b"").decode("latin-1"))
            return hmac.compare_digest(query.get("access_token", "").encode(), self._token)
        return False
