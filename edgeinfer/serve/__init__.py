"""Local HTTP serving: ``edgeinfer serve`` and the live page of ``edgeinfer run``.

A Starlette app (:func:`create_app`) run by uvicorn (:func:`serve_forever`,
:func:`start_in_thread`); needs the ``serve`` extra (``pip install 'edgeinfer[serve]'``).
Attributes are imported on first use, so ``import edgeinfer.serve`` stays cheap::

    from edgeinfer.serve import create_app, serve_forever
    serve_forever(create_app(edgeinfer.load("model.onnx"), token="s3cret"), "127.0.0.1", 8080)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeinfer.serve.app import DEFAULT_MAX_BODY_BYTES, create_app, request_stop
    from edgeinfer.serve.batching import MicroBatcher, batch_capacity
    from edgeinfer.serve.server import RunningServer, serve_forever, start_in_thread
    from edgeinfer.serve.state import LiveView

__all__ = [
    "DEFAULT_MAX_BODY_BYTES", "LiveView", "MicroBatcher", "RunningServer", "batch_capacity", "create_app",
    "request_stop", "serve_forever", "start_in_thread",
]

_LAZY = {
    "DEFAULT_MAX_BODY_BYTES": "app", "LiveView": "state", "create_app": "app", "request_stop": "app",
    "MicroBatcher": "batching", "batch_capacity": "batching",
    "RunningServer": "server", "serve_forever": "server", "start_in_thread": "server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edgeinfer.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(f"edgeinfer.serve.{module}"), name)
