"""Streaming (``model.streamer()``) on silero-vad's ONNX model: per-chunk overhead and VAD speed.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Milliseconds of ``Streamer.process_chunk`` for one 512-sample chunk (one window at
   16 kHz) through the shipped card ``edgeinfer/cards/silero_vad.yaml``, against a bare
   ONNX Runtime loop that does the same work itself: prepend the last 64 samples, run with
   the sample rate, carry the state. Both on one thread. Goal: <= 1.05x.
2. Real-time factor of task ``vad`` on one core (one ONNX Runtime thread): seconds of audio
   per second of ``Streamer.segments`` over a signal of speech-like bursts and silence, cut
   into 20 ms chunks (320 samples, so the streamer re-cuts them). Goal: >= 200x. Baseline:
   the real-time factor of the bare loop of row 1 over the same audio (the model's own
   ceiling on this CPU); the ratio is ours / bare.

Run: ``python bench/bench_stream.py [--quick]``. Needs the ``silero-vad`` wheel (scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.resources import files
from typing import Any

import numpy as np
from common import interleaved_ms, row

import edgeinfer
from edgeinfer.sources.audio_file import audio_chunks

RATE = 16000


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of modulated harmonics (0.3-1.5 s) between silences, in faint noise."""
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.003, int(seconds * RATE)).astype(np.float32)
    at = 0
    while at < audio.size:
        at += int(rng.uniform(0.3, 1.0) * RATE)
        length = int(rng.uniform(0.3, 1.5) * RATE)
        t = np.arange(min(length, max(audio.size - at, 0))) / RATE
        pitch = rng.uniform(100, 220)
        harmonics = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
        audio[at:at + t.size] += (0.2 * harmonics * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
        at += length
    return audio


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the streaming benchmarks; ``quick`` uses fewer rounds and less audio."""
    import onnxruntime as ort

    onnx = str(files("silero_vad.data") / "silero_vad.onnx")
    card = str(files("edgeinfer.cards") / "silero_vad.yaml")
    rounds, per_round = (10, 100) if quick else (30, 100)
    chunks = list(audio_chunks(speech_like(30.0, seed=1), 512))[:-1]

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    bare: dict[str, Any] = {"state": np.zeros((2, 1, 128), np.float32), "context": np.zeros(64, np.float32), "i": 0}
    sr = np.array(RATE, np.int64)

    def bare_loop() -> object:
        chunk = chunks[bare["i"] % len(chunks)]
        bare["i"] += 1
        x = np.concatenate((bare["context"], chunk))
        out, bare["state"] = session.run(None, {"input": x[None, :], "state": bare["state"], "sr": sr})
        bare["context"] = x[-64:]
        return out

    with edgeinfer.load(onnx, card=card, threads=1) as model:
        streamer = model.streamer()
        counter = [0]

        def streamed() -> object:
            counter[0] += 1
            return streamer.process_chunk(chunks[counter[0] % len(chunks)])

        overhead = interleaved_ms(streamed, bare_loop, rounds=rounds, per_round=per_round, warmup=20)

        audio = speech_like(20.0 if quick else 60.0, seed=2)
        pieces = list(audio_chunks(audio, 320))
        windows = list(audio_chunks(audio, 512))
        vad = model.streamer()
        best, best_bare = float("inf"), float("inf")
        for _ in range(3 if quick else 5):  # alternating, best of each
            started = time.perf_counter()
            segments = list(vad.segments(pieces))
            best = min(best, time.perf_counter() - started)
            started = time.perf_counter()
            bare["state"], bare["context"] = np.zeros((2, 1, 128), np.float32), np.zeros(64, np.float32)
            for window in windows[:-1]:
                x = np.concatenate((bare["context"], window))
                _, bare["state"] = session.run(None, {"input": x[None, :], "state": bare["state"], "sr": sr})
                bare["context"] = x[-64:]
            best_bare = min(best_bare, time.perf_counter() - started)
    seconds = audio.size / RATE
    rtf, bare_rtf = seconds / best, seconds / best_bare
    return [
        row("Streamer.process_chunk vs a bare ONNX Runtime loop carrying state and context, silero-vad, "
            "512 samples, 1 thread", overhead.candidate_ms, "ms", overhead.baseline_ms, "<= 1.05x",
            overhead.ratio <= 1.05, ratio=overhead.ratio),
        row(f"VAD real-time factor, silero-vad card, 1 thread, {audio.size / RATE:.0f} s in 20 ms chunks "
            f"({len(segments)} segments); baseline: the bare loop's", rtf, "x real time", bare_rtf, ">= 200x",
            rtf >= 200, ratio=best_bare / best),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
