"""Resize geometry: where a frame lands in the model input (stretch, letterbox, centre crop).

The plan is pure arithmetic (no OpenCV) so it can be tested and reused by the
converters' calibration code. Coordinates are continuous pixel coordinates: pixel ``i``
covers ``[i, i + 1)``, which is the convention ``cv2.resize`` follows, so
``input = frame * scale + offset`` holds exactly for every resized pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeinfer.errors import ConfigError
from edgeinfer.types import Geometry

__all__ = [
    "INTERPOLATIONS",
    "RESIZE_MODES",
    "ResizePlan",
    "interpolation_flag",
    "letterbox_geometry",
    "plan_resize",
]

RESIZE_MODES = ("stretch", "letterbox", "center_crop")
ALIGNS = ("center", "top_left")
INTERPOLATIONS = ("auto", "area", "linear", "nearest")


@dataclass(frozen=True)
class ResizePlan:
    """How one frame size becomes the model input.

    The whole frame is resized to ``resized_wh``; the part starting at ``crop_xy`` with
    the size ``paste_xywh[2:]`` is kept (all of it except for centre crop) and written at
    ``paste_xywh`` in the input. Input pixels outside the paste box are padding.

    Attributes:
        resized_wh: Size the whole frame is resized to, pixels.
        crop_xy: Top-left of the kept part inside the resized frame, pixels.
        paste_xywh: Where the kept part lands in the input: x, y, width, height, pixels.
        geometry: The frame-to-input mapping.
    """

    resized_wh: tuple[int, int]
    crop_xy: tuple[int, int]
    paste_xywh: tuple[int, int, int, int]
    geometry: Geometry

    @property
    def shrinking(self) -> bool:
        """True when the frame gets smaller (or keeps its size) along both axes."""
        fw, fh = self.geometry.frame_size_wh
        return self.resized_wh[0] <= fw and self.resized_wh[1] <= fh

    @property
    def has_padding(self) -> bool:
        """True when part of the input is not covered by the frame (letterbox bars)."""
        return self.paste_xywh[2:] != self.geometry.input_size_wh


def plan_resize(frame_size_wh: tuple[int, int], input_size_wh: tuple[int, int], *, mode: str = "stretch",
                align: str = "center", crop_fraction: float = 0.875) -> ResizePlan:
    """Plan how a frame of ``frame_size_wh`` becomes an input of ``input_size_wh``.

    Args:
        frame_size_wh: Frame width and height, pixels.
        input_size_wh: Model input width and height, pixels.
        mode: ``stretch`` (ignore aspect), ``letterbox`` (keep aspect, pad) or
            ``center_crop`` (scale so the input covers ``crop_fraction`` of the short
            side, keep the centre).
        align: Letterbox placement, ``center`` or ``top_left``.
        crop_fraction: Centre crop: the input size divided by the resized short side.

    Returns:
        The plan, including the :class:`Geometry`.

    Raises:
        ConfigError: an unknown mode or alignment, or a non-positive size.
    """
    (fw, fh), (iw, ih) = frame_size_wh, input_size_wh
    if min(fw, fh, iw, ih) <= 0:
        raise ConfigError(f"Sizes must be positive, got frame {frame_size_wh} and input {input_size_wh}")
    if mode == "stretch":
        return _plan(frame_size_wh, input_size_wh, (iw, ih), (0, 0), (0, 0))
    if mode == "letterbox":
        if align not in ALIGNS:
            raise ConfigError(f"letterbox align {align!r} is not one of {', '.join(ALIGNS)}")
        scale = min(iw / fw, ih / fh)
        rw, rh = min(iw, max(1, round(fw * scale))), min(ih, max(1, round(fh * scale)))
        x, y = ((iw - rw) // 2, (ih - rh) // 2) if align == "center" else (0, 0)
        return _plan(frame_size_wh, input_size_wh, (rw, rh), (0, 0), (x, y))
    if mode == "center_crop":
        if not 0.0 < crop_fraction <= 1.0:
            raise ConfigError(f"crop_fraction must be in (0, 1], got {crop_fraction}")
        scale = max(iw / fw, ih / fh) / crop_fraction
        rw, rh = max(iw, round(fw * scale)), max(ih, round(fh * scale))
        return _plan(frame_size_wh, input_size_wh, (rw, rh), ((rw - iw) // 2, (rh - ih) // 2), (0, 0))
    raise ConfigError(f"resize mode {mode!r} is not one of {', '.join(RESIZE_MODES)}")


def _plan(frame_wh: tuple[int, int], input_wh: tuple[int, int], resized_wh: tuple[int, int],
          crop_xy: tuple[int, int], paste_xy: tuple[int, int]) -> ResizePlan:
    kept_w = min(resized_wh[0] - crop_xy[0], input_wh[0])
    kept_h = min(resized_wh[1] - crop_xy[1], input_wh[1])
    geometry = Geometry(
        frame_size_wh=frame_wh,
        input_size_wh=input_wh,
        scale_xy=(resized_wh[0] / frame_wh[0], resized_wh[1] / frame_wh[1]),
        offset_xy=(float(paste_xy[0] - crop_xy[0]), float(paste_xy[1] - crop_xy[1])),
    )
    return ResizePlan(resized_wh, crop_xy, (paste_xy[0], paste_xy[1], kept_w, kept_h), geometry)


def letterbox_geometry(frame_size_wh: tuple[int, int], input_size_wh: tuple[int, int], *,
                       align: str = "center") -> Geometry:
    """Return the :class:`Geometry` of letterboxing ``frame_size_wh`` into ``input_size_wh``.

    Example:
        >>> letterbox_geometry((1920, 1080), (640, 640)).offset_xy
        (0.0, 140.0)
    """
    return plan_resize(frame_size_wh, input_size_wh, mode="letterbox", align=align).geometry


def interpolation_flag(name: str, plan: ResizePlan) -> int:
    """Return the OpenCV interpolation flag for a card's ``interpolation`` value.

    ``auto`` picks ``INTER_AREA`` when the frame shrinks (no aliasing) and
    ``INTER_LINEAR`` when it grows. ``nearest`` is ``INTER_NEAREST_EXACT``: plain
    ``INTER_NEAREST`` samples half a pixel off, which would break the geometry.

    Raises:
        ConfigError: an unknown name.
    """
    from edgeinfer.preprocess.base import import_cv2

    cv2 = import_cv2()
    flags = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR, "nearest": cv2.INTER_NEAREST_EXACT}
    if name == "auto":
        return int(cv2.INTER_AREA if plan.shrinking else cv2.INTER_LINEAR)
    if name not in flags:
        raise ConfigError(f"interpolation {name!r} is not one of {', '.join(INTERPOLATIONS)}")
    return int(flags[name])
