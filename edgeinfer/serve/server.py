"""Running the app with uvicorn: in the foreground (the CLI) or on a thread (daemon, tests).

Both stop gracefully: uvicorn stops accepting, lets running requests finish (at most
``GRACEFUL_TIMEOUT_S``), and the app's MJPEG streams end at once because the app is told
to stop (:func:`~edgeinfer.serve.app.request_stop`) before uvicorn waits for them. On
SIGINT/SIGTERM :func:`serve_forever` then returns, so the caller's cleanup (closing the
model) runs and the process exits 0.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

from edgeinfer.errors import EdgeInferError, MissingDependencyError

__all__ = ["GRACEFUL_TIMEOUT_S", "RunningServer", "serve_forever", "start_in_thread"]

GRACEFUL_TIMEOUT_S = 5
START_TIMEOUT_S = 10.0


def _server(app: Any, host: str, port: int, **options: Any) -> Any:
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("uvicorn", "serve", "edgeinfer serve") from exc
    from edgeinfer.serve.app import request_stop

    class Server(uvicorn.Server):
        """uvicorn's server that also ends the app's endless streams on SIGINT/SIGTERM."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # As uvicorn's, minus re-raising the signal after shutdown: the caller's
            # cleanup (closing the model) runs and the process exits 0 after a clean stop.
            request_stop(app)
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C skips waiting for connections
            else:
                self.should_exit = True

    config = uvicorn.Config(app, host=host, port=port, ws="none", lifespan="on",
                            timeout_graceful_shutdown=GRACEFUL_TIMEOUT_S, **options)
    return Server(config)


def serve_forever(app: Any, host: str = "127.0.0.1", port: int = 8080, *, log_level: str = "info",
                  access_log: bool = True) -> None:
    """Serve ``app`` on ``host:port`` until SIGINT or SIGTERM, then shut down gracefully.

    Args:
        app: An ASGI app, usually from :func:`edgeinfer.serve.create_app`.
        host: Address to bind; ``0.0.0.0`` serves the whole network (set a token).
        port: TCP port; 0 picks a free one.
        log_level: uvicorn's log level (``info`` shows one access line per request).
        access_log: Log each request (turn off for high request rates: a line costs about
            as much as predicting a small model).

    Raises:
        EdgeInferError: the address could not be bound.
    """
    server = _server(app, host, port, log_level=log_level, access_log=access_log)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        if server.started:
            raise
        raise EdgeInferError(f"could not serve on {host}:{port} (in use, or not an address here); "
                             "pick another --port or --host") from exc


class RunningServer:
    """A uvicorn server on a background thread; ``stop()`` it (or use ``with``)."""

    def __init__(self, server: Any, thread: threading.Thread, host: str) -> None:
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self, timeout_s: float = GRACEFUL_TIMEOUT_S + 5.0) -> None:
        """Stop gracefully and wait for the thread to end."""
        from edgeinfer.serve.app import request_stop

        request_stop(self._server.config.app)
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0, *,
                    log_level: str = "warning") -> RunningServer:
    """Start serving ``app`` on a daemon thread and return once it accepts connections.

    Args:
        app: An ASGI app.
        host: Address to bind.
        port: TCP port; 0 (default) picks a free one, see ``RunningServer.port``.
        log_level: uvicorn's log level. uvicorn's own logging config is not installed,
            so its records go to the host program's handlers.

    Returns:
        The running server.

    Raises:
        EdgeInferError: the server did not start within ``START_TIMEOUT_S`` seconds.
    """
    server = _server(app, host, port, log_level=log_level, log_config=None)
    thread = threading.Thread(target=server.run, name=f"edgeinfer-http-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(GRACEFUL_TIMEOUT_S)
        raise EdgeInferError(f"the HTTP server did not start on {host}:{port}; see the log for the reason")
    return RunningServer(server, thread, host)
