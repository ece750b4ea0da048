"""Stateful streaming: run a model window by window over a continuous signal (``model.streamer()``).

The card's ``stream:`` section (:class:`~edgeinfer.card_schema.StreamSpec`) says how::

    task: vad
    stream:
      sample_rate: 16000
      window: 512          # new samples per call
      context: 64          # samples before the window fed with it (zeros at the start)
      state: [{input: state, output: stateN, shape: [2, 1, 128]}]
      constants: {sr: 16000}
      vad: {threshold: 0.5, min_silence_ms: 100}

Chunks of any length go in; the streamer re-cuts them into windows of ``window`` samples
every ``hop`` samples, feeds each call ``context + window`` samples with the constants and
the state the previous call returned, and keeps the state for the next one. Two streamers
of one model keep separate state (and share the interpreter, one call at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeinfer.card_schema import StreamSpec
from edgeinfer.errors import ConfigError, InputError
from edgeinfer.results.audio import SpeechSegment, StreamWindow
from edgeinfer.types import TensorSpec
from edgeinfer.vad import VadSegmenter

if TYPE_CHECKING:
    from edgeinfer.model import Model

__all__ = ["Streamer", "StreamWindow"]

_F32 = np.dtype(np.float32)


def _fits(shape: tuple[int, ...], declared: tuple[int, ...]) -> bool:
    return len(shape) == len(declared) and all(d < 0 or d == g for d, g in zip(declared, shape, strict=True))


class Streamer:
    """One stream's state over a model: windows in, :class:`StreamWindow` results out.

    One streamer follows one signal and is not thread-safe; give each thread or stream its own
    (they share the model's interpreter, one call at a time).

    Args:
        model: A loaded model whose card has a ``stream:`` section.

    Raises:
        ConfigError: the card has no ``stream:`` section, or a state, constant or the
            signal input does not match the model's inputs and outputs (names, shape, dtype).
    """

    def __init__(self, model: Model) -> None:
        spec = model.card.stream
        if spec is None:
            raise ConfigError(f"{model.name}: model.streamer() needs a stream: section in the model card "
                              "(window, sample_rate, state pairs); see the README's streaming section")
        self.model = model
        self.spec = spec
        self.task = model.card.task
        self.sample_rate = spec.sample_rate
        self.window = spec.window
        self.hop = spec.hop or spec.window
        self.context = spec.context
        self._size = spec.context + spec.window  # samples per call
        inputs = {s.name: s for s in model.inputs}
        outputs = {s.name: s for s in model.outputs}
        _check_states(model.name, spec, inputs, outputs)
        self._constants = _constants(model.name, spec, inputs)
        signal = _signal_input(model.name, spec, inputs)
        self._signal_shape = _signal_shape(model.name, signal, self.context + self.window)
        self._cast = None if signal.dtype == np.float32 else signal.dtype
        order = [s.name for s in model.inputs]
        self._out_names = [s.name for s in model.outputs]
        self._signal_at = order.index(signal.name)
        self._state_at = [(order.index(s.input), self._out_names.index(s.output)) for s in spec.state]
        self._constant_feeds = [(order.index(key), value) for key, value in self._constants.items()]
        self._lock = model._lock  # one call at a time on the interpreter, whoever calls
        self._prob_at = self._out_names.index(self._probability_output(outputs)) if self.task == "vad" else 0
        self._segmenter = VadSegmenter(spec.vad, spec.sample_rate, self.hop) if self.task == "vad" else None
        self.reset()

    def _probability_output(self, outputs: dict[str, TensorSpec]) -> str:
        name = self.spec.vad.output
        state_outputs = {s.output for s in self.spec.state}
        if name is None:
            name = next((n for n in outputs if n not in state_outputs), None)
        if name is None or name not in outputs:
            raise ConfigError(f"{self.model.name}: stream.vad.output {name!r} is not an output of the model "
                              f"(outputs: {list(outputs)}); name the speech-probability output")
        return name

    # -- state -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Start again: initial state, empty buffer (``context`` zeros), sample clock at 0."""
        self._feeds: list[Any] = [None] * len(self.model.inputs)  # the next call's inputs, in the model's order
        for at, value in self._constant_feeds:
            self._feeds[at] = value
        for (at, _), state in zip(self._state_at, self.spec.state, strict=True):
            self._feeds[at] = np.full(state.shape, state.init, dtype=state.dtype)
        self._buffer = np.zeros(self.context, np.float32)  # context, then samples of windows to come
        self._next_start = 0  # first sample of the next window (context not counted)
        self._received = 0  # samples taken in
        self._index = 0
        if self._segmenter is not None:
            self._segmenter.reset()

    @property
    def samples_seen(self) -> int:
        """Samples taken in since the start or the last ``reset()``."""
        return self._received

    # -- running ----------------------------------------------------------------------------

    def process_chunk(self, chunk: Any) -> list[StreamWindow] | None:
        """Take the next samples of the signal, any number of them.

        Args:
            chunk: 1-D samples (float in -1..1, or int16 PCM, scaled by 1/32768).

        Returns:
            ``None`` while the next window is still filling; else the windows this chunk
            completed, oldest first (one when chunks are ``hop`` samples long, several for
            a long chunk: none is dropped).

        Raises:
            InputError: the chunk is not 1-D numbers (a stereo chunk: down-mix it first).
        """
        is_ready = type(chunk) is np.ndarray and chunk.dtype == _F32 and chunk.ndim == 1
        samples = chunk if is_ready else _as_samples(chunk)
        self._received += samples.size
        self._buffer = np.concatenate((self._buffer, samples))  # a copy: the caller may reuse its chunk's memory
        return self._drain()

    def flush(self) -> list[StreamWindow] | None:
        """End of the signal: pad the tail with zeros until a window holds its last sample; close an open segment.

        The streamer then starts again (as after :meth:`reset`).

        Returns:
            The window the tail completed (for task ``vad`` the last window returned
            carries the closing speech segment), or ``None`` when there was no tail and
            nothing to close.
        """
        received = self._received
        covered = self._next_start - self.hop + self.window if self._index else 0
        windows: list[StreamWindow] = []
        if received > covered:
            missing = self.context + self.window - self._buffer.size
            self._buffer = np.concatenate((self._buffer, np.zeros(max(missing, 0), np.float32)))
            windows = self._drain() or []
        if self._segmenter is not None:
            closing = self._segmenter.finish(received)
            if closing is not None and windows:
                windows[-1] = windows[-1]._replace(segments=(*windows[-1].segments, closing))
            elif closing is not None:  # no tail: an empty window at the end carries the segment
                windows.append(StreamWindow(self.task, self._index, received, 0, self.sample_rate, {},
                                            None, (closing,)))
        self.reset()
        return windows or None

    def run(self, chunks: Iterable[Any], *, flush: bool = True) -> Iterator[StreamWindow]:
        """Yield every window's result over an iterable of chunks (then :meth:`flush`'s, when ``flush``)."""
        for chunk in chunks:
            done = self.process_chunk(chunk)
            if done:
                yield from done
        if flush:
            yield from self.flush() or ()

    def segments(self, chunks: Iterable[Any]) -> Iterator[SpeechSegment]:
        """Task ``vad``: yield each speech segment of the chunks as it closes (the tail flushed)."""
        if self._segmenter is None:
            raise ConfigError(f"{self.model.name}: segments() needs task 'vad', the card says {self.task!r}")
        for window in self.run(chunks):
            yield from window.segments

    def _drain(self) -> list[StreamWindow] | None:
        buffer, size, hop = self._buffer, self._size, self.hop
        held = buffer.size
        if held < size:
            return None
        if held < size + hop:  # one window: the usual case, chunks of ``hop`` samples
            done = [self._call(buffer if held == size else buffer[:size])]
            self._buffer = buffer[hop:]
            return done
        done = []
        offset = 0
        while held - offset >= size:
            done.append(self._call(buffer[offset:offset + size]))
            offset += hop
        self._buffer = buffer[offset:]
        return done

    def _call(self, samples: np.ndarray) -> StreamWindow:
        feeds = self._feeds
        x = samples.reshape(self._signal_shape)
        feeds[self._signal_at] = x if self._cast is None else x.astype(self._cast)
        # The backend directly, with feeds already in the model's dtypes and shapes (checked when
        # the streamer was made): Model.run's general checks cost more than 5% of silero-vad's call.
        with self._lock:
            results = self.model._require_open().run(feeds)
        for at, output_at in self._state_at:
            feeds[at] = results[output_at]  # a fresh array of the state's dtype (checked), the next call's input
        start = self._next_start
        self._next_start = start + self.hop
        index = self._index
        self._index = index + 1
        outputs = dict(zip(self._out_names, results, strict=True))
        if self._segmenter is None:
            return StreamWindow(self.task, index, start, self.window, self.sample_rate, outputs)
        probability = float(results[self._prob_at].item(0))
        closed = self._segmenter.update(probability, start)
        return StreamWindow(self.task, index, start, self.window, self.sample_rate, outputs,
                            probability, () if closed is None else (closed,))

    def __repr__(self) -> str:
        return (f"<Streamer {self.model.name} window={self.window} hop={self.hop} context={self.context} "
                f"states={len(self.spec.state)} at sample {self._received}>")


def _as_samples(chunk: Any) -> np.ndarray:
    samples = np.asarray(chunk)
    if samples.ndim != 1:
        samples = samples.reshape(-1) if samples.ndim == 2 and 1 in samples.shape else samples
    if samples.ndim != 1:
        raise InputError(f"process_chunk takes 1-D mono samples, got shape {list(samples.shape)}; "
                         "down-mix channels first (edgeinfer.sources.audio_file.read_audio does)")
    if samples.dtype == np.int16:
        return samples.astype(np.float32) / 32768.0
    if samples.dtype.kind != "f":
        raise InputError(f"process_chunk takes float samples in -1..1 or int16 PCM, got dtype {samples.dtype}; "
                         "convert them first")
    return samples.astype(np.float32, copy=False)


def _check_states(name: str, spec: StreamSpec, inputs: dict[str, TensorSpec],
                  outputs: dict[str, TensorSpec]) -> None:
    """Each state pair names an input and an output of the model, of the card's shape and dtype."""
    for state in spec.state:
        if state.input not in inputs:
            raise ConfigError(f"{name}: stream.state input {state.input!r} is not an input of the model "
                              f"(inputs: {list(inputs)})")
        if state.output not in outputs:
            raise ConfigError(f"{name}: stream.state output {state.output!r} is not an output of the model "
                              f"(outputs: {list(outputs)})")
        for kind, tensor in (("input", inputs[state.input]), ("output", outputs[state.output])):
            if kind == "output" and not tensor.shape:
                continue
            if not _fits(state.shape, tensor.shape):
                raise ConfigError(f"{name}: stream.state shape {list(state.shape)} does not fit the model's "
                                  f"{kind} {tensor.name!r} of shape {list(tensor.shape)} (-1 = any); "
                                  f"set stream.state[].shape to the model's")
            if np.dtype(state.dtype) != tensor.dtype:
                raise ConfigError(f"{name}: stream.state dtype {state.dtype} differs from the model's {kind} "
                                  f"{tensor.name!r} dtype {tensor.dtype}; set stream.state[].dtype: {tensor.dtype}")


def _constants(name: str, spec: StreamSpec, inputs: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in spec.constants.items():
        tensor = inputs.get(key)
        if tensor is None:
            raise ConfigError(f"{name}: stream.constants {key!r} is not an input of the model "
                              f"(inputs: {list(inputs)})")
        array = np.asarray(value, dtype=tensor.dtype)
        if not _fits(array.shape, tensor.shape):
            if array.size == 1 and all(d in (1, -1) for d in tensor.shape):
                array = array.reshape((1,) * len(tensor.shape))
            else:
                raise ConfigError(f"{name}: stream.constants {key!r} has shape {list(array.shape)}, the model's "
                                  f"input wants {list(tensor.shape)} (-1 = any)")
        out[key] = np.array(array, order="C")  # not ascontiguousarray: it makes a scalar 1-D
    return out


def _signal_input(name: str, spec: StreamSpec, inputs: dict[str, TensorSpec]) -> TensorSpec:
    taken = {s.input for s in spec.state} | set(spec.constants)
    if spec.input is not None:
        if spec.input not in inputs:
            raise ConfigError(f"{name}: stream.input {spec.input!r} is not an input of the model "
                              f"(inputs: {list(inputs)})")
        return inputs[spec.input]
    free = [s for n, s in inputs.items() if n not in taken]
    if len(free) != 1:
        raise ConfigError(f"{name}: cannot tell which input takes the signal: {[s.name for s in free]} are "
                          "neither state nor constants; set stream.input")
    return free[0]


def _signal_shape(name: str, tensor: TensorSpec, size: int) -> tuple[int, ...]:
    """The shape a window of ``size`` samples is fed in: 1 on every axis but the samples' (the last not fixed to 1)."""
    axes = [i for i, d in enumerate(tensor.shape) if d != 1]
    if not axes:
        raise ConfigError(f"{name}: input {tensor.name!r} of shape {list(tensor.shape)} has no axis for samples")
    axis = axes[-1]
    if tensor.shape[axis] not in (-1, size):
        raise ConfigError(f"{name}: input {tensor.name!r} takes {tensor.shape[axis]} samples, but the card's "
                          f"stream gives context + window = {size}; set stream.window (and context) to match")
    return tuple(size if i == axis else 1 for i in range(len(tensor.shape)))
