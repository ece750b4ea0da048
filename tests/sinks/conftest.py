"""Fixtures for the sink tests: a tiny local HTTP server for the webhook sink."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Server:
    """Answers POSTs with the status codes in ``script`` (then 200) and records bodies."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.requests: list[tuple[int, dict[str, Any], str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = server.script.pop(0) if server.script else 200
                server.requests.append((status, body, self.headers.get("Authorization", "")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def webhook_server() -> Iterator[Server]:
    """A local HTTP server on 127.0.0.1 that answers with ``script`` status codes, then 200."""
    srv = Server()
    yield srv
    srv.close()
