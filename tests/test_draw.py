"""Drawing results: annotated copies, pixels changed where the result says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinfer.annotate import MASK_ALPHA, color_for, draw
from edgeinfer.errors import InputError
from edgeinfer.postprocess import Classification, Detections, RawResult, Regression, Segmentation

GREY = 90


def grey_frame(h: int = 240, w: int = 320) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def detections(boxes, class_ids, labels, scores=None) -> Detections:
    n = len(boxes)
    return Detections(
        boxes_xyxy=np.asarray(boxes, np.float32).reshape(n, 4),
        scores=np.asarray(scores if scores is not None else [0.9] * n, np.float32),
        class_ids=np.asarray(class_ids, np.int64),
        labels=tuple(labels),
    )


def test_draw_returns_annotated_copy_and_leaves_input() -> None:
    frame = grey_frame()
    before = frame.copy()
    out = draw(frame, detections([[100, 80, 200, 180]], [2], ["dog"]))
    np.testing.assert_array_equal(frame, before)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out is not frame and not np.shares_memory(out, frame)


def test_boxes_drawn_in_class_colours_with_label_tabs() -> None:
    frame = grey_frame()
    result = detections([[100, 80, 200, 180], [20, 150, 90, 230]], [2, 5], ["dog", "car"])
    out = draw(frame, result)
    # Box outlines: the middle of each left edge takes the class colour.
    assert tuple(out[130, 100]) == color_for(2)
    assert tuple(out[190, 20]) == color_for(5)
    assert color_for(2) != color_for(5)
    # The label tab sits just above the first box and is filled with its colour.
    tab = out[60:80, 100:140].reshape(-1, 3)
    assert (tab == color_for(2)).all(axis=1).mean() > 0.5
    assert (tab != color_for(2)).any(axis=1).any()  # text drawn on it
    # Box interiors away from the tab and the area outside boxes are untouched.
    assert tuple(out[150, 150]) == (GREY,) * 3
    assert tuple(out[20, 300]) == (GREY,) * 3


def test_label_tab_moves_inside_box_at_top_edge() -> None:
    out = draw(grey_frame(), detections([[50, 0, 150, 100]], [0], ["person"]))
    tab = out[2:12, 55:80].reshape(-1, 3)
    assert (tab == color_for(0)).all(axis=1).mean() > 0.5


def test_classification_draws_top_three_only() -> None:
    frame = grey_frame()
    result = Classification(np.arange(5), np.linspace(0.5, 0.1, 5, dtype=np.float32),
                            ("cat", "dog", "fish", "bird", "cow"))
    top3 = Classification(result.class_ids[:3], result.scores[:3], result.labels[:3])
    top2 = Classification(result.class_ids[:2], result.scores[:2], result.labels[:2])
    out = draw(frame, result)
    assert tuple(out[2, 2]) == color_for(0)
    np.testing.assert_array_equal(out, draw(frame, top3))
    assert (out != draw(frame, top2)).any()


def test_segmentation_overlay_blends_class_colours() -> None:
    frame = grey_frame()
    mask = np.zeros((240, 320), np.uint8)
    mask[100:200, 150:300] = 3
    result = Segmentation(mask, {"background": 0.8, "car": 0.2}, (0, 3))
    out = draw(frame, result)
    expected = np.clip(GREY * (1 - MASK_ALPHA) + np.array(color_for(3)) * MASK_ALPHA, 0, 255)
    np.testing.assert_allclose(out[150, 200], expected, atol=1)
    assert tuple(out[220, 100]) == (GREY,) * 3  # background stays as it was
    boolean = draw(frame, Segmentation(mask > 0, {"foreground": 0.2}, (1,)))
    assert tuple(boolean[150, 200]) != (GREY,) * 3 and tuple(boolean[220, 100]) == (GREY,) * 3


def test_segmentation_mask_size_must_match_frame() -> None:
    with pytest.raises(InputError, match="mask"):
        draw(grey_frame(), Segmentation(np.zeros((10, 10), np.uint8), {}))


@pytest.mark.parametrize(
    "result",
    [
        Regression(np.array([1.5, -2.25], np.float32), ("x", "y")),
        Regression(np.array([1.5], np.float32)),
        RawResult({"output0": np.zeros((1, 84, 8400), np.float32)}),
    ],
)
def test_text_results_write_top_left(result) -> None:
    out = draw(grey_frame(), result)
    assert (out[:20, :60] != GREY).any()
    assert tuple(out[200, 300]) == (GREY,) * 3


def test_bad_frame_is_rejected() -> None:
    with pytest.raises(InputError, match="uint8"):
        draw(np.zeros((10, 10), np.float32), RawResult({}))


def test_many_text_lines_stop_at_frame_bottom() -> None:
    out = draw(grey_frame(60, 80), Regression(np.arange(500, dtype=np.float32)))
    assert out.shape == (60, 80, 3)


def test_astronaut_annotated(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    data = pytest.importorskip("skimage.data")
    frame = np.ascontiguousarray(data.astronaut()[:, :, ::-1])  # RGB -> BGR
    result = detections(
        [[170, 20, 300, 200], [0, 150, 480, 512], [300, 310, 460, 500]],
        [0, 14, 39],
        ["face", "person", "flag"],
        [0.91, 0.83, 0.47],
    )
    out = draw(frame, result)
    path = tmp_path / "astronaut.png"
    assert cv2.imwrite(str(path), out)
    back = cv2.imread(str(path))
    np.testing.assert_array_equal(back, out)
    assert tuple(out[100, 170]) == color_for(0)
    assert (out != frame).any(axis=2).mean() < 0.2  # annotations, not a repaint


def test_top_level_draw_survives_submodule_import() -> None:
    code = (
        "import numpy as np, edgeinfer\n"
        "from edgeinfer.postprocess import RawResult\n"
        "import edgeinfer.annotate\n"
        "from edgeinfer.annotate import draw\n"
        "edgeinfer.draw(np.zeros((8, 8, 3), np.uint8), RawResult({}))\n"
        "frame = np.zeros((8, 8, 3), np.uint8)\n"
        "edgeinfer.draw(frame, RawResult({}))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_top_level_draw_is_the_function() -> None:
    code = (
        "import numpy as np, edgeinfer\n"
        "from edgeinfer.postprocess import RawResult\n"
        "frame = np.zeros((8, 8, 3), np.uint8)\n"
        "out = edgeinfer.draw(frame, RawResult({'a': np.zeros(2)}))\n"
        "assert out.shape == frame.shape\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)
