"""The fast preprocessor agrees with a plain float reference for every mode, colour,
layout and dtype, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinfer.card import LetterboxSpec, PreprocessSpec
from edgeinfer.preprocess import build_preprocessor
from edgeinfer.types import TensorSpec
from tests.preprocess.reference import preprocess_reference

SIZE_WH = (96, 80)  # not square, so a width/height mix-up shows
MODES = [("stretch", "center"), ("letterbox", "center"), ("letterbox", "top_left"), ("center_crop", "center")]
IMAGENET = ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
GRAY = ((114.0,), (57.0,))
RAW = ((0.0,), (1.0,))
# name: (dtype, quant, normalisation)
DTYPES = {
    "float32": (np.float32, None, "imagenet"),
    "float16": (np.float16, None, "imagenet"),
    "int8": (np.int8, (0.0187, -14), "imagenet"),
    "uint8": (np.uint8, (0.0187, 114), "imagenet"),
    "uint8_identity": (np.uint8, (1.0, 0), "raw"),
    "int8_offset": (np.int8, (1 / 255, -128), "unit"),
}


def _norm(kind: str, color: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if kind == "raw":
        return RAW
    if kind == "unit":
        return (0.0,), (255.0,)
    return GRAY if color == "gray" else IMAGENET


def _input_shape(layout: str, channels: int) -> tuple[int, ...]:
    w, h = SIZE_WH
    return (1, channels, h, w) if layout == "nchw" else (1, h, w, channels)


def _compare(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    if ours.dtype.kind in "iu":
        diff = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
        assert diff.max() <= 1, "more than one quantization step off"
        assert diff.mean() < 0.05
        return
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("color", ["rgb", "bgr", "gray"])
@pytest.mark.parametrize("mode_align", MODES, ids=["-".join(m) for m in MODES])
def test_matches_float_reference(photos: dict[str, np.ndarray], mode_align: tuple[str, str], color: str,
                                 layout: str, dtype_name: str) -> None:
    (mode, align), (dtype, quant, norm) = mode_align, DTYPES[dtype_name]
    mean, std = _norm(norm, color)
    channels = 1 if color == "gray" else 3
    spec = PreprocessSpec(color=color, resize=mode, letterbox=LetterboxSpec(align=align, pad_value=114),
                          mean=mean, std=std)
    input_spec = TensorSpec("images", _input_shape(layout, channels), np.dtype(dtype), quant)
    pre = build_preprocessor(spec, input_spec)
    assert pre.layout == layout and pre.input_size_wh == SIZE_WH
    for frame in photos.values():
        ours, _ = pre(frame)
        ref = preprocess_reference(frame, SIZE_WH, color=color, mode=mode, layout=layout,
                                   dtype=input_spec.dtype, mean=mean * channels if len(mean) == 1 else mean,
                                   std=std * channels if len(std) == 1 else std,
                                   quant=quant, align=align, pad_value=114)
        _compare(ours, ref)


@pytest.mark.parametrize("interpolation", ["area", "linear", "nearest"])
@pytest.mark.parametrize("size_wh", [(96, 80), (640, 480)], ids=["shrink", "enlarge"])
def test_forced_interpolation_matches_reference(photos: dict[str, np.ndarray], interpolation: str,
                                                size_wh: tuple[int, int]) -> None:
    spec = PreprocessSpec(resize="letterbox", size_wh=size_wh, interpolation=interpolation,
                          mean=IMAGENET[0], std=IMAGENET[1])
    pre = build_preprocessor(spec, TensorSpec("x", (1, 3, -1, -1), np.dtype(np.float32)))
    frame = photos["chelsea"]
    ours, _ = pre(frame)
    ref = preprocess_reference(frame, size_wh, color="rgb", mode="letterbox", layout="nchw",
                               dtype=np.dtype(np.float32), mean=IMAGENET[0], std=IMAGENET[1],
                               interpolation=interpolation)
    np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize(("size_wh", "expected"), [((96, 80), "area"), ((640, 480), "linear")],
                         ids=["shrink", "enlarge"])
def test_auto_interpolation_is_area_when_shrinking_linear_when_enlarging(
        photos: dict[str, np.ndarray], size_wh: tuple[int, int], expected: str) -> None:
    frame = photos["chelsea"]
    results = {}
    for interpolation in ("auto", "area", "linear"):
        spec = PreprocessSpec(resize="stretch", size_wh=size_wh, interpolation=interpolation)
        pre = build_preprocessor(spec, TensorSpec("x", (1, -1, -1, 3), np.dtype(np.uint8), (1.0, 0)))
        results[interpolation] = pre(frame)[0].copy()
    assert not np.array_equal(results["area"], results["linear"])
    np.testing.assert_array_equal(results["auto"], results[expected])


@pytest.mark.parametrize("dtype_name", ["float32", "uint8_identity", "int8"])
@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_frame_already_at_input_size_is_not_resized(photos: dict[str, np.ndarray], layout: str,
                                                    dtype_name: str) -> None:
    import cv2

    dtype, quant, norm = DTYPES[dtype_name]
    mean, std = _norm(norm, "rgb")
    frame = cv2.resize(photos["astronaut"], SIZE_WH, interpolation=cv2.INTER_AREA)
    pre = build_preprocessor(PreprocessSpec(mean=mean, std=std),
                             TensorSpec("x", _input_shape(layout, 3), np.dtype(dtype), quant))
    ours, geometry = pre(frame)
    ref = preprocess_reference(frame, SIZE_WH, color="rgb", mode="stretch", layout=layout, dtype=np.dtype(dtype),
                               mean=mean * 3 if len(mean) == 1 else mean, std=std * 3 if len(std) == 1 else std,
                               quant=quant)
    _compare(ours, ref)
    assert geometry.scale_xy == (1.0, 1.0) and geometry.offset_xy == (0.0, 0.0)
