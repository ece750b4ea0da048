"""Frames and configurations: what is accepted, and clear errors for what is not."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeinfer.card import PreprocessSpec
from edgeinfer.errors import ConfigError, InputError, MissingDependencyError
from edgeinfer.preprocess import build_preprocessor
from edgeinfer.types import TensorSpec

RGB_FLOAT = TensorSpec("x", (1, 3, 80, 96), np.dtype(np.float32))


@pytest.mark.parametrize("bad", [
    np.zeros((48, 64, 3), np.float32),
    np.zeros((48, 64, 3), np.uint16),
    np.zeros((48, 64, 2), np.uint8),
    np.zeros((48, 64, 5), np.uint8),
    np.zeros((2, 48, 64, 3), np.uint8),
    np.zeros((64,), np.uint8),
    np.zeros((0, 64, 3), np.uint8),
    np.zeros((48, 0, 3), np.uint8),
], ids=["float32", "uint16", "2ch", "5ch", "batch", "1d", "no-rows", "no-cols"])
def test_bad_frames_raise_input_error_with_shape_and_dtype(bad: np.ndarray) -> None:
    pre = build_preprocessor(PreprocessSpec(), RGB_FLOAT)
    with pytest.raises(InputError) as info:
        pre(bad)
    assert str(bad.shape) in str(info.value) and str(bad.dtype) in str(info.value)


def test_non_array_frame_raises_input_error() -> None:
    pre = build_preprocessor(PreprocessSpec(), RGB_FLOAT)
    with pytest.raises(InputError, match="list"):
        pre([[1, 2, 3]])  # type: ignore[arg-type]


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
@pytest.mark.parametrize("color", ["rgb", "bgr", "gray"])
def test_gray_bgra_and_strided_frames_match_their_bgr_equivalent(photos: dict[str, np.ndarray], layout: str,
                                                                 color: str) -> None:
    channels = 1 if color == "gray" else 3
    shape = (1, channels, 80, 96) if layout == "nchw" else (1, 80, 96, channels)
    spec = PreprocessSpec(color=color, resize="letterbox", mean=(100.0,) * channels, std=(50.0,) * channels)
    pre = build_preprocessor(spec, TensorSpec("x", shape, np.dtype(np.float32)))
    bgr = photos["chelsea"]
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    cases = {
        "bgra": (cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA), bgr),
        "gray2d": (gray, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
        "gray3d": (gray[:, :, None], cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
        "reversed": (bgr[:, ::-1], np.ascontiguousarray(bgr[:, ::-1])),
        "crop": (bgr[10:200, 20:300], np.ascontiguousarray(bgr[10:200, 20:300])),
    }
    for name, (frame, equivalent) in cases.items():
        ours = pre(frame)[0].copy()
        np.testing.assert_array_equal(ours, pre(equivalent)[0], err_msg=name)


def test_dynamic_input_needs_size_wh() -> None:
    dynamic = TensorSpec("images", (1, 3, -1, -1), np.dtype(np.float32))
    with pytest.raises(ConfigError, match=r"preprocess\.size_wh"):
        build_preprocessor(PreprocessSpec(), dynamic)
    pre = build_preprocessor(PreprocessSpec(size_wh=(128, 96)), dynamic)
    assert pre.input_size_wh == (128, 96) and pre.output_shape == (1, 3, 96, 128)


@pytest.mark.parametrize(("spec", "shape", "dtype", "match"), [
    (PreprocessSpec(color="gray", mean=(0.0,), std=(1.0,)), (1, 3, 64, 64), np.float32, "rgb or bgr"),
    (PreprocessSpec(color="rgb"), (1, 64, 64, 1), np.float32, "set preprocess.color to gray"),
    (PreprocessSpec(), (1, 3, 64, 3), np.float32, "set preprocess.layout"),
    (PreprocessSpec(), (1, 64, 64, 3), np.int32, "int32 is not supported"),
    (PreprocessSpec(size_wh=(32, 32)), (1, 64, 64, 3), np.float32, r"size_wh \(32, 32\) does not fit"),
    (PreprocessSpec(), (64, 64), np.float32, "image input"),
], ids=["gray-vs-3ch", "rgb-vs-1ch", "ambiguous-layout", "int32", "size-conflict", "2d"])
def test_config_mismatches_raise_config_error(spec: PreprocessSpec, shape: tuple[int, ...], dtype: type,
                                              match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_preprocessor(spec, TensorSpec("x", shape, np.dtype(dtype)))


def test_explicit_layout_wins_and_unbatched_inputs_work(photos: dict[str, np.ndarray]) -> None:
    ambiguous = TensorSpec("x", (1, 3, 64, 3), np.dtype(np.uint8))
    pre = build_preprocessor(PreprocessSpec(layout="nhwc"), ambiguous)
    assert pre.layout == "nhwc" and pre.input_size_wh == (64, 3)
    unbatched = build_preprocessor(PreprocessSpec(), TensorSpec("x", (3, 48, 64), np.dtype(np.float32)))
    tensor, _ = unbatched(photos["coffee"])
    assert unbatched.layout == "nchw" and tensor.shape == (3, 48, 64)


def test_missing_opencv_raises_missing_dependency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)  # what an uninstalled package looks like to import
    with pytest.raises(MissingDependencyError, match=r"edgeinfer\[camera\]"):
        build_preprocessor(PreprocessSpec(), RGB_FLOAT)


def test_importing_preprocess_does_not_import_opencv() -> None:
    code = "import sys, edgeinfer.preprocess; assert not {'cv2', 'pydantic'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
