"""Zones and lines: config validation (errors name the key), binding to a frame, locating anchors."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.events import ZoneSet, parse_zones

SIZE = (320, 240)
SQUARE = [[100, 60], [220, 60], [220, 180], [100, 180]]


def test_self_intersecting_polygon_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"zones\.door\.polygon") as info:
        parse_zones({"zones": {"door": {"polygon": [[100, 60], [220, 180], [220, 60], [100, 180]]}}})
    assert "crosses itself" in str(info.value)


def test_polygon_needs_three_points() -> None:
    with pytest.raises(ConfigError, match=r"zones\.door\.polygon") as info:
        parse_zones({"zones": {"door": {"polygon": [[100, 60], [220, 60]]}}})
    assert "at least 3 points" in str(info.value)


def test_normalised_point_above_one_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"zones\.door") as info:
        parse_zones({"zones": {"door": {"polygon": [[0.1, 0.1], [0.5, 0.1], [1.2, 0.5]], "coords": "normalized"}}})
    assert "polygon[2]" in str(info.value)


def test_pixel_point_outside_the_frame_fails_at_binding() -> None:
    zones = parse_zones({"zones": {"door": {"polygon": [[10, 10], [400, 10], [10, 100]]}}})
    with pytest.raises(ConfigError, match=r"zones\.door\.polygon\[1\].*320x240"):
        ZoneSet(zones, SIZE)


def test_line_point_outside_the_frame_fails_at_binding() -> None:
    zones = parse_zones({"lines": {"gate": {"points": [[0, 120], [320, 300]]}}})
    with pytest.raises(ConfigError, match=r"lines\.gate\.points\[1\]"):
        ZoneSet(zones, SIZE)


def test_unknown_label_lists_the_models_labels() -> None:
    zones = parse_zones({"zones": {"door": {"polygon": SQUARE, "labels": ["dog"]}},
                         "lines": {"gate": {"points": [[0, 120], [320, 120]]}}})
    with pytest.raises(ConfigError, match=r"zones\.door\.labels") as info:
        ZoneSet(zones, SIZE, labels=("person", "car"))
    assert "'dog'" in str(info.value) and "person, car" in str(info.value)
    lines = parse_zones({"lines": {"gate": {"points": [[0, 120], [320, 120]], "labels": ["bus"]}}})
    with pytest.raises(ConfigError, match=r"lines\.gate\.labels"):
        ZoneSet(lines, SIZE, labels=("person", "car"))


def test_duplicate_name_between_zones_and_lines() -> None:
    with pytest.raises(ConfigError, match=r"zones\.x and lines\.x"):
        parse_zones({"zones": {"x": {"polygon": SQUARE}}, "lines": {"x": {"points": [[0, 120], [320, 120]]}}})


def test_unknown_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"zones\.door\.polgon: unknown key"):
        parse_zones({"zones": {"door": {"polgon": SQUARE}}})


def test_normalised_zone_binds_to_pixels_and_locates_anchors() -> None:
    zones = parse_zones({"zones": {"tri": {"polygon": [[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]]}},
                         "lines": {"gate": {"points": [[0.0, 0.5], [1.0, 0.5]]}}})
    bound = ZoneSet(zones, SIZE)
    np.testing.assert_allclose(bound.polygons_px[0], [[32, 24], [288, 24], [160, 216]])
    np.testing.assert_allclose(bound.lines_px[0], [[0, 120], [320, 120]])
    # bottom centers (160, 100) inside the triangle, (20, 100) outside; (300, 200) outside, below the line
    boxes = np.array([[150, 80, 170, 100], [10, 80, 30, 100], [290, 180, 310, 200]], np.float64)
    hits = bound.locate(boxes)
    assert hits.inside[:, 0].tolist() == [True, False, False]
    assert hits.line_px[:, 0].tolist() == pytest.approx([-20.0, -20.0, 80.0])
