"""Result payloads: exact JSON shapes, plain Python numbers, and the regression/raw decoders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.postprocess import (
    Classification,
    Detections,
    RawResult,
    Regression,
    Segmentation,
    decode,
)
from edgeinfer.types import Geometry
from tests.postprocess.helpers import make_card, specs_for

GEOMETRY = Geometry((64, 48), (32, 32))


def test_classification_dict() -> None:
    result = Classification(np.array([3, 1]), np.array([0.78123456, 0.1], np.float32), ("cat", "dog"))
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload == {
        "task": "classification",
        "top": [{"label": "cat", "class_id": 3, "score": 0.7812},
                {"label": "dog", "class_id": 1, "score": 0.1}],
    }


def test_detections_dict() -> None:
    result = Detections(
        boxes_xyxy=np.array([[10.04, 20.0, 30.06, 40.55]], np.float32),
        scores=np.array([0.83333], np.float32),
        class_ids=np.array([1], np.int64),
        labels=("face",),
    )
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload == {
        "task": "detection",
        "detections": [
            {"label": "face", "class_id": 1, "score": 0.8333, "box_xyxy": [10.0, 20.0, 30.1, 40.5]}
        ],
    }
    assert list(payload["detections"][0]) == ["label", "class_id", "score", "box_xyxy"]


def test_segmentation_dict_keeps_mask_off_the_payload() -> None:
    result = Segmentation(np.zeros((48, 64), np.uint8), {"person": np.float64(0.54321)}, (1,))
    payload = result.to_dict()
    assert json.loads(json.dumps(payload)) == {
        "task": "segmentation", "classes": {"person": 0.5432}, "mask_shape": [48, 64]
    }


def test_regression_decode_and_dict() -> None:
    outputs = {"pose": np.array([[0.000123456, 3.5]], np.float32), "depth": np.array([[[7.25]]], np.float32)}
    card = make_card("regression", names=["x", "y", "depth"])
    result = decode(card, outputs, specs_for(outputs), GEOMETRY)
    assert isinstance(result, Regression)
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload == {"task": "regression", "values": [0.000123456, 3.5, 7.25], "names": ["x", "y", "depth"]}
    unnamed = decode(make_card("regression"), outputs, specs_for(outputs), GEOMETRY)
    assert "names" not in unnamed.to_dict()


def test_regression_names_must_match_values() -> None:
    outputs = {"out": np.zeros((1, 3), np.float32)}
    with pytest.raises(ConfigError, match="2 names"):
        decode(make_card("regression", names=["a", "b"]), outputs, specs_for(outputs), GEOMETRY)


def test_raw_decode_and_dict() -> None:
    outputs = {"a": np.zeros((1, 84, 10), np.float32), "b": np.zeros((1, 2), np.float32)}
    result = decode(make_card("raw"), outputs, specs_for(outputs), GEOMETRY)
    assert isinstance(result, RawResult)
    expected = {"task": "raw", "outputs": {"a": [1, 84, 10], "b": [1, 2]}}
    assert json.loads(json.dumps(result.to_dict())) == expected


def test_decode_reports_missing_outputs() -> None:
    outputs = {"a": np.zeros((1, 2), np.float32)}
    specs = specs_for({"a": outputs["a"], "b": outputs["a"]})
    with pytest.raises(ConfigError, match=r"\['b'\]"):
        decode(make_card("raw"), outputs, specs, GEOMETRY)


def test_results_are_frozen() -> None:
    result = Regression(np.zeros(2, np.float32))
    with pytest.raises(AttributeError):
        result.values = np.ones(2)  # type: ignore[misc]
