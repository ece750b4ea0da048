"""Classification decoding: activations, top-k and labels."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.postprocess import Classification, decode, top_k_classes
from edgeinfer.types import Geometry
from tests.postprocess.helpers import make_card, specs_for

GEOMETRY = Geometry((224, 224), (224, 224))
LOGITS = np.array([[1.0, 3.0, -2.0, 2.5, 0.0]], np.float32)
LABELS = ["cat", "dog", "fish", "bird", "cow"]


def classify(activation: str, top_k: int, labels=LABELS) -> Classification:
    card = make_card(
        "classification", labels=labels, postprocess={"activation": activation, "top_k": top_k}
    )
    outputs = {"logits": LOGITS}
    result = decode(card, outputs, specs_for(outputs), GEOMETRY)
    assert isinstance(result, Classification)
    return result


def test_softmax_top_k_with_labels() -> None:
    result = classify("softmax", 3)
    expected = np.exp(LOGITS[0]) / np.exp(LOGITS[0]).sum()
    assert result.labels == ("dog", "bird", "cat")
    np.testing.assert_array_equal(result.class_ids, [1, 3, 0])
    np.testing.assert_allclose(result.scores, expected[[1, 3, 0]], rtol=1e-5)


def test_sigmoid_scores_are_independent() -> None:
    result = classify("sigmoid", 5)
    np.testing.assert_allclose(result.scores, 1 / (1 + np.exp(-LOGITS[0][[1, 3, 0, 4, 2]])), rtol=1e-5)
    assert result.scores.sum() > 1.5  # not normalised like softmax


def test_none_keeps_scores_and_top_k_is_capped_by_class_count() -> None:
    result = classify("none", 10)
    assert len(result) == 5
    np.testing.assert_allclose(result.scores, [3.0, 2.5, 1.0, 0.0, -2.0])


def test_missing_labels_fall_back_to_numbers() -> None:
    result = classify("softmax", 2, labels=None)
    assert result.labels == ("1", "3")


def test_softmax_is_stable_for_large_logits() -> None:
    result = top_k_classes(np.array([1000.0, 999.0, -1000.0]), k=2, activation="softmax")
    assert np.all(np.isfinite(result.scores))
    np.testing.assert_allclose(result.scores, [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))], rtol=1e-5)


@pytest.mark.parametrize("activation", ["softmax", "sigmoid", "none"])
def test_scores_are_float32(activation: str) -> None:
    assert classify(activation, 2).scores.dtype == np.float32
