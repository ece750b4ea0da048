"""Geometry: model-input coordinates map back to frame pixels exactly."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.card import LetterboxSpec, PreprocessSpec
from edgeinfer.preprocess import build_preprocessor, letterbox_geometry, plan_resize
from edgeinfer.types import TensorSpec

CASES = [  # (mode, align, frame_wh, input_wh)
    ("letterbox", "center", (1920, 1080), (640, 640)),
    ("letterbox", "center", (451, 300), (320, 256)),
    ("letterbox", "top_left", (300, 451), (320, 320)),
    ("letterbox", "center", (64, 48), (320, 320)),  # enlarging
    ("center_crop", "center", (600, 400), (224, 224)),
    ("center_crop", "center", (300, 451), (160, 128)),
    ("stretch", "center", (451, 300), (96, 80)),
]
IDS = [f"{m}-{a}-{f[0]}x{f[1]}-to-{i[0]}x{i[1]}" for m, a, f, i in CASES]


@pytest.mark.parametrize(("mode", "align", "frame_wh", "input_wh"), CASES, ids=IDS)
def test_points_round_trip_and_frame_edges_land_on_the_paste_box(
        mode: str, align: str, frame_wh: tuple[int, int], input_wh: tuple[int, int]) -> None:
    plan = plan_resize(frame_wh, input_wh, mode=mode, align=align)
    geometry = plan.geometry
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 1, (100, 2)) * frame_wh
    np.testing.assert_allclose(geometry.to_frame(geometry.to_input(points)), points, rtol=0, atol=1e-9)
    # The frame's corners land on the resized frame's corners, shifted by the paste/crop offset.
    x, y, _, _ = plan.paste_xywh
    cx, cy = plan.crop_xy
    corners = geometry.to_input(np.array([[0.0, 0.0], frame_wh]))
    rw, rh = plan.resized_wh
    np.testing.assert_allclose(corners, [[x - cx, y - cy], [x - cx + rw, y - cy + rh]], atol=1e-9)
    if mode == "letterbox":
        assert plan.paste_xywh[2] <= input_wh[0] and plan.paste_xywh[3] <= input_wh[1]
        assert input_wh[0] in plan.paste_xywh[2:] or input_wh[1] in plan.paste_xywh[2:]
        assert geometry.offset_xy[0] >= 0 and geometry.offset_xy[1] >= 0
        assert geometry.scale_xy == pytest.approx((geometry.scale_xy[1],) * 2, rel=0.02)  # aspect kept
    if mode == "center_crop":
        assert geometry.offset_xy[0] <= 0 and geometry.offset_xy[1] <= 0
        # The input covers crop_fraction of the resized frame along its tighter axis.
        covered = max(input_wh[0] / plan.resized_wh[0], input_wh[1] / plan.resized_wh[1])
        assert covered == pytest.approx(0.875, abs=0.01)


def test_letterbox_geometry_helper() -> None:
    g = letterbox_geometry((1920, 1080), (640, 640))
    assert g.scale_xy == (1 / 3, 1 / 3) and g.offset_xy == (0.0, 140.0)
    assert letterbox_geometry((1920, 1080), (640, 640), align="top_left").offset_xy == (0.0, 0.0)


@pytest.mark.parametrize(("mode", "align", "frame_wh", "input_wh"), CASES, ids=IDS)
def test_marked_spot_lands_where_geometry_says(photos: dict[str, np.ndarray], mode: str, align: str,
                                               frame_wh: tuple[int, int], input_wh: tuple[int, int]) -> None:
    import cv2

    w, h = frame_wh
    frame = cv2.resize(photos["coffee"], (w, h)) // 4  # a dark real photo
    size = max(3, round(8 / min(input_wh[0] / w, input_wh[1] / h)))  # ~8 input pixels wide
    centre = np.array([w * 0.6, h * 0.55])
    x0, y0 = (centre - size / 2).round().astype(int)
    frame[y0:y0 + size, x0:x0 + size] = 255
    marked_centre = np.array([x0 + size / 2, y0 + size / 2])  # continuous coordinates
    spec = PreprocessSpec(color="bgr", resize=mode, letterbox=LetterboxSpec(align=align, pad_value=0))
    pre = build_preprocessor(spec, TensorSpec("x", (1, input_wh[1], input_wh[0], 3), np.dtype(np.uint8)))
    tensor, geometry = pre(frame)
    weights = np.clip(tensor[0, :, :, 1].astype(np.float64) - 100, 0, None)  # bright spot only
    ys, xs = np.mgrid[0:input_wh[1], 0:input_wh[0]]
    found = np.array([(weights * (xs + 0.5)).sum(), (weights * (ys + 0.5)).sum()]) / weights.sum()
    expected = geometry.to_input(marked_centre)
    np.testing.assert_allclose(found, expected, atol=0.5)
    np.testing.assert_allclose(geometry.to_frame(found), marked_centre, atol=0.5 / min(geometry.scale_xy))
