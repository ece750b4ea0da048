"""Task ``vad``: the silero-vad ONNX model through our card against the package's own functions.

- :class:`VadSegmenter`, window by window, against silero's ``get_speech_timestamps_from_probs``
  on random probability sequences (same segments, to the sample).
- The shipped card (``edgeinfer/cards/silero_vad.yaml``) streaming espeak-ng speech, cut into
  chunks of odd sizes, against ``get_speech_timestamps`` on the same audio, side by side.
- The WAV reader: stereo PCM down-mixed, and a rate the card does not take refused with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import wave
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

import edgeinfer
from edgeinfer.card_schema import VadSpec
from edgeinfer.errors import InputError
from edgeinfer.sources.audio_file import audio_chunks, read_audio
from edgeinfer.vad import VadSegmenter

silero_vad = pytest.importorskip("silero_vad")
torch = pytest.importorskip("torch")

RATE = 16000
HOP = 512
WORDS = [(0.6, "hello there"), (2.7, "seven"), (4.3, "the quick brown fox jumps")]  # (start s, text)
SILERO_ONNX = str(files("silero_vad.data") / "silero_vad.onnx")
SILERO_CARD = str(files("edgeinfer.cards") / "silero_vad.yaml")


def markov_probabilities(rng: np.random.Generator, n: int) -> list[float]:
    """Runs of speech-like and silence-like probabilities, with dips and bumps inside."""
    probs, speech = [], False
    for _ in range(n):
        if rng.random() < 0.06:
            speech = not speech
        centre = 0.85 if speech else 0.1
        probs.append(float(np.clip(centre + rng.normal(0, 0.25), 0.0, 1.0)))
    return probs


@pytest.mark.parametrize("spec", [
    VadSpec(),
    VadSpec(threshold=0.6, min_speech_ms=100, min_silence_ms=200, speech_pad_ms=50),
    VadSpec(threshold=0.4, neg_threshold=0.3, min_speech_ms=0, min_silence_ms=64, speech_pad_ms=0),
])
def test_segmenter_matches_silero_on_random_probabilities(spec: VadSpec) -> None:
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    rng = np.random.default_rng(7)
    for trial in range(20):
        probs = markov_probabilities(rng, 400)
        length = len(probs) * HOP - int(rng.integers(0, HOP))
        want = get_speech_timestamps_from_probs(
            probs, sampling_rate=RATE, threshold=spec.threshold, neg_threshold=spec.neg_threshold,
            min_speech_duration_ms=spec.min_speech_ms, min_silence_duration_ms=spec.min_silence_ms,
            speech_pad_ms=spec.speech_pad_ms, audio_length_samples=length)
        segmenter = VadSegmenter(spec, RATE, HOP)
        got = [s for i, p in enumerate(probs) if (s := segmenter.update(p, i * HOP)) is not None]
        last = segmenter.finish(length)
        got += [] if last is None else [last]
        assert [(round(s.start * RATE), round(s.end * RATE)) for s in got] == \
            [(w["start"], w["end"]) for w in want], f"trial {trial}"
        assert all(0.0 < s.score <= 1.0 for s in got)


def test_segment_is_emitted_when_it_closes() -> None:
    segmenter = VadSegmenter(VadSpec(min_speech_ms=0, min_silence_ms=100, speech_pad_ms=0), RATE, HOP)
    probs = [0.0] * 3 + [0.9] * 10 + [0.0] * 10
    probs[5] = 0.6  # inside speech: counted in the score
    emitted = [(i, s) for i, p in enumerate(probs) if (s := segmenter.update(p, i * HOP)) is not None]
    # speech ends at window 13; 100 ms = 3.1 windows of silence later it closes, at window 17
    assert [i for i, _ in emitted] == [17]
    segment = emitted[0][1]
    assert (segment.start, segment.end) == (3 * HOP / RATE, 13 * HOP / RATE)
    assert segment.score == pytest.approx((9 * 0.9 + 0.6) / 10)
    assert segmenter.finish() is None


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """Words from espeak-ng at known times in 7 s of faint noise, 16 kHz float32."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing in CI: scripts/setup.sh installs it")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng, or scripts/setup.sh)")
    resample_poly = pytest.importorskip("scipy.signal").resample_poly

    folder = tmp_path_factory.mktemp("speech")
    audio = np.random.default_rng(0).normal(0, 0.003, 7 * RATE).astype(np.float32)
    for i, (start, text) in enumerate(WORDS):
        path = folder / f"word{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
        with wave.open(str(path)) as reader:
            rate = reader.getframerate()
        word = resample_poly(read_audio(path), RATE, rate)  # espeak-ng writes 22050 Hz
        at = int(start * RATE)
        audio[at:at + len(word)] += word.astype(np.float32)
    return audio


def test_silero_card_matches_get_speech_timestamps(speech: np.ndarray) -> None:
    reference_model = silero_vad.load_silero_vad(onnx=True)
    want = silero_vad.get_speech_timestamps(torch.from_numpy(speech), reference_model, sampling_rate=RATE)
    with edgeinfer.load(SILERO_ONNX, card=SILERO_CARD) as model:
        rng = np.random.default_rng(3)
        cuts = np.cumsum(rng.integers(1, 1500, size=200))
        chunks = np.split(speech, cuts[cuts < len(speech)])  # odd sizes, as a sound card may give them
        got = list(model.streamer().segments(chunks))
        windows = list(model.streamer().run(audio_chunks(speech, HOP)))
    side_by_side = [(round(g.start, 3), round(w["start"] / RATE, 3), round(g.end, 3), round(w["end"] / RATE, 3))
                    for g, w in zip(got, want, strict=False)]
    assert len(got) == len(want) == len(WORDS), side_by_side
    for (ours_start, their_start, ours_end, their_end), (word_start, _) in zip(side_by_side, WORDS, strict=True):
        assert abs(ours_start - their_start) <= 0.1 and abs(ours_end - their_end) <= 0.1, side_by_side
        assert abs(ours_start - word_start) <= 0.15, side_by_side  # where the word was put
    assert all(0.5 < g.score <= 1.0 for g in got)
    assert len(windows) == -(-len(speech) // HOP)  # one probability per 512 samples, the tail padded
    assert all(w.probability is not None and 0.0 <= w.probability <= 1.0 for w in windows)
    assert sum(len(w.segments) for w in windows) == len(WORDS)
    closing = next(w for w in windows if w.segments)
    payload = closing.to_dict()
    assert payload["task"] == "vad" and payload["segments"][0]["start"] == pytest.approx(got[0].start, abs=1e-3)


def write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(pcm.shape[1] if pcm.ndim == 2 else 1)
        writer.setsampwidth(pcm.dtype.itemsize)
        writer.setframerate(rate)
        writer.writeframes(pcm.tobytes())


def test_read_audio_down_mixes_and_scales(tmp_path: Path) -> None:
    left = np.full(100, 16384, np.int16)
    right = np.full(100, -8192, np.int16)
    write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1), RATE)
    samples = read_audio(tmp_path / "stereo.wav", sample_rate=RATE)
    assert samples.dtype == np.float32 and samples.shape == (100,)
    assert samples == pytest.approx(np.full(100, (0.5 - 0.25) / 2))


def test_read_audio_8_and_24_bit(tmp_path: Path) -> None:
    write_wav(tmp_path / "u8.wav", np.array([0, 64, 128, 192], np.uint8), RATE)
    assert read_audio(tmp_path / "u8.wav") == pytest.approx([-1.0, -0.5, 0.0, 0.5])
    values = np.array([-(2 ** 23), -(2 ** 21), 0, 2 ** 22], np.int32)
    packed = np.stack([(values >> shift) & 0xFF for shift in (0, 8, 16)], axis=1).astype(np.uint8)
    with wave.open(str(tmp_path / "s24.wav"), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(3)
        writer.setframerate(RATE)
        writer.writeframes(packed.tobytes())
    assert read_audio(tmp_path / "s24.wav") == pytest.approx([-1.0, -0.25, 0.0, 0.5])


def test_read_audio_resamples_with_soxr_and_says_what_to_do_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seconds = np.arange(44100) / 44100
    write_wav(tmp_path / "cd.wav", (8000 * np.sin(2 * np.pi * 440 * seconds)).astype(np.int16), 44100)
    resampled = read_audio(tmp_path / "cd.wav", sample_rate=16000)
    assert len(resampled) == 16000
    peak_hz = np.argmax(np.abs(np.fft.rfft(resampled))) * 16000 / len(resampled)
    assert abs(peak_hz - 440) <= 2
    monkeypatch.setitem(sys.modules, "soxr", None)  # as on a device without the audio extra
    with pytest.raises(InputError, match=r"44100 Hz but the model wants 16000 Hz.*pip install soxr"):
        read_audio(tmp_path / "cd.wav", sample_rate=16000)
    with pytest.raises(InputError, match="no such audio file"):
        read_audio(tmp_path / "missing.wav")


def test_silero_card_loads_with_the_right_window() -> None:
    with edgeinfer.load(SILERO_ONNX, card=SILERO_CARD) as model:
        streamer = model.streamer()
        assert (streamer.window, streamer.hop, streamer.context) == (512, 512, 64)
        assert model.card.task == "vad" and model.card.stream is not None
        assert model.card.stream.state[0].shape == (2, 1, 128)


def test_predict_cli_prints_the_segments_of_a_wav(speech: np.ndarray, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from edgeinfer.cli import cli

    wav = tmp_path / "speech.wav"
    write_wav(wav, (np.clip(speech, -1, 1) * 32767).astype(np.int16), RATE)
    lines = CliRunner().invoke(cli, ["predict", SILERO_ONNX, str(wav), "--card", SILERO_CARD, "--json"])
    assert lines.exit_code == 0, lines.output
    segments = [json.loads(line) for line in lines.output.splitlines() if line.startswith("{")]
    assert [round(s["start"], 1) for s in segments] == pytest.approx([start for start, _ in WORDS], abs=0.15)
    assert all(s["task"] == "vad" and s["file"] == str(wav) and s["end"] > s["start"] for s in segments)
    table = CliRunner().invoke(cli, ["predict", SILERO_ONNX, str(wav), str(tmp_path / "missing.wav"),
                                     "--card", SILERO_CARD])
    assert table.exit_code == 65 and "3 speech segments" in table.output and "no such audio file" in table.output
