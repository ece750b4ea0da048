"""Calibration data: images through the runtime's preprocessing, arrays, callables, seeded sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from converters.calibration import load_calibration, random_inputs
from converters.layout import infer_layout, input_permutation, match_output
from edgeinfer.card import PreprocessSpec
from edgeinfer.errors import ConversionError

cv2 = pytest.importorskip("cv2")


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(12):
        cv2.imwrite(str(tmp_path / f"img_{i:02d}.png"), rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_images_go_through_the_card_preprocessing(image_dir: Path) -> None:
    spec = PreprocessSpec(color="rgb", mean=(10, 20, 30), std=(2, 4, 8), interpolation="linear")
    samples = load_calibration(image_dir, preprocess=spec, input_shape=(1, 3, 20, 25), layout="nchw", size=50)
    assert len(samples) == 12 and samples[0].shape == (1, 3, 20, 25) and samples[0].dtype == np.float32
    frame = cv2.imread(str(image_dir / "img_00.png"))
    rgb = cv2.resize(frame, (25, 20), interpolation=cv2.INTER_LINEAR)[:, :, ::-1].astype(np.float32)
    expected = ((rgb - np.array([10, 20, 30], np.float32)) / np.array([2, 4, 8], np.float32)).transpose(2, 0, 1)
    np.testing.assert_allclose(samples[0][0], expected, atol=1e-3)
    assert not np.shares_memory(samples[0], samples[1])  # copies, not the reused buffer


def test_sampling_is_seeded_and_globs_work(image_dir: Path) -> None:
    spec = PreprocessSpec()
    a = load_calibration(image_dir, preprocess=spec, input_shape=(1, 8, 8, 3), layout="nhwc", size=5)
    b = load_calibration(str(image_dir / "img_*.png"), preprocess=spec, input_shape=(1, 8, 8, 3), layout="nhwc",
                         size=5)
    assert len(a) == 5 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    c = load_calibration(image_dir, preprocess=spec, input_shape=(1, 8, 8, 3), layout="nhwc", size=5, seed=7)
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_arrays_callables_and_batches() -> None:
    batch = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
    from_batch = load_calibration([batch], preprocess=PreprocessSpec(), input_shape=(1, 2, 3), layout=None,
                                  size=3)
    assert len(from_batch) == 3 and np.array_equal(from_batch[2][0], batch[2])
    unbatched = load_calibration(lambda: (batch[i] for i in range(4)), preprocess=PreprocessSpec(),
                                 input_shape=(1, 2, 3), layout=None, size=10)
    assert len(unbatched) == 4 and unbatched[1].shape == (1, 2, 3)
    with pytest.raises(ConversionError, match=r"shape \[1, 2, 3\]; the model input is \[1, 3, 3\]"):
        load_calibration([np.zeros((2, 3))], preprocess=PreprocessSpec(), input_shape=(1, 3, 3), layout=None)
    with pytest.raises(ConversionError, match="No calibration images"):
        load_calibration("/nonexistent/*.jpg", preprocess=PreprocessSpec(), input_shape=(1, 3, 8, 8),
                         layout="nchw")


def test_random_inputs_follow_the_card_normalisation() -> None:
    spec = PreprocessSpec(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5))
    xs = random_inputs((1, 3, 16, 16), 4, "nchw", spec)
    assert len(xs) == 4 and all(x.min() >= -1.0 and x.max() <= 1.0 for x in xs)
    assert np.array_equal(xs[0], random_inputs((1, 3, 16, 16), 4, "nchw", spec)[0])
    plain = random_inputs((1, 10), 2, None, None)
    assert plain[0].shape == (1, 10) and plain[0].min() >= 0.0 and plain[0].max() < 1.0


def test_layout_helpers() -> None:
    assert infer_layout((1, 3, 224, 224)) == "nchw" and infer_layout((1, 224, 224, 3)) == "nhwc"
    assert infer_layout((1, 10)) is None
    assert input_permutation((1, 3, 32, 32), (1, 32, 32, 3), "nchw") == (0, 2, 3, 1)
    assert input_permutation((1, 3, 32, 32), (-1, 3, 32, 32), "nchw") is None
    with pytest.raises(ConversionError, match="does not fit"):
        input_permutation((1, 3, 32, 32), (1, 30, 30, 3), "nchw")
    out = np.zeros((1, 8, 8, 5))
    assert match_output(out, (1, 5, 8, 8)).shape == (1, 5, 8, 8)
