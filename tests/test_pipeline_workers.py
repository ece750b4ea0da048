"""Pipeline workers: several interpreters side by side, results still in frame order.

Real ONNX Runtime and LiteRT replicas (:meth:`Model.replica`), real frames; the ordering
tests use a callable whose time per frame varies so that workers finish out of order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import edgeinfer
from edgeinfer.errors import InputError, ModelError
from edgeinfer.model import Model
from edgeinfer.pipeline import Pipeline
from edgeinfer.results import Regression
from edgeinfer.sinks.memory import MemorySink
from edgeinfer.sources import ReplaySource
from tests.model_factory import onnx_cnn_bytes, tflite_bytes
from tests.sources.helpers import decode_index, index_frames

pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

CARD = {"task": "classification", "labels": list("abcde"), "preprocess": {"std": 255},
        "postprocess": {"top_k": 3}}


@pytest.fixture(scope="module")
def model() -> Iterator[Any]:
    with edgeinfer.load(onnx_cnn_bytes(), threads=1, card=CARD) as loaded:
        yield loaded


@pytest.fixture
def replicas(monkeypatch: pytest.MonkeyPatch) -> list[Model]:
    """Every replica opened during the test (Model.replica still does the real work)."""
    opened: list[Model] = []
    real = Model.replica

    def spy(self: Model, **kwargs: Any) -> Model:
        twin = real(self, **kwargs)
        opened.append(twin)
        return twin

    monkeypatch.setattr(Model, "replica", spy)
    return opened


def uneven(delays_s: dict[int, float]) -> Any:
    """A thread-safe callable that sleeps per frame (by the index drawn into it), so workers finish out of order."""
    active, peak, lock = [0], [0], threading.Lock()

    def infer(image: np.ndarray) -> Regression:
        index = decode_index(image)
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(delays_s.get(index % len(delays_s), 0.0))
        with lock:
            active[0] -= 1
        return Regression(values=np.array([index], np.float32), names=("index",))

    infer.peak = peak  # type: ignore[attr-defined]
    return infer


def test_replica_is_a_second_interpreter_with_the_same_results(model: Any) -> None:
    frame = index_frames(3)[2]
    with model.replica() as twin:
        assert twin is not model and twin._backend is not model._backend
        assert (twin.accelerator, twin.threads, twin.card) == (model.accelerator, model.threads, model.card)
        assert twin.predict(frame).to_dict() == model.predict(frame).to_dict()
    assert model.predict(frame) is not None  # closing the replica leaves the original open
    with pytest.raises(ModelError, match="closed"):
        twin.run(np.zeros((1, 3, 16, 16), np.float32))


def test_replica_of_a_tflite_model_and_of_a_closed_model() -> None:
    original = edgeinfer.load(tflite_bytes("int8", "int8"))
    shape = tuple(max(d, 1) for d in original.inputs[0].shape)
    x = np.random.default_rng(0).integers(-128, 127, shape, dtype=np.int8)
    with original.replica() as twin:
        for name, value in twin.run(x, raw=True).items():
            np.testing.assert_array_equal(value, original.run(x, raw=True)[name])
    original.close()
    with pytest.raises(ModelError, match="closed"):
        original.replica()


def test_workers_publish_every_frame_once_in_order_with_real_results(model: Any, replicas: list[Model]) -> None:
    frames = index_frames(60)
    single, multi = MemorySink(), MemorySink()
    Pipeline(ReplaySource(frames), model, [single], device_id="d").run()
    pipeline = Pipeline(ReplaySource(frames), model, [multi], device_id="d", workers=3)
    stats = pipeline.run()
    assert len(replicas) == 2  # the caller's model is the first worker
    assert [e["frame_index"] for e in multi.envelopes] == list(range(60))
    assert [decode_index(f) for f in multi.frames] == list(range(60))
    assert [e["result"] for e in multi.envelopes] == [e["result"] for e in single.envelopes]
    assert stats.frames_inferred == stats.frames_published == 60 and stats.inference_errors == 0
    pipeline.close()
    assert all(r._backend is None for r in replicas)  # the pipeline closed the replicas it opened
    assert model.predict(frames[0]) is not None  # and left the caller's model open


def test_workers_overlap_and_order_survives_out_of_order_completion() -> None:
    infer = uneven({0: 0.03, 1: 0.0, 2: 0.01})
    sink = MemorySink()
    stats = Pipeline(ReplaySource(index_frames(30)), infer, [sink], device_id="d", workers=3).run()
    assert infer.peak[0] >= 2  # frames were in the model at the same time
    assert [e["frame_index"] for e in sink.envelopes] == list(range(30))
    assert [e["result"]["values"][0] for e in sink.envelopes] == list(range(30))
    assert stats.frames_published == 30


def test_a_worker_ahead_goes_on_to_new_frames_up_to_a_bound() -> None:
    """While one worker is stuck on frame 0, the other keeps working (not idle in a queue for
    its turn), up to 2 * workers frames taken and not handed on; order is kept."""
    done_while_stuck: list[int] = []
    lock, enough = threading.Lock(), threading.Event()

    def infer(image: np.ndarray) -> Regression:
        index = decode_index(image)
        if index == 0:
            enough.wait(2.0)  # held until the other worker has done 3 frames (or 2 s)
            with lock:
                done_while_stuck.append(-1)  # marks where frame 0 finished
        else:
            time.sleep(0.005)
            with lock:
                done_while_stuck.append(index)
                if len(done_while_stuck) == 3:
                    enough.set()
        return Regression(values=np.array([index], np.float32), names=("index",))

    sink = MemorySink()
    start = time.monotonic()
    stats = Pipeline(ReplaySource(index_frames(12)), infer, [sink], device_id="d", workers=2).run()
    assert enough.is_set() and time.monotonic() - start < 1.5  # frames 1-3 finished while 0 was held
    assert done_while_stuck[:4] == [1, 2, 3, -1]  # and no 4th: at most 4 frames out of order
    assert [e["frame_index"] for e in sink.envelopes] == list(range(12))
    assert stats.frames_published == 12


def test_one_worker_runs_one_frame_at_a_time() -> None:
    infer = uneven({0: 0.005, 1: 0.0})
    Pipeline(ReplaySource(index_frames(20)), infer, [MemorySink()], device_id="d").run()
    assert infer.peak[0] == 1


def test_errors_in_workers_skip_their_frames_keep_order_and_then_stop() -> None:
    ordered = uneven({0: 0.01, 1: 0.0})

    def flaky(image: np.ndarray) -> Any:
        if decode_index(image) % 4 == 0:
            raise InputError("bad frame")
        return ordered(image)

    sink = MemorySink()
    stats = Pipeline(ReplaySource(index_frames(24)), flaky, [sink], device_id="d", workers=2).run()
    assert [e["frame_index"] for e in sink.envelopes] == [i for i in range(24) if i % 4]
    assert stats.inference_errors == 6

    def broken(image: np.ndarray) -> Any:
        raise InputError("always")

    source = ReplaySource(index_frames(200))
    started = time.monotonic()
    with pytest.raises(InputError, match="always"):
        Pipeline(source, broken, [MemorySink()], device_id="d", workers=2).run()
    assert source.closed and time.monotonic() - started < 5.0  # no worker left waiting for its turn


def test_latest_policy_with_workers_stays_fresh_and_ordered(model: Any) -> None:
    sink = MemorySink()
    source = ReplaySource(index_frames(120), fps=200, realtime=True)
    stats = Pipeline(source, uneven({0: 0.02, 1: 0.01}), [sink], device_id="d", workers=2).run()
    indices = [e["frame_index"] for e in sink.envelopes]
    assert indices == sorted(indices) and len(set(indices)) == len(indices)
    assert stats.frames_dropped > 20


def test_bad_workers_and_replicas_that_cannot_open(model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        Pipeline(ReplaySource(index_frames(2)), model, [], device_id="d", workers=0)
    opened: list[Model] = []
    real = Model.replica

    def second_fails(self: Model, **kwargs: Any) -> Model:
        if opened:
            raise ModelError("no memory for another interpreter")
        opened.append(real(self, **kwargs))
        return opened[-1]

    monkeypatch.setattr(Model, "replica", second_fails)
    with pytest.raises(ModelError, match="another interpreter"):
        Pipeline(ReplaySource(index_frames(2)), model, [], device_id="d", workers=3)
    assert opened and opened[0]._backend is None  # the replica already opened was closed again
