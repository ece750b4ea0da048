"""model.streamer(): a tiny stateful ONNX model, streamed, against a loop that carries the state by hand.

The model (torch, exported once per session): ``y = 0.5 * sum(state) + gain * mean(x)`` and
``state_out = tanh(0.9 * state + gain * x[-4:])`` over ``x`` of ``context + window = 8``
samples; ``gain`` is a constant input. The reference runs a bare ONNX Runtime session over
the zero-prefixed signal window by window, feeding ``state_out`` back itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import ConfigError, InputError

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

CONTEXT, WINDOW, HOP, GAIN = 2, 6, 4, 1.5
CARD: dict[str, Any] = {
    "task": "raw",
    "stream": {"sample_rate": 8000, "window": WINDOW, "hop": HOP, "context": CONTEXT,
               "state": [{"input": "state", "output": "state_out", "shape": [1, 4], "init": 0.25}],
               "constants": {"gain": GAIN}},
}


class _Stateful(torch.nn.Module):  # type: ignore[misc]
    def forward(self, x: Any, state: Any, gain: Any) -> tuple[Any, Any]:
        y = state.sum(dim=1, keepdim=True) * 0.5 + x.mean(dim=1, keepdim=True) * gain
        return y, torch.tanh(state * 0.9 + x[:, -4:] * gain)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "tiny_stateful.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation: it is 20x faster here
        torch.onnx.export(_Stateful(), (torch.zeros(1, CONTEXT + WINDOW), torch.zeros(1, 4), torch.ones(1)),
                          str(path), dynamo=False, opset_version=17, input_names=["x", "state", "gain"],
                          output_names=["y", "state_out"])
    return path


@pytest.fixture()
def model(tiny_onnx: Path) -> Any:
    with edgeinfer.load(tiny_onnx, card=CARD) as loaded:
        yield loaded


def reference(path: Path, signal: np.ndarray, *, flush: bool) -> tuple[list[float], np.ndarray]:
    """Every window's ``y`` and the last state, by a bare session carrying the state itself."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    padded = np.concatenate([np.zeros(CONTEXT, np.float32), signal.astype(np.float32)])
    if flush:
        starts = range(0, len(signal), HOP)
        ends = [start + WINDOW for start in starts]
        keep = [start for start, end in zip(starts, ends, strict=True)
                if start == 0 or end - HOP < len(signal)]  # until a window holds the last sample
        padded = np.concatenate([padded, np.zeros(WINDOW, np.float32)])
    else:
        keep = list(range(0, len(signal) - WINDOW + 1, HOP))
    state = np.full((1, 4), 0.25, np.float32)
    ys = []
    for start in keep:
        x = padded[start:start + CONTEXT + WINDOW][None, :]
        y, state = session.run(None, {"x": x, "state": state, "gain": np.array([GAIN], np.float32)})
        ys.append(float(y[0, 0]))
    return ys, state


def random_chunks(signal: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    cuts = np.sort(rng.choice(np.arange(1, len(signal)), size=len(signal) // 5, replace=False))
    return [piece for piece in np.split(signal, cuts)] + [signal[:0]]  # an empty chunk too


def test_chunks_of_any_length_equal_the_hand_loop(model: Any, tiny_onnx: Path) -> None:
    rng = np.random.default_rng(1)
    signal = rng.uniform(-1, 1, 203).astype(np.float32)
    streamer = model.streamer()
    windows = []
    for chunk in random_chunks(signal, rng):
        done = streamer.process_chunk(chunk)
        assert done is None or len(done) >= 1
        windows += done or []
    want, want_state = reference(tiny_onnx, signal, flush=False)
    assert len(windows) == len(want) == (203 - WINDOW) // HOP + 1
    np.testing.assert_allclose([float(w.outputs["y"][0, 0]) for w in windows], want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(windows[-1].outputs["state_out"], want_state, rtol=1e-6, atol=1e-6)
    assert [w.number for w in windows] == list(range(len(want)))
    assert [w.start_sample for w in windows] == list(range(0, len(want) * HOP, HOP))
    assert windows[3].start == pytest.approx(3 * HOP / 8000) and windows[3].end == pytest.approx((3 * HOP + 6) / 8000)


def test_one_long_chunk_returns_every_window_and_run_flushes(model: Any, tiny_onnx: Path) -> None:
    signal = np.random.default_rng(2).uniform(-1, 1, 101).astype(np.float32)
    done = model.streamer().process_chunk(signal)
    want, _ = reference(tiny_onnx, signal, flush=False)
    assert [float(w.outputs["y"][0, 0]) for w in done] == pytest.approx(want, abs=1e-6)
    flushed, _ = reference(tiny_onnx, signal, flush=True)
    via_run = [float(w.outputs["y"][0, 0]) for w in model.streamer().run([signal[:50], signal[50:]])]
    assert len(flushed) == len(want) + 1  # the last full window ends at 98 < 101: one more holds the tail
    assert via_run == pytest.approx(flushed, abs=1e-6)


def test_flush_pads_the_tail_and_starts_again(model: Any, tiny_onnx: Path) -> None:
    signal = np.random.default_rng(3).uniform(-1, 1, 3).astype(np.float32)  # shorter than one window
    streamer = model.streamer()
    assert streamer.process_chunk(signal) is None
    tail = streamer.flush()
    want, _ = reference(tiny_onnx, signal, flush=True)
    assert tail is not None and len(tail) == 1 == len(want)
    assert float(tail[0].outputs["y"][0, 0]) == pytest.approx(want[0], abs=1e-6)
    assert streamer.samples_seen == 0 and streamer.flush() is None  # fresh: nothing to flush


def test_two_streamers_keep_separate_state_and_reset_starts_again(model: Any, tiny_onnx: Path) -> None:
    rng = np.random.default_rng(4)
    a, b = rng.uniform(-1, 1, 64).astype(np.float32), rng.uniform(-1, 1, 64).astype(np.float32)
    first, second = model.streamer(), model.streamer()
    got_a: list[float] = []
    got_b: list[float] = []
    for i in range(0, 64, 8):  # interleaved on one interpreter
        got_a += [float(w.outputs["y"][0, 0]) for w in first.process_chunk(a[i:i + 8]) or []]
        got_b += [float(w.outputs["y"][0, 0]) for w in second.process_chunk(b[i:i + 8]) or []]
    assert got_a == pytest.approx(reference(tiny_onnx, a, flush=False)[0], abs=1e-6)
    assert got_b == pytest.approx(reference(tiny_onnx, b, flush=False)[0], abs=1e-6)
    first.process_chunk(b[:13])  # leaves a partial window and a changed state behind
    first.reset()
    again = [float(w.outputs["y"][0, 0]) for w in first.process_chunk(a) or []]
    assert again == pytest.approx(got_a, abs=1e-6)


def test_int16_chunks_are_scaled(model: Any) -> None:
    pcm = (np.random.default_rng(5).uniform(-1, 1, 40) * 32767).astype(np.int16)
    from_int = model.streamer().process_chunk(pcm)
    from_float = model.streamer().process_chunk(pcm.astype(np.float32) / 32768)
    assert [float(w.outputs["y"][0, 0]) for w in from_int] == pytest.approx(
        [float(w.outputs["y"][0, 0]) for w in from_float], abs=1e-6)
    with pytest.raises(InputError, match="1-D mono"):
        model.streamer().process_chunk(np.zeros((10, 2), np.float32))


@pytest.mark.parametrize(("change", "message"), [
    ({"state": [{"input": "state", "output": "state_out", "shape": [1, 5]}]}, r"shape \[1, 5\] does not fit"),
    ({"state": [{"input": "state", "output": "state_out", "shape": [1, 4], "dtype": "int64"}]}, "dtype int64"),
    ({"state": [{"input": "hidden", "output": "state_out", "shape": [1, 4]}]}, "'hidden' is not an input"),
    ({"state": [{"input": "state", "output": "h_out", "shape": [1, 4]}]}, "'h_out' is not an output"),
    ({"constants": {"gain": [1.0, 2.0]}}, "constants 'gain' has shape"),
    ({"window": 7}, "context \\+ window = 9"),
    ({"constants": {}}, "cannot tell which input takes the signal"),
])
def test_card_errors_at_streamer_creation(tiny_onnx: Path, change: dict[str, Any], message: str) -> None:
    card = {**CARD, "stream": {**CARD["stream"], **change}}
    with edgeinfer.load(tiny_onnx, card=card) as loaded, pytest.raises(ConfigError, match=message):
        loaded.streamer()


def test_streamer_needs_a_stream_section(tiny_onnx: Path) -> None:
    with edgeinfer.load(tiny_onnx, card={"task": "raw"}) as loaded, pytest.raises(ConfigError, match="stream:"):
        loaded.streamer()
    with pytest.raises(ConfigError, match="task 'vad' needs a stream"):
        edgeinfer.load(tiny_onnx, card={"task": "vad"})


def test_card_embedded_in_the_model_travels_with_it(tiny_onnx: Path, tmp_path: Path) -> None:
    from edgeinfer.card import write

    copy = tmp_path / "with_card.onnx"
    copy.write_bytes(tiny_onnx.read_bytes())
    write(copy, CARD)
    with edgeinfer.load(copy) as loaded:
        assert loaded.card.origin == "embedded" and loaded.card.stream is not None
        windows = loaded.streamer().process_chunk(np.zeros(WINDOW, np.float32))
    assert windows is not None and windows[0].to_dict() == {
        "task": "raw", "window": 0, "start": 0.0, "end": WINDOW / 8000, "outputs": {"y": [1, 1], "state_out": [1, 4]}}


@pytest.mark.parametrize(("stream", "message"), [
    ({"window": 4, "hop": 6}, "hop 6 is longer than window 4"),
    ({"window": 4, "vad": {"threshold": 0.5, "neg_threshold": 0.7}}, "neg_threshold 0.7 is above threshold"),
    ({"window": 0}, "stream.window"),
])
def test_stream_section_is_validated(stream: dict[str, Any], message: str) -> None:
    from edgeinfer.card_schema import parse

    with pytest.raises(ConfigError, match=message):
        parse({"task": "raw", "stream": stream})


def test_a_chunk_buffer_reused_by_the_caller_is_safe(tiny_onnx: Path) -> None:
    card = {**CARD, "stream": {**CARD["stream"], "context": 0, "window": 8}}  # no context: nothing to copy into
    signal = np.random.default_rng(6).uniform(-1, 1, 60).astype(np.float32)
    with edgeinfer.load(tiny_onnx, card=card) as loaded:
        want = [float(w.outputs["y"][0, 0]) for w in loaded.streamer().run([signal[i:i + 6].copy()
                                                                            for i in range(0, 60, 6)])]
        streamer, reused, got = loaded.streamer(), np.empty(6, np.float32), []
        for i in range(0, 60, 6):
            reused[:] = signal[i:i + 6]  # as a sound card callback refills one buffer
            got += [float(w.outputs["y"][0, 0]) for w in streamer.process_chunk(reused) or []]
        got += [float(w.outputs["y"][0, 0]) for w in streamer.flush() or []]
    assert len(want) == 14 and got == pytest.approx(want, abs=1e-7)
