"""The JSON body of ``POST /v1/predict``: the result's ``to_dict()`` plus the serving fields.

:func:`prediction_json` gives the bytes Starlette's ``JSONResponse`` would send for
``{**result.to_dict(), "model", "latency_ms", "batch_size"}``, with one encoder made once
instead of one per response.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["prediction_json"]

# Starlette's JSONResponse.render, made once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def prediction_json(result: Any, model: str, latency_ms: float, batch_size: int,
                    extra: dict[str, Any] | None = None) -> bytes:
    """The response body for one prediction, UTF-8 JSON.

    Args:
        result: The model's result (``Classification``, ``Detections`` ...).
        model: The model's name.
        latency_ms: Time from submitting the image to the result, ms.
        batch_size: Frames in the model call that produced it.
        extra: More top-level fields after these (``annotated_jpeg_base64``).

    Returns:
        The same bytes as ``JSONResponse({**result.to_dict(), "model": model, "latency_ms":
        latency_ms, "batch_size": batch_size, **extra}).body``.

    Raises:
        ValueError: a value JSON cannot hold (NaN or infinity), as ``JSONResponse`` does.
    """
    body = {**result.to_dict(), "model": model, "latency_ms": latency_ms, "batch_size": batch_size, **(extra or {})}
    return _ENCODER.encode(body).encode()
