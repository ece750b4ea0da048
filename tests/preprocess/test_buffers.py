"""Buffers: the output tensor is preallocated and reused; ``out=`` fills a batch buffer."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from edgeinfer.card import PreprocessSpec
from edgeinfer.preprocess import Preprocess, build_preprocessor
from edgeinfer.types import TensorSpec

IMAGENET = {"mean": (123.675, 116.28, 103.53), "std": (58.395, 57.12, 57.375)}


@pytest.mark.parametrize(("shape", "dtype", "quant", "resize"), [
    ((1, 3, 224, 224), np.float32, None, "center_crop"),
    ((1, 320, 320, 3), np.int8, (0.0187, -14), "letterbox"),
    ((1, 320, 320, 3), np.uint8, (1.0, 0), "letterbox"),
    ((1, 3, 160, 160), np.float16, None, "stretch"),
])
def test_same_buffer_returned_and_nothing_allocated(photos: dict[str, np.ndarray], shape: tuple[int, ...],
                                                    dtype: type, quant: tuple[float, int] | None,
                                                    resize: str) -> None:
    norm = {} if quant == (1.0, 0) else IMAGENET
    spec = PreprocessSpec(resize=resize, **norm)
    pre = build_preprocessor(spec, TensorSpec("x", shape, np.dtype(dtype), quant))
    assert isinstance(pre, Preprocess)
    frame = photos["coffee"]
    first, _ = pre(frame)
    expected = first.copy()
    tracemalloc.start()
    try:
        second, _ = pre(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert second is first and second.shape == shape == pre.output_shape
    np.testing.assert_array_equal(second, expected)
    assert peak < min(first.nbytes, 64 * 1024) // 4, f"{peak} bytes allocated per frame"


def test_next_frame_overwrites_the_internal_buffer(photos: dict[str, np.ndarray]) -> None:
    input_spec = TensorSpec("x", (1, 3, 64, 64), np.dtype(np.float32))
    pre = build_preprocessor(PreprocessSpec(**IMAGENET), input_spec)
    a, _ = pre(photos["astronaut"])
    kept = a.copy()
    b, _ = pre(photos["chelsea"])
    assert b is a and not np.array_equal(b, kept)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_out_fills_one_item_of_a_batch_buffer(photos: dict[str, np.ndarray], layout: str) -> None:
    shape = (1, 96, 128, 3) if layout == "nhwc" else (1, 3, 96, 128)
    spec = PreprocessSpec(resize="letterbox", **IMAGENET)
    pre = build_preprocessor(spec, TensorSpec("x", (-1, *shape[1:]), np.dtype(np.int8), (0.0187, -14)))
    frames = list(photos.values())
    batch = np.full((len(frames), *shape[1:]), 99, dtype=np.int8)
    geometries = []
    for i, frame in enumerate(frames):
        target = batch[i] if i % 2 else batch[i:i + 1]  # an item view or a batch-1 slice
        returned, geometry = pre(frame, out=target)
        assert returned is target
        geometries.append(geometry)
    for i, frame in enumerate(frames):
        alone, geometry = pre(frame)
        np.testing.assert_array_equal(batch[i], alone[0])
        assert geometry == geometries[i]


@pytest.mark.parametrize("bad", [
    np.zeros((1, 64, 64, 3), np.float32),  # wrong dtype
    np.zeros((2, 64, 64, 3), np.uint8),  # batch of 2
    np.zeros((1, 3, 64, 64), np.uint8),  # wrong layout
    np.zeros((1, 64, 128, 3), np.uint8)[:, :, ::2],  # not contiguous
], ids=["dtype", "batch2", "layout", "strided"])
def test_bad_out_raises_input_error(photos: dict[str, np.ndarray], bad: np.ndarray) -> None:
    from edgeinfer.errors import InputError

    pre = build_preprocessor(PreprocessSpec(), TensorSpec("x", (1, 64, 64, 3), np.dtype(np.uint8)))
    with pytest.raises(InputError, match=r"out must be .*\(1, 64, 64, 3\)") as info:
        pre(photos["chelsea"], out=bad)
    assert str(bad.shape) in str(info.value)
