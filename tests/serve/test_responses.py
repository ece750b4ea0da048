"""The predict route's JSON body against what JSONResponse sends for the same result."""

from __future__ import annotations

import numpy as np
import pytest
from starlette.responses import JSONResponse

from edgeinfer.results import Classification, Detections
from edgeinfer.serve.responses import prediction_json


def _expected(result: object, extra: dict[str, object] | None = None) -> bytes:
    body = {**result.to_dict(), "model": "m\u00e9 \"x\".onnx", "latency_ms": 0.125, "batch_size": 3,  # type: ignore[attr-defined]
            **(extra or {})}
    return bytes(JSONResponse(body).body)


@pytest.mark.parametrize("scores", [[0.26171875, 1e-7, 0.0, -0.0], [1.0, 0.5, 123456.789, 3e-5]])
def test_classification_json_is_what_jsonresponse_sends(scores: list[float]) -> None:
    result = Classification(class_ids=np.array([3, 0, 12, 7], np.int64), scores=np.array(scores, np.float32),
                            labels=("caf\u00e9", 'say "hi"', "back\\slash\n", "\u732b"))
    assert prediction_json(result, "m\u00e9 \"x\".onnx", 0.125, 3) == _expected(result)


def test_non_finite_scores_are_refused_as_jsonresponse_does() -> None:
    result = Classification(class_ids=np.array([1], np.int64), scores=np.array([np.nan], np.float32), labels=("a",))
    with pytest.raises(ValueError):
        prediction_json(result, "m", 1.0, 1)


def test_other_results_and_extra_fields_are_what_jsonresponse_sends() -> None:
    detections = Detections(boxes_xyxy=np.array([[1.5, 2, 30, 40.25]], np.float32), scores=np.array([0.9], np.float32),
                            class_ids=np.array([2], np.int64), labels=("car",))
    assert prediction_json(detections, "m\u00e9 \"x\".onnx", 0.125, 3) == _expected(detections)
    result = Classification(class_ids=np.array([1], np.int64), scores=np.array([0.5], np.float32), labels=("a",))
    extra = {"annotated_jpeg_base64": "QUJD"}
    assert prediction_json(result, "m\u00e9 \"x\".onnx", 0.125, 3, extra) == _expected(result, extra)
