"""``edgeinfer run --check``: what can be checked of a config without running it.

Beyond the schema (:func:`edgeinfer.config.load_config`), :func:`check_config` looks at
what ``run`` would open, stream by stream, without opening a camera or the broker:

- the model file exists and loads (:func:`edgeinfer.load` with the stream's
  ``accelerator``, ``threads`` and ``card``, then closed) and ``card_overrides`` apply;
- the source: a file, folder or glob exists and is not empty, a camera's ``/dev/videoN``
  exists (Linux), a URL parses; GStreamer pipelines and Pi cameras are not opened;
- ``control.model_dir`` is a folder.

The first failure is raised as the error ``run`` would raise, so ``--check`` exits with the
same code (78 config, 65 model, 69 accelerator or package, 74 source), and its message
starts with the key: ``streams.0 (front).model: ...``.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeinfer.errors import ConfigError, EdgeInferError, ModelError, SourceError

__all__ = ["check_config"]


def check_config(config: Any) -> list[str]:
    """Check the files, devices and models of a loaded config; one line per thing checked.

    Args:
        config: A :class:`~edgeinfer.config.DaemonConfig` from ``load_config`` (paths resolved).

    Returns:
        What was checked, e.g. ``"streams.0 (front).model: cls.tflite loads (tflite on xnnpack)"``.

    Raises:
        EdgeInferError: the first check that failed, of the class ``run`` would raise
            (``ModelError``, ``SourceError``, ``ConfigError``, ``AcceleratorError``), its
            message prefixed with the stream and key.
    """
    lines: list[str] = []
    for index, stream in enumerate(config.streams):
        where = f"streams.{index} ({stream.name})"
        lines.append(_keyed(f"{where}.model", _check_model, stream))  # run loads it first, then opens the source
        lines.append(_keyed(f"{where}.source", _check_source, stream.source))
    model_dir = config.control.model_dir
    if config.control.enabled and model_dir is not None:
        if not Path(model_dir).is_dir():
            raise ConfigError(f"control.model_dir: {model_dir} is not a folder; create it or fix the path")
        lines.append(f"control.model_dir: {model_dir} is a folder")
    return lines


def _keyed(where: str, check: Any, value: Any) -> str:
    """Run one check; its line, or its error (same class) with ``where`` in front."""
    try:
        return f"{where}: {check(value)}"
    except EdgeInferError as exc:
        keyed = copy.copy(exc)
        keyed.args = (f"{where}: {exc}",)
        raise keyed from exc


def _check_model(stream: Any) -> str:
    import edgeinfer

    path = Path(stream.model)
    if not path.is_file():
        raise ModelError(f"the model file {path} does not exist; fix the path (relative paths are taken "
                         "from the config file's folder)")
    if path.suffix.lower() in (".yaml", ".yml"):  # an OCR card naming its three models
        with edgeinfer.load_ocr(path, accelerator=stream.accelerator) as ocr:
            return f"{path} loads ({ocr.accelerator}, task ocr)"
    model = edgeinfer.load(path, accelerator=stream.accelerator, threads=stream.threads, card=stream.card)
    try:
        if stream.card_overrides:
            model.card = model.card.merged(stream.card_overrides)
        return f"{path} loads ({model.accelerator}, task {model.card.task})"
    finally:
        model.close()


def _check_source(source: str | int) -> str:
    from edgeinfer.sources import resolve_uri

    kind, target = resolve_uri(source)  # SourceError for a path that does not exist
    if kind == "camera":
        return _check_camera(target)
    if kind == "stream":
        parts = urlsplit(target)
        if not parts.hostname:
            raise SourceError(f"the stream URL {target!r} has no host; write it as scheme://host[:port]/path")
        return f"{target} parses (not opened)"
    if kind == "images":
        count = _image_count(target)
        if count == 0:
            raise SourceError(f"no images found at {target!r}; expected a folder of images, a glob "
                              "such as 'images/*.jpg', or a file")
        return f"{target}: {count} image(s)"
    if kind == "file":
        return f"{target} is a video file"
    return f"{source} is a {kind} source (not opened)"


def _check_camera(target: str) -> str:
    if not sys.platform.startswith("linux"):
        return f"camera {target} (not opened)"
    device = f"/dev/video{target}" if target.isdigit() else target
    if not Path(device).exists():
        raise SourceError(f"the camera {device} does not exist; `ls /dev/video*` lists the cameras "
                          "here (is it plugged in, and its driver loaded?)")
    return f"camera {device} exists (not opened)"


def _image_count(target: str) -> int:
    from edgeinfer.sources.images import list_images

    try:
        return len(list_images(target))  # the very files the source would read
    except SourceError:
        return 0
