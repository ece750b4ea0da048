"""What the HTTP routes share: the :class:`ServeState` kept in ``app.state.edgeinfer``,
and the :class:`LiveView` protocol through which ``edgeinfer run`` shows its streams.

Both :mod:`edgeinfer.serve.app` (the prediction routes) and :mod:`edgeinfer.serve.live`
(the stream routes) read it; neither imports the other's routes for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from starlette.exceptions import HTTPException

if TYPE_CHECKING:
    from edgeinfer.model import Model
    from edgeinfer.serve.batching import MicroBatcher

__all__ = ["LiveView", "ModelProvider", "ServeState"]


@runtime_checkable
class LiveView(Protocol):
    """What ``edgeinfer run`` exposes to the page: annotated frames and stats per stream."""

    def stream_names(self) -> list[str]:
        """Names of the running streams, in display order."""
        ...

    def latest_jpeg(self, name: str) -> bytes | None:
        """The newest annotated frame of stream ``name`` as JPEG bytes (None before the first)."""
        ...

    def stream_stats(self) -> dict[str, Any]:
        """Per-stream stats, JSON-friendly: stream name -> dict of figures (fps, latency_ms ...)."""
        ...


ModelProvider = Callable[[], "Model | None"]


@dataclass
class ServeState:
    """What the routes share; kept in ``app.state.edgeinfer``.

    Attributes:
        model_provider: Returns the served model (or None while there is none); None when
            only streams are shown.
        batcher: Collects predictions into batches.
        live: The live view of running streams, if any.
        stopping: Set when the server shuts down; ends the MJPEG streams.
    """

    model_provider: ModelProvider | None
    batcher: MicroBatcher | None
    live: LiveView | None
    token_required: bool
    max_in_flight: int = 32
    started_s: float = field(default_factory=time.monotonic)
    stopping: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    in_flight: int = 0
    rejected_busy: int = 0
    mjpeg_clients: int = 0

    def model(self) -> Model:
        """The served model.

        Raises:
            HTTPException: 503 when this server has no model.
        """
        model = self.model_provider() if self.model_provider is not None else None
        if model is None:
            raise HTTPException(503, "no model is served here: this server only shows live streams")
        return model
