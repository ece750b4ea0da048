"""Shared converter helpers."""

from __future__ import annotations

import hashlib
from pathlib import Path

from converters.base import file_sha256, first_line


def test_first_line_of_messages_and_of_empty_ones() -> None:
    assert first_line(RuntimeError("export failed: op X\nTraceback ...")) == "export failed: op X"
    assert first_line(ValueError()) == "ValueError"  # an empty message must not raise IndexError
    assert first_line(OSError("  \n")) == "OSError"


def test_file_sha256_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # larger than one 1 MiB read
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
