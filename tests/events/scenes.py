"""Synthetic video scenes with known trajectories, for the tracking and events accuracy tests.

A scene is a held-out real photo (:func:`tests.e2e.scenes.heldout_backgrounds`, never seen
in training) with the real ``cat`` and ``cup`` crops pasted along straight, constant-velocity
paths: objects enter through one frame border and leave through another, cross each other,
walk into and out of a zone, cross a line in each direction, and vanish for a few frames
under an occluder band. One crop is pasted for exactly one frame (a "flash"): a detection
that lasts one frame must never become a track event.

Ground truth is rendered with the frame: an id map records which object owns each pixel
(later pastes cover earlier ones, the occluder covers everything), so the visible fraction
of every object is exact. As in the MOTChallenge benchmarks, an object is ground truth in a
frame when at least :data:`MIN_VISIBLE` of its box is visible, and a *don't-care* region
while it is only partly visible (cut by the border, mostly covered, or a flash), so that
neither finding nor missing it counts.

No torch here: only numpy, OpenCV and the photos of :mod:`tests.e2e.scenes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np

from tests.e2e import scenes as photos

__all__ = [
    "CAT_SIZE_WH",
    "CUP_SIZE_WH",
    "FPS",
    "FRAME_SIZE_WH",
    "MIN_VISIBLE",
    "Flash",
    "Frame",
    "Mover",
    "Occluder",
    "SceneSpec",
    "Truth",
    "background",
    "draw_scene",
    "render",
    "scene_specs",
]

FRAME_SIZE_WH = (320, 240)
FPS = 15.0
# Sizes the detector finds in nearly every position on these frames at score >= 0.5 (measured:
# cats 88 pixels wide 99%, 72 wide 89%, 56 wide 46%; cups 56 wide and up 99%).
CAT_SIZE_WH = (92, 83)
CUP_SIZE_WH = (60, 71)
MIN_VISIBLE = 0.5  # MOT17 counts a box as ground truth from half visible on; below it is don't-care
OCCLUDER_GREY = 96
Point = tuple[float, float]


@dataclass(frozen=True)
class Mover:
    """One object on a straight path at constant velocity.

    Attributes:
        object_id: Ground-truth id, unique in its scene, from 1.
        label: ``"cat"`` or ``"cup"``.
        start_xy: Box centre at ``first_frame``, frame pixels (may lie outside the frame).
        velocity_xy: Pixels per frame.
        size_wh: Box size in pixels.
        first_frame: First frame it is pasted in.
        last_frame: Last frame it is pasted in (inclusive).
    """

    object_id: int
    label: str
    start_xy: Point
    velocity_xy: Point
    size_wh: tuple[int, int]
    first_frame: int
    last_frame: int

    def box_at(self, frame: int) -> tuple[float, float, float, float] | None:
        """The full (unclipped) xyxy box in ``frame``, or ``None`` before or after its path."""
        if not self.first_frame <= frame <= self.last_frame:
            return None
        t = frame - self.first_frame
        cx = self.start_xy[0] + self.velocity_xy[0] * t
        cy = self.start_xy[1] + self.velocity_xy[1] * t
        w, h = self.size_wh
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


@dataclass(frozen=True)
class Occluder:
    """A grey block over ``object_id``'s box (plus a margin) for frames ``first..last`` inclusive."""

    object_id: int
    first_frame: int
    last_frame: int
    margin_px: int = 6


@dataclass(frozen=True)
class Flash:
    """A crop pasted for exactly one frame: a true one-frame detection that must not become an event."""

    label: str
    frame: int
    box_xyxy: tuple[int, int, int, int]


@dataclass(frozen=True)
class SceneSpec:
    """A scene: its background, objects, and the zone and line the events tests use.

    Attributes:
        name: Scene name (test ids, picture names).
        background: Key of :func:`tests.e2e.scenes.heldout_backgrounds`.
        frames: Number of frames.
        movers: The objects.
        occluders: Bands that hide an object for a few frames.
        flashes: One-frame pastes.
        zone: Zone polygon, frame pixels.
        line: Directed line ``A -> B``, frame pixels.
    """

    name: str
    background: str
    frames: int
    movers: tuple[Mover, ...]
    occluders: tuple[Occluder, ...] = ()
    flashes: tuple[Flash, ...] = ()
    zone: tuple[Point, ...] = ()
    line: tuple[Point, Point] = ((0.0, 0.0), (0.0, 0.0))


@dataclass(frozen=True)
class Truth:
    """One object in one frame: its box clipped to the frame and the fraction of it that shows."""

    object_id: int
    label: str
    box_xyxy: tuple[float, float, float, float]
    visible: float


@dataclass(frozen=True)
class Frame:
    """A rendered frame: BGR pixels, its time, ground truth (visible enough) and don't-care boxes."""

    index: int
    timestamp: float
    image: np.ndarray
    truth: list[Truth] = field(default_factory=list)
    dont_care: list[tuple[float, float, float, float]] = field(default_factory=list)


def scene_specs() -> list[SceneSpec]:
    """The scenes, each 80-110 frames at :data:`FPS` on a 320x240 frame.

    * ``crossing``: two cats cross each other (the lower one passes in front), a cup crosses
      both diagonally; all enter and leave through the borders.
    * ``zone_line``: a cup walks into the zone and out again; a cat crosses the vertical line
      left to right, a cup right to left.
    * ``occlusion``: a cat disappears under a band for 3 frames and comes back; a cup goes the
      other way; a cat is flashed for one frame.
    """
    cat, cup = CAT_SIZE_WH, CUP_SIZE_WH
    return [
        SceneSpec(
            "crossing", "astronaut", 100,
            (Mover(1, "cat", (-46.0, 80.0), (4.0, 0.4), cat, 0, 99),
             Mover(2, "cat", (366.0, 160.0), (-4.0, -0.3), cat, 0, 99),
             Mover(3, "cup", (60.0, -40.0), (2.4, 3.0), cup, 12, 99)),
            zone=((110.0, 60.0), (230.0, 60.0), (230.0, 200.0), (110.0, 200.0)),
            line=((250.0, 10.0), (250.0, 230.0)),
        ),
        SceneSpec(
            "zone_line", "motorcycle_wide", 110,
            (Mover(1, "cup", (-30.0, 120.0), (3.2, 0.0), cup, 0, 109),
             Mover(2, "cat", (40.0, 60.0), (3.0, 0.5), cat, 5, 100),
             Mover(3, "cup", (300.0, 185.0), (-3.6, -0.2), cup, 20, 109)),
            zone=((200.0, 100.0), (290.0, 100.0), (290.0, 200.0), (200.0, 200.0)),
            line=((130.0, 5.0), (130.0, 235.0)),
        ),
        SceneSpec(
            "occlusion", "motorcycle_tall", 90,
            (Mover(1, "cat", (-46.0, 90.0), (4.0, 0.6), cat, 0, 89),
             Mover(2, "cup", (290.0, 175.0), (-3.0, 0.0), cup, 0, 89)),
            occluders=(Occluder(1, 40, 42),),
            flashes=(Flash("cat", 25, (200, 20, 292, 103)),),
            zone=((30.0, 130.0), (130.0, 130.0), (130.0, 235.0), (30.0, 235.0)),
            line=((200.0, 5.0), (200.0, 235.0)),
        ),
    ]


@cache
def background(name: str) -> np.ndarray:
    """The held-out photo ``name`` at 320x240; a photo wider than 4:3 keeps its left 4:3 part, unsqueezed."""
    photo = photos.heldout_backgrounds()[name]
    h, w = photo.shape[:2]
    if w * 3 > h * 4:
        photo = photo[:, :h * 4 // 3]
    return cv2.resize(np.ascontiguousarray(photo), FRAME_SIZE_WH, interpolation=cv2.INTER_AREA)


@cache
def _crops() -> dict[str, np.ndarray]:
    return dict(zip(photos.LABELS, photos.object_crops(), strict=True))


def _paste_clipped(image: np.ndarray, ids: np.ndarray, crop: np.ndarray, box: Sequence[float], owner: int) -> None:
    """Paste ``crop`` resized to ``box`` (which may reach past the border), marking ``ids`` with ``owner``."""
    x1, y1, x2, y2 = (round(v) for v in box)
    patch = cv2.resize(crop, (x2 - x1, y2 - y1), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if cx1 >= cx2 or cy1 >= cy2:
        return
    image[cy1:cy2, cx1:cx2] = patch[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    ids[cy1:cy2, cx1:cx2] = owner


def _clip(box: Sequence[float]) -> tuple[float, float, float, float]:
    w, h = FRAME_SIZE_WH
    return max(box[0], 0.0), max(box[1], 0.0), min(box[2], float(w)), min(box[3], float(h))


def render(spec: SceneSpec) -> list[Frame]:
    """Render every frame of ``spec`` with its ground truth.

    Args:
        spec: The scene.

    Returns:
        ``spec.frames`` frames: ``(240, 320, 3)`` uint8 BGR images at ``index / FPS`` seconds.
    """
    crops = _crops()
    out = []
    for index in range(spec.frames):
        image = background(spec.background).copy()
        ids = np.zeros(image.shape[:2], np.int32)
        boxes = {m.object_id: m.box_at(index) for m in spec.movers}
        for mover in spec.movers:
            box = boxes[mover.object_id]
            if box is not None:
                _paste_clipped(image, ids, crops[mover.label], box, mover.object_id)
        for occluder in spec.occluders:
            box = boxes[occluder.object_id]
            if box is not None and occluder.first_frame <= index <= occluder.last_frame:
                m = occluder.margin_px
                x1, y1, x2, y2 = (round(v) for v in _clip((box[0] - m, box[1] - m, box[2] + m, box[3] + m)))
                image[y1:y2, x1:x2] = OCCLUDER_GREY
                ids[y1:y2, x1:x2] = -1
        frame = Frame(index, index / FPS, image)
        for flash in spec.flashes:
            if flash.frame == index:
                _paste_clipped(image, ids, crops[flash.label], flash.box_xyxy, -2)
                frame.dont_care.append(tuple(float(v) for v in flash.box_xyxy))  # type: ignore[arg-type]
        _add_truth(frame, spec, boxes, ids)
        out.append(frame)
    return out


def _add_truth(frame: Frame, spec: SceneSpec, boxes: dict[int, tuple[float, float, float, float] | None],
               ids: np.ndarray) -> None:
    """Sort each object into ground truth or don't-care by the share of its full box that shows."""
    for mover in spec.movers:
        box = boxes[mover.object_id]
        if box is None:
            continue
        x1, y1, x2, y2 = (round(v) for v in box)  # the pasted pixels, as _paste_clipped rounds them
        visible = float((ids == mover.object_id).sum()) / ((x2 - x1) * (y2 - y1))
        clipped = _clip(box)
        if visible >= MIN_VISIBLE:
            frame.truth.append(Truth(mover.object_id, mover.label, clipped, visible))
        elif visible > 0:
            frame.dont_care.append(clipped)


def draw_scene(frame: Frame, spec: SceneSpec, tracked: object | None = None) -> np.ndarray:
    """Draw the zone (filled, translucent), the directed line and, if given, tracked detections.

    Args:
        frame: A rendered frame.
        spec: Its scene (zone and line).
        tracked: ``edgeinfer`` ``Detections`` of this frame (with ``track_ids`` when tracked), or ``None``.

    Returns:
        A BGR copy of the frame with the drawing.
    """
    canvas = frame.image.copy()
    if tracked is not None:
        import edgeinfer

        canvas = edgeinfer.draw(canvas, tracked)  # type: ignore[arg-type]
        _draw_track_ids(canvas, tracked)
    overlay = canvas.copy()
    polygon = np.round(np.asarray(spec.zone)).astype(np.int32)
    cv2.fillPoly(overlay, [polygon], (0, 200, 255))
    canvas = cv2.addWeighted(overlay, 0.25, canvas, 0.75, 0)
    cv2.polylines(canvas, [polygon], True, (0, 200, 255), 2, cv2.LINE_AA)
    a, b = (tuple(round(v) for v in p) for p in spec.line)
    cv2.arrowedLine(canvas, a, b, (255, 80, 255), 2, cv2.LINE_AA, tipLength=0.04)
    cv2.putText(canvas, "zone", (polygon[0][0] + 4, polygon[0][1] + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (0, 200, 255), 1, cv2.LINE_AA)
    cv2.putText(canvas, "line", (a[0] + 5, a[1] + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 80, 255), 1,
                cv2.LINE_AA)
    return canvas


def _draw_track_ids(canvas: np.ndarray, tracked: object) -> None:
    """Write ``#id`` under each tracked box (``edgeinfer.draw`` writes label and score only)."""
    track_ids = getattr(tracked, "track_ids", None)
    if track_ids is None:
        return
    for box, track_id in zip(tracked.boxes_xyxy, track_ids, strict=True):  # type: ignore[attr-defined]
        x1, _, _, y2 = (round(float(v)) for v in box)
        cv2.putText(canvas, f"#{int(track_id)}", (x1 + 3, min(y2 - 5, canvas.shape[0] - 5)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
