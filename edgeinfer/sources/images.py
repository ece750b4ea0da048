"""Folders and globs of still images (``images/``, ``images/*.jpg``, one ``photo.jpg``).

Finite, sorted by path, every image by default; ``loop`` starts again from the first.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from edgeinfer.errors import ImageTooLargeError, InputError, SourceError
from edgeinfer.images import image_size_wh, read_image
from edgeinfer.sources.base import SourceOptions
from edgeinfer.sources.capture import CaptureSource

__all__ = ["IMAGE_SUFFIXES", "ImagesSource", "list_images"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def list_images(pattern: str | Path) -> list[Path]:
    """Return the image files of a folder, a glob or a single file, sorted by path.

    Raises:
        SourceError: nothing matches, or the folder holds no images.
    """
    text = str(pattern)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    elif path.is_file():
        files = [path]
    else:
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    if not files:
        raise SourceError(f"No images found at {text!r}; expected a folder with "
                          f"{'/'.join(sorted(IMAGE_SUFFIXES))} files, "
                          "a glob such as 'images/*.jpg', or a file")
    return files


class _ImagesReader:
    live = False
    ended = False

    def __init__(self, files: list[Path], description: str) -> None:
        self.files = files
        self.description = description
        self._position = 0
        self._first_shape: tuple[int, ...] = ()

    def open(self) -> None:
        self._position = 0

    def read(self) -> np.ndarray | None:
        if self._position >= len(self.files):
            return None
        path = self.files[self._position]
        self._position += 1
        try:
            image = read_image(path)  # over the pixel cap: ImageTooLargeError, from the header
        except ImageTooLargeError:
            raise
        except InputError as exc:
            raise SourceError(f"Cannot decode the image {path} ({self.description}): the file is corrupt or "
                              "not an image; remove it or fix the glob") from exc
        if not self._first_shape:
            self._first_shape = image.shape
        return np.asarray(image)

    def close(self) -> None:
        self._position = len(self.files)

    def size_fps(self) -> tuple[int, int, float, int | None]:
        if not self._first_shape:
            with self.files[0].open("rb") as file:
                width_height = image_size_wh(file, str(self.files[0])) or (0, 0)
            self._first_shape = (width_height[1], width_height[0])
        return int(self._first_shape[1]), int(self._first_shape[0]), 0.0, len(self.files)


class ImagesSource(CaptureSource):
    """Frames from image files, in path order.

    Args:
        pattern: A folder, a glob (``images/*.jpg``, ``**`` allowed) or one image file.
        options: Policy ``every`` by default; ``loop`` starts again from the first image
            after the last. ``width``, ``height`` and ``fps`` are not applied (the
            preprocessing resizes; ``info`` reports the first image's size), nor ``backoff``
            and ``open_timeout_s``.

    Raises:
        SourceError: no images match; later, from ``read()``, an image cannot be decoded.
        ImageTooLargeError: from ``read()``, an image's header declares more pixels than
            the cap (:func:`edgeinfer.images.read_image`); it is not decoded.
    """

    def __init__(self, pattern: str | Path, options: SourceOptions | None = None) -> None:
        files = list_images(pattern)
        reader = _ImagesReader(files, f"images {pattern}")
        super().__init__(reader, kind="images", uri=str(pattern), options=options or SourceOptions())
