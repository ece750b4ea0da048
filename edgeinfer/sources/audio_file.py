"""Audio files as float32 mono samples, for streaming models (``model.streamer()``).

A minimal reader: WAV through the standard library's :mod:`wave` (PCM 8/16/24/32-bit),
or any format ``soundfile`` reads when it is installed (FLAC, OGG). Channels are averaged
to mono and integers scaled to -1..1. A file at another rate than the model's is
resampled with ``soxr`` when it is installed, else refused with the fix::

    samples = read_audio("speech.wav", sample_rate=16000)
    for chunk in audio_chunks(samples, 512):
        ...
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edgeinfer.errors import InputError

__all__ = ["audio_chunks", "read_audio", "to_mono_float"]

_PCM_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(n, channels)`` PCM or float samples to ``(n,)`` float32 in -1..1 (channels averaged)."""
    samples = np.asarray(samples)
    if samples.dtype == np.uint8:
        floats = (samples.astype(np.float32) - 128.0) / 128.0
    elif samples.dtype.kind == "i":
        floats = samples.astype(np.float32) / float(2 ** (8 * samples.dtype.itemsize - 1))
    elif samples.dtype.kind == "f":
        floats = samples.astype(np.float32, copy=False)
    else:
        raise InputError(f"audio samples of dtype {samples.dtype} are not PCM or float; convert them first")
    return floats.mean(axis=1, dtype=np.float32) if floats.ndim == 2 else floats


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path), "rb") as reader:
            rate, channels, width = reader.getframerate(), reader.getnchannels(), reader.getsampwidth()
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise InputError(f"{path}: not a PCM WAV file ({exc}); convert it (ffmpeg -i in -c:a pcm_s16le out.wav) "
                         "or install soundfile") from exc
    if width == 3:  # 24-bit: widen to int32
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        pcm = (raw[:, 0].astype(np.int32) << 8 | raw[:, 1].astype(np.int32) << 16
               | raw[:, 2].astype(np.int8).astype(np.int32) << 24)
    else:
        pcm = np.frombuffer(data, _PCM_DTYPES[width])
    return to_mono_float(pcm.reshape(-1, channels)), rate


def read_audio(path: str | Path, *, sample_rate: int | None = None) -> np.ndarray:
    """Read an audio file as float32 mono samples, at ``sample_rate`` when given.

    Args:
        path: A WAV file (or FLAC/OGG ... when ``soundfile`` is installed).
        sample_rate: The rate the model wants (the card's ``stream.sample_rate``).

    Returns:
        ``(n,)`` float32 samples in -1..1.

    Raises:
        InputError: the file is missing or unreadable, or it has another rate and
            ``soxr`` is not installed to resample it (the message names both rates).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such audio file")
    try:
        import soundfile
    except ImportError:
        samples, rate = _read_wav(path)
    else:
        try:
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except RuntimeError as exc:
            raise InputError(f"{path}: soundfile cannot read it: {exc}") from exc
        samples = to_mono_float(data)
    if sample_rate is None or rate == sample_rate:
        return samples
    try:
        import soxr
    except ImportError:
        raise InputError(f"{path} is sampled at {rate} Hz but the model wants {sample_rate} Hz, and no resampler "
                         f"is installed: pip install soxr, or convert the file "
                         f"(ffmpeg -i {path.name} -ar {sample_rate} out.wav)") from None
    return np.asarray(soxr.resample(samples, rate, sample_rate), np.float32)


def audio_chunks(samples: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Cut samples into consecutive chunks of ``size`` (the last one shorter), as a microphone would give them."""
    for start in range(0, len(samples), size):
        yield samples[start:start + size]
