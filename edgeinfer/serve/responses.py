"""The JSON body of ``POST /v1/predict``: the result's ``to_dict()`` plus the serving fields.

:func:`prediction_json` gives the bytes Starlette's ``JSONResponse`` would send for
``{**result.to_dict(), "model", "latency_ms", "batch_size"}``. A classification (the
commonest answer of a small served model) is written directly from its arrays: building the
dicts and running them through ``json.dumps`` took about a tenth of a request's Python time
in ``bench/bench_serve.py``. Every other result, and a classification with a score that is
not a finite number (which ``JSONResponse`` refuses), goes the generic way.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring
from typing import Any

from edgeinfer.results import SCORE_DECIMALS, Classification

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
    if type(result) is Classification and not extra:
        fast = _classification_json(result, model, latency_ms, batch_size)
        if fast is not None:
            return fast
    body = {**result.to_dict(), "model": model, "latency_ms": latency_ms, "batch_size": batch_size, **(extra or {})}
    return _ENCODER.encode(body).encode()


def _classification_json(result: Classification, model: str, latency_ms: float, batch_size: int) -> bytes | None:
    """``Classification.to_dict()`` and the serving fields as JSON text; None for non-finite scores."""
    scores = [round(score, SCORE_DECIMALS) for score in result.scores.tolist()]
    if not all(map(math.isfinite, scores)) or not math.isfinite(latency_ms):
        return None
    # repr() of a float is what json writes for it; the labels are escaped by json's own encoder.
    top = ",".join([f'{{"label":{encode_basestring(label)},"class_id":{int(cid)},"score":{score!r}}}'
                    for label, cid, score in zip(result.labels, result.class_ids.tolist(), scores, strict=True)])
    return (f'{{"task":"classification","top":[{top}],"model":{encode_basestring(model)},'
            f'"latency_ms":{float(latency_ms)!r},"batch_size":{int(batch_size)}}}').encode()
