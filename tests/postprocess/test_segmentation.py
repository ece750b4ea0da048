"""Segmentation decoding: argmax and threshold masks, mapped back to the frame."""

from __future__ import annotations

import numpy as np

from edgeinfer.postprocess import Segmentation, decode
from edgeinfer.types import Geometry
from tests.postprocess.helpers import crop_geometry, letterbox_geometry, make_card, specs_for

LABELS = ["background", "person", "car"]


def seg(card, output: np.ndarray, geometry: Geometry) -> Segmentation:
    outputs = {"mask": output}
    result = decode(card, outputs, specs_for(outputs), geometry)
    assert isinstance(result, Segmentation)
    return result


def class_scores_nchw(class_map: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """One-hot-ish scores [1, C, H, W] whose argmax is ``class_map``."""
    scores = np.random.default_rng(0).uniform(0, 0.5, (1, n_classes, *class_map.shape)).astype(np.float32)
    for c in range(n_classes):
        scores[0, c][class_map == c] = 2.0
    return scores


def test_argmax_nchw_and_nhwc_agree_under_stretch() -> None:
    class_map = np.zeros((8, 8), np.int64)
    class_map[0:4, 0:4] = 1
    class_map[7, :] = 2
    card = make_card("segmentation", labels=LABELS)
    geometry = Geometry((16, 16), (8, 8), (0.5, 0.5))
    nchw = seg(card, class_scores_nchw(class_map), geometry)
    nhwc = seg(card, class_scores_nchw(class_map).transpose(0, 2, 3, 1).copy(), geometry)
    np.testing.assert_array_equal(nchw.mask, nhwc.mask)
    np.testing.assert_array_equal(nchw.mask, np.kron(class_map, np.ones((2, 2), np.int64)))
    assert nchw.mask.shape == (16, 16) and nchw.mask.dtype == np.uint8
    assert nchw.classes == {"background": 40 / 64, "person": 16 / 64, "car": 8 / 64}
    assert list(nchw.classes) == ["background", "person", "car"]  # largest area first


def test_letterbox_padding_is_cropped_before_resizing() -> None:
    # Frame 16x8 letterboxed into 8x8: scale 0.5, rows 0-1 and 6-7 are padding.
    geometry = letterbox_geometry((16, 8), (8, 8))
    assert geometry.offset_xy == (0.0, 2.0)
    class_map = np.full((8, 8), 2, np.int64)  # padding predicted as "car"
    class_map[2:6, :] = 0
    class_map[2:4, 4:8] = 1  # top-right quarter of the valid region
    result = seg(make_card("segmentation", labels=LABELS), class_scores_nchw(class_map), geometry)
    expected = np.zeros((8, 16), np.uint8)
    expected[0:4, 8:16] = 1
    np.testing.assert_array_equal(result.mask, expected)
    assert "car" not in result.classes
    assert result.classes["person"] == 0.25


def test_single_channel_threshold_with_sigmoid_and_crop() -> None:
    # Frame 12x8 centre-cropped to 8x8 (scale 1): frame columns 0-1 and 10-11 unseen.
    geometry = crop_geometry((12, 8), (8, 8))
    logits = np.full((1, 1, 8, 8), -4.0, np.float32)
    logits[0, 0, :, 0:4] = 4.0  # left half of the crop
    card = make_card(
        "segmentation", labels=["person"], postprocess={"activation": "sigmoid", "mask_threshold": 0.5}
    )
    result = seg(card, logits, geometry)
    expected = np.zeros((8, 12), bool)
    expected[:, 2:6] = True
    assert result.mask.dtype == bool
    np.testing.assert_array_equal(result.mask, expected)
    assert result.classes == {"person": 32 / 96}


def test_threshold_decides_single_channel_mask() -> None:
    probs = np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4, 1)
    geometry = Geometry((4, 4), (4, 4))
    low = seg(make_card("segmentation", postprocess={"mask_threshold": 0.2}), probs, geometry)
    high = seg(make_card("segmentation", postprocess={"mask_threshold": 0.8}), probs, geometry)
    assert low.mask.sum() == int((probs >= 0.2).sum()) > high.mask.sum() == int((probs >= 0.8).sum())
    assert list(low.classes) == ["foreground"]


def test_small_mask_covers_the_whole_input() -> None:
    # A stride-2 head: 4x4 mask for an 8x8 input, frame 8x8.
    class_map = np.array([[1, 0, 0, 0]] * 4)
    result = seg(make_card("segmentation", labels=LABELS), class_scores_nchw(class_map),
                 Geometry((8, 8), (8, 8)))
    assert result.mask[:, 0:2].all() and not result.mask[:, 2:].any()
