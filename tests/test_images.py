"""edgeinfer.images.read_image: encoded images are measured from their header and refused above the pixel cap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest

from edgeinfer.errors import ConfigError, ImageTooLargeError, InputError
from edgeinfer.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV, default_max_pixels, read_image
from tests.image_bombs import png_bomb

cv2 = pytest.importorskip("cv2")


def jpeg(width: int, height: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((height, width, 3), 127, np.uint8))
    assert ok
    return bytes(data.tobytes())


def test_png_bomb_is_refused_from_its_header_without_decoding(tmp_path: Path) -> None:
    bomb = png_bomb(10000, 6000)
    assert len(bomb) < 200_000
    path = tmp_path / "bomb.png"
    path.write_bytes(bomb)
    rss_before = psutil.Process().memory_info().rss
    for image in (bomb, path):
        with pytest.raises(ImageTooLargeError, match=r"10000 x 6000 = 60\.0 MP, more than the 50 MP allowed"):
            read_image(image)
    assert psutil.Process().memory_info().rss - rss_before < 50 * 1024 * 1024  # decoded would be 180 MB


def test_cap_is_configurable_per_call_and_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg(200, 100)
    assert read_image(data).shape == (100, 200, 3)
    assert read_image(data, max_pixels=20_000).shape == (100, 200, 3)
    with pytest.raises(ImageTooLargeError, match="200 x 100"):
        read_image(data, max_pixels=19_999)
    monkeypatch.setenv(MAX_PIXELS_ENV, "10000")
    assert default_max_pixels() == 10_000
    with pytest.raises(ImageTooLargeError, match=MAX_PIXELS_ENV):
        read_image(data)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(ConfigError, match="positive whole number"):
        read_image(data)
    monkeypatch.delenv(MAX_PIXELS_ENV)
    assert default_max_pixels() == DEFAULT_MAX_PIXELS


def test_a_bomb_beyond_pillows_own_limit_is_measured_exactly() -> None:
    with pytest.raises(ImageTooLargeError, match=r"20000 x 20000 = 400\.0 MP, more than the 50 MP allowed"):
        read_image(png_bomb(20000, 20000))


@pytest.mark.parametrize("form", [".png", ".jpg", "progressive.jpg", ".bmp", ".webp", ".tiff"])
def test_header_sizes_agree_with_pillow(form: str, tmp_path: Path) -> None:
    from PIL import Image

    from edgeinfer.images import image_size_wh

    frame = np.random.default_rng(0).integers(0, 256, (123, 321, 3), dtype=np.uint8)
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if form.startswith("progressive") else []
    path = tmp_path / f"photo{form.removeprefix('progressive')}"
    assert cv2.imwrite(str(path), frame, params)
    with path.open("rb") as file:
        assert image_size_wh(file) == (321, 123)
    with Image.open(path) as image:
        assert image.size == (321, 123)


@pytest.mark.parametrize("data", [b"garbage", b"\x89PNG\r\n\x1a\n" + b"x" * 30, b"\xff\xd8\xff" + b"\0" * 40])
def test_garbage_and_truncated_headers_are_input_errors(data: bytes) -> None:
    with pytest.raises(InputError, match="could not be decoded") as info:
        read_image(data)
    assert not isinstance(info.value, ImageTooLargeError)


def test_arrays_pass_through_whatever_their_size() -> None:
    frame = np.zeros((8, 8, 3), np.uint8)
    assert read_image(frame, max_pixels=1) is frame
