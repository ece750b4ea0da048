"""The frame preprocessor: BGR uint8 frame -> model-input tensor, plus its geometry.

Built once per model from the card's ``PreprocessSpec`` and the model input's
``TensorSpec``; called once per frame. Per frame it runs a handful of OpenCV kernels on
uint8 pixels and writes straight into a preallocated tensor:

1. for gray models, ``cv2.cvtColor`` to gray on the full frame (the resize then moves
   one channel instead of three),
2. ``cv2.resize`` of the frame,
3. colour order on the small image: ``cv2.cvtColor`` for NHWC; for NCHW one
   ``cv2.split`` whose planes are then taken in the wanted order,
4. one ``cv2.LUT`` per image (NHWC) or plane (NCHW) that normalises and quantises at once
   (see :mod:`edgeinfer.preprocess.normalize`), skipped when it is the identity.

Buffers for each frame size are allocated on the first frame of that size and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edgeinfer.errors import ConfigError, InputError
from edgeinfer.preprocess.base import check_frame, import_cv2
from edgeinfer.preprocess.normalize import build_value_tables
from edgeinfer.preprocess.resize import ResizePlan, interpolation_flag, plan_resize
from edgeinfer.types import Geometry, TensorSpec

if TYPE_CHECKING:
    from edgeinfer.card import PreprocessSpec

__all__ = ["Preprocessor", "build_preprocessor", "infer_layout"]

_PLAN_CACHE_SIZE = 8
# OpenCV colour codes by (frame channels, card colour); None: already in that order.
_COLOR_CODES = {
    (3, "rgb"): "COLOR_BGR2RGB", (3, "bgr"): None,
    (4, "rgb"): "COLOR_BGRA2RGB", (4, "bgr"): "COLOR_BGRA2BGR",
    (1, "rgb"): "COLOR_GRAY2RGB", (1, "bgr"): "COLOR_GRAY2BGR", (1, "gray"): None,
}
_GRAY_CODES = {3: "COLOR_BGR2GRAY", 4: "COLOR_BGRA2GRAY"}
# NCHW planes are taken from BGR(A) frames in this channel order, with no cvtColor pass.
_PLANE_ORDER = {"rgb": (2, 1, 0), "bgr": (0, 1, 2)}


@dataclass(frozen=True)
class _FramePlan:
    """Everything decided once per (frame size, frame channels)."""

    resize: ResizePlan
    interpolation: int
    color_code: int | None
    direct: bool  # the resize writes the final pixels straight into the tensor
    bars: tuple[tuple[slice, ...], ...]  # letterbox padding regions of one item


def infer_layout(shape: tuple[int, ...], layout: str | None = None, name: str = "input") -> str:
    """Return ``"nchw"`` or ``"nhwc"`` for a 4-D image input.

    Args:
        shape: The model input shape, ``-1`` for dynamic dimensions.
        layout: The card's ``preprocess.layout``; wins when given.
        name: The input's name, for messages.

    Raises:
        ConfigError: the input is not 4-D, or the layout cannot be told from the shape.
    """
    if len(shape) != 4:
        raise ConfigError(
            f"Model input {name!r} has shape {tuple(shape)}; preprocessing needs an image input "
            "(N, H, W, C) or (N, C, H, W), the batch dimension N optional"
        )
    if layout is not None:
        if layout not in ("nchw", "nhwc"):
            raise ConfigError(f"preprocess.layout {layout!r} is not one of nhwc, nchw")
        return layout
    first, last = shape[1] in (1, 3), shape[3] in (1, 3)
    if first != last:
        return "nchw" if first else "nhwc"
    raise ConfigError(
        f"Cannot tell the layout of model input {name!r} with shape {tuple(shape)}; "
        "set preprocess.layout to nhwc or nchw in the model card"
    )


def _resolve_channels(shape: tuple[int, ...], layout: str, color: str, name: str) -> int:
    channels = shape[1] if layout == "nchw" else shape[3]
    wanted = 1 if color == "gray" else 3
    if channels < 0:
        return wanted
    if channels != wanted:
        fix = "gray" if channels == 1 else "rgb or bgr"
        raise ConfigError(
            f"Model input {name!r} ({layout}, shape {tuple(shape)}) has {channels} channels but "
            f"preprocess.color is {color!r}; set preprocess.color to {fix}"
        )
    return channels


def _resolve_size(shape: tuple[int, ...], layout: str, size_wh: tuple[int, int] | None,
                  name: str) -> tuple[int, int]:
    h, w = (shape[2], shape[3]) if layout == "nchw" else (shape[1], shape[2])
    if size_wh is None:
        if h < 0 or w < 0:
            raise ConfigError(
                f"Model input {name!r} has a dynamic image size (shape {tuple(shape)}); "
                "set preprocess.size_wh: [width, height] in the model card"
            )
        return (w, h)
    if min(size_wh) <= 0 or (w > 0 and w != size_wh[0]) or (h > 0 and h != size_wh[1]):
        raise ConfigError(
            f"preprocess.size_wh {tuple(size_wh)} does not fit model input {name!r} "
            f"of shape {tuple(shape)} ({layout}); use [{w}, {h}] or remove size_wh"
        )
    return (int(size_wh[0]), int(size_wh[1]))


class Preprocessor:
    """Turns BGR uint8 frames into one model input, reusing its buffers.

    Call it with a frame; it returns ``(tensor, geometry)``. Without ``out`` the tensor
    is an internal ``(1, H, W, C)`` or ``(1, C, H, W)`` buffer that the next call
    overwrites: copy it to keep it, and do not write into it. With ``out`` the result
    is written into ``out`` and ``out`` is returned; ``out`` is either the full input
    shape with batch 1, or one item of a batch buffer (``batch[i]``, shape ``(H, W, C)``
    or ``(C, H, W)``), C-contiguous, with the input's dtype.

    Frames may be ``(H, W, 3)`` BGR, ``(H, W)``/``(H, W, 1)`` gray or ``(H, W, 4)``
    BGRA uint8, any size. Not thread-safe: give each thread its own preprocessor, or
    hold a lock around the call and the use of the returned buffer.
    """

    def __init__(self, spec: PreprocessSpec, input_spec: TensorSpec) -> None:
        self._cv2 = import_cv2()
        shape, name = tuple(int(d) for d in input_spec.shape), input_spec.name
        batched = len(shape) != 3
        shape = shape if batched else (1, *shape)
        self._layout = infer_layout(shape, spec.layout, name)
        channels = _resolve_channels(shape, self._layout, spec.color, name)
        self._size_wh = _resolve_size(shape, self._layout, spec.size_wh, name)
        self._spec = spec
        dtype = np.dtype(input_spec.dtype)
        quant = input_spec.quant if dtype.kind in "iu" else None
        self._tables = build_value_tables(spec.mean, spec.std, channels=channels, dtype=dtype, quant=quant)
        w, h = self._size_wh
        self._item_shape = (channels, h, w) if self._layout == "nchw" else (h, w, channels)
        self._buffer = np.empty((1, *self._item_shape) if batched else self._item_shape, dtype=dtype)
        self._pad = self._tables.values[spec.letterbox.pad_value]
        self._plans: dict[tuple[int, int, int], _FramePlan] = {}
        self._scratch: dict[str, np.ndarray] = {}
        self._pad_item: np.ndarray | None = None

    @property
    def input_size_wh(self) -> tuple[int, int]:
        """Width and height of the model input, pixels."""
        return self._size_wh

    @property
    def layout(self) -> str:
        """``"nhwc"`` or ``"nchw"``."""
        return self._layout

    @property
    def dtype(self) -> np.dtype:
        """dtype of the produced tensor."""
        return self._buffer.dtype

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of the produced tensor: ``(1, H, W, C)`` or ``(1, C, H, W)``.

        Models whose input has no batch dimension get ``(H, W, C)`` or ``(C, H, W)``.
        """
        return tuple(self._buffer.shape)

    def __call__(self, frame: np.ndarray, out: np.ndarray | None = None) -> tuple[np.ndarray, Geometry]:
        """Preprocess one frame.

        Args:
            frame: ``(H, W, 3)`` uint8 BGR pixels (also ``(H, W)`` gray, ``(H, W, 4)`` BGRA).
            out: Optional destination, see the class docstring.

        Returns:
            ``(tensor, geometry)``: the model input (``out`` or the reused internal
            buffer) and the mapping ``input = frame * scale + offset``.

        Raises:
            InputError: the frame or ``out`` has the wrong shape or dtype.
        """
        image = check_frame(frame)
        if self._spec.color == "gray" and image.ndim == 3:
            code = getattr(self._cv2, _GRAY_CODES[image.shape[2]])
            image = self._cv2.cvtColor(image, code, dst=self._scratch_for("gray", image.shape[:2]))
        plan = self._frame_plan(image)
        tensor, item = self._target(out)
        roi = self._roi(item, plan.resize)
        kept = self._resize(image, plan, roi)
        if kept is not None and self._layout == "nhwc":
            self._write_nhwc(kept, plan, roi)
        elif kept is not None:
            self._write_nchw(kept, roi)
        if plan.bars:
            self._fill_padding(item, plan)
        return tensor, plan.resize.geometry

    def _frame_plan(self, image: np.ndarray) -> _FramePlan:
        h, w = image.shape[:2]
        channels = 1 if image.ndim == 2 else image.shape[2]
        key = (w, h, channels)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLAN_CACHE_SIZE:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(w, h, channels)
        return plan

    def _make_plan(self, w: int, h: int, channels: int) -> _FramePlan:
        spec = self._spec
        resize = plan_resize((w, h), self._size_wh, mode=spec.resize, align=spec.letterbox.align,
                             crop_fraction=spec.crop_fraction)
        code_name = _COLOR_CODES[(channels, spec.color)]
        if self._layout == "nchw":
            code_name = None  # _write_nchw picks the planes in the wanted order instead
        code = None if code_name is None else int(getattr(self._cv2, code_name))
        direct = (self._tables.identity and self._layout == "nhwc" and code is None
                  and channels == self._tables.channels and resize.crop_xy == (0, 0))
        flag = interpolation_flag(spec.interpolation, resize)
        return _FramePlan(resize, flag, code, direct, _bars(self._layout, resize))

    def _target(self, out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if out is None:
            return self._buffer, self._buffer.reshape(self._item_shape)
        shapes = (self._buffer.shape, self._item_shape)
        if (not isinstance(out, np.ndarray) or out.dtype != self._buffer.dtype or out.shape not in shapes
                or not out.flags.c_contiguous or not out.flags.writeable):
            got = f"shape {getattr(out, 'shape', None)} dtype {getattr(out, 'dtype', type(out).__name__)}"
            raise InputError(
                f"out must be a writeable C-contiguous {self._buffer.dtype} array of shape "
                f"{self._buffer.shape} or {self._item_shape}, got {got}"
            )
        return out, out.reshape(self._item_shape)

    def _roi(self, item: np.ndarray, resize: ResizePlan) -> np.ndarray:
        x, y, w, h = resize.paste_xywh
        if self._layout == "nchw":
            return item[:, y:y + h, x:x + w]
        roi = item[y:y + h, x:x + w]
        return roi[:, :, 0] if roi.shape[2] == 1 else roi

    def _scratch_for(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        buf = self._scratch.get(name)
        if buf is None or buf.shape != shape:
            buf = self._scratch[name] = np.empty(shape, dtype=np.uint8)
        return buf

    def _resize(self, image: np.ndarray, plan: _FramePlan, roi: np.ndarray) -> np.ndarray | None:
        """Resize and crop; return the kept uint8 pixels, or None when written into ``roi``."""
        rw, rh = plan.resize.resized_wh
        cx, cy = plan.resize.crop_xy
        _, _, w, h = plan.resize.paste_xywh
        if (rw, rh) == (image.shape[1], image.shape[0]):
            resized = image
        else:
            dst = roi if plan.direct else self._scratch_for("resized", (rh, rw, *image.shape[2:]))
            resized = self._cv2.resize(image, (rw, rh), dst=dst, interpolation=plan.interpolation)
        kept = resized[cy:cy + h, cx:cx + w]
        if not plan.direct:
            return kept
        _ensure_written(resized, roi)
        return None

    def _write_nhwc(self, kept: np.ndarray, plan: _FramePlan, roi: np.ndarray) -> None:
        cv2, tables = self._cv2, self._tables
        src = kept
        if plan.color_code is not None:
            dst = roi if tables.identity else self._scratch_for("color", roi.shape)
            src = cv2.cvtColor(kept, plan.color_code, dst=dst)
        if tables.identity:
            _ensure_written(src, roi)
            return
        lut = tables.lut if tables.channels > 1 else tables.planes[0]
        dst = roi.view(tables.lut_dtype)
        _ensure_written(cv2.LUT(src, lut, dst=dst), dst)

    def _write_nchw(self, kept: np.ndarray, roi: np.ndarray) -> None:
        cv2, tables = self._cv2, self._tables
        if kept.ndim == 2:
            planes = [kept] * tables.channels
        else:
            # One split into reused planes, then pick them in the model's channel order.
            split = [self._scratch_for(f"plane{i}", kept.shape[:2]) for i in range(kept.shape[2])]
            cv2.split(kept, split)
            planes = [split[i] for i in _PLANE_ORDER[self._spec.color]]
        for c, src in enumerate(planes):
            if tables.identity:
                np.copyto(roi[c], src)
            else:
                dst = roi[c].view(tables.lut_dtype)
                _ensure_written(cv2.LUT(src, tables.planes[c], dst=dst), dst)

    def _fill_padding(self, item: np.ndarray, plan: _FramePlan) -> None:
        # Copy the bars from a ready-made padded image: broadcasting a per-channel value
        # into an interleaved (H, W, 3) strip is ~50x slower in numpy.
        if self._pad_item is None:
            self._pad_item = np.empty(self._item_shape, dtype=self._buffer.dtype)
            hwc = self._pad_item if self._layout == "nhwc" else self._pad_item.transpose(1, 2, 0)
            hwc[...] = self._pad
        for region in plan.bars:
            np.copyto(item[region], self._pad_item[region])


def _ensure_written(result: np.ndarray, dst: np.ndarray) -> None:
    """Copy ``result`` into ``dst`` unless OpenCV already wrote it there via ``dst=``."""
    if result is not dst:
        np.copyto(dst, result.reshape(dst.shape))


def _bars(layout: str, resize: ResizePlan) -> tuple[tuple[slice, ...], ...]:
    """Index tuples of the padding bars around the paste box (empty ones left out)."""
    x, y, w, h = resize.paste_xywh
    width, height = resize.geometry.input_size_wh
    rows_cols = [((0, y), (0, width)), ((y + h, height), (0, width)),
                 ((y, y + h), (0, x)), ((y, y + h), (x + w, width))]
    lead = () if layout == "nhwc" else (slice(None),)
    return tuple((*lead, slice(*rows), slice(*cols)) for rows, cols in rows_cols
                 if rows[1] > rows[0] and cols[1] > cols[0])

def build_preprocessor(spec: PreprocessSpec, input_spec: TensorSpec) -> Preprocessor:
    """Build the preprocessor for a model input from its card's ``preprocess`` section.

    Args:
        spec: The model card's ``preprocess`` section (colour, resize, size, mean/std, ...).
        input_spec: The model's image input; its shape gives the layout (when the card
            has none) and the size (when the card has no ``size_wh``), its dtype and
            ``quant`` the output type.

    Returns:
        A :class:`Preprocessor`.

    Raises:
        ConfigError: the card and the input do not fit together (channels, size, layout,
            dtype), or the size is dynamic and the card gives none.
        MissingDependencyError: OpenCV is not installed.
    """
    return Preprocessor(spec, input_spec)
