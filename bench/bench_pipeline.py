"""Pipeline benchmarks: overlap gain, frame freshness with ``latest``, flat memory.

Rows (each a dict with name, value, unit, baseline, ratio, goal, passed):

1. Frames per second of :class:`edgeinfer.pipeline.Pipeline` (policy ``every``) on a
   1280x720 video file with a MobileNetV2-size ONNX classifier, publishing JSON lines to a
   file, against the sequential loop ``read -> predict -> publish`` on the same model and
   file. The baseline uses the faster of its two thread settings (1 or all cores for ONNX
   Runtime). The pipeline runs one worker per core (``workers=cores``), each a one-thread
   interpreter doing preprocess, inference and decoding for its own frames, while the
   capture and publish threads overlap them. The ratio is the median over alternating
   rounds of each round's pipeline / faster sequential loop. Goal: ratio >= 1.5.
2. Frame age at publish (capture to publish), p50, with policy ``latest`` on a 30 fps
   camera replay (:class:`ReplaySource` paced in real time), against the model's own
   ``predict`` latency measured in the same run. Goal: ratio <= 2.
3. Resident memory after 10,000 frames against after 1,000 (quick: 3,000 vs 300) on a
   640x480 looping replay with a small ONNX model. Goal: growth <= 5 MB.

The model is a MobileNetV2 (width 1.0, random weights; no download) exported with
``torch.onnx.export(dynamo=True, external_data=False)`` and cached in bench/.cache.

Run: ``python bench/bench_pipeline.py [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import CACHE, row

import edgeinfer
from edgeinfer.pipeline import Pipeline
from edgeinfer.sinks.base import make_envelope
from edgeinfer.sinks.jsonl import JsonlSink
from edgeinfer.sources import ReplaySource, open_source

CORES = os.cpu_count() or 1
CARD = {"task": "classification", "preprocess": {"color": "rgb", "mean": [123.675, 116.28, 103.53],
                                                 "std": [58.395, 57.12, 57.375]}, "postprocess": {"top_k": 5}}


def mobilenet_v2() -> Any:
    """MobileNetV2 (Sandler et al. 2018, width 1.0): 3.5 M parameters, about 300 MFLOPs at 224."""
    from torch import nn

    def conv_bn(cin: int, cout: int, k: int, stride: int, groups: int = 1, act: bool = True) -> list[Any]:
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return [*layers, nn.ReLU6()] if act else layers

    class Inverted(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            layers = conv_bn(cin, hidden, 1, 1) if expand != 1 else []
            layers += conv_bn(hidden, hidden, 3, stride, groups=hidden) + conv_bn(hidden, cout, 1, 1, act=False)
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x: Any) -> Any:
            return x + self.block(x) if self.residual else self.block(x)

    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    layers: list[Any] = conv_bn(3, 32, 3, 2)
    cin = 32
    for expand, cout, repeats, stride in settings:
        for i in range(repeats):
            layers.append(Inverted(cin, cout, stride if i == 0 else 1, expand))
            cin = cout
    layers += [*conv_bn(cin, 1280, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000)]
    return nn.Sequential(*layers).eval()


def mobilenet_onnx() -> Path:
    """Export (once) the MobileNetV2 to ONNX with the dynamo exporter, weights embedded."""
    path = CACHE / "pipeline" / "mobilenetv2_224_torch.onnx"
    if path.exists():
        return path
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = mobilenet_v2()
    torch.onnx.export(net, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=True, external_data=False,
                      input_names=["input"], output_names=["logits"])
    return path


def small_onnx() -> bytes:
    """A small float CNN (onnx.helper), for the long memory run."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w")
    fc = numpy_helper.from_array(rng.normal(0, 0.3, (8, 10)).astype(np.float32), "fc")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("MatMul", ["f", "fc"], ["y"])]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], initializer=[w, fc])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return model.SerializeToString()


def camera_video(folder: Path, frames: int, size_wh: tuple[int, int] = (1280, 720)) -> Path:
    """A camera-like mp4v video: a real photo panning slowly, ``frames`` long."""
    from skimage.data import coffee

    base = cv2.resize(np.ascontiguousarray(coffee()[:, :, ::-1]), (size_wh[0] + frames, size_wh[1]))
    path = folder / f"camera_{size_wh[0]}x{size_wh[1]}_{frames}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size_wh)
    try:
        for i in range(frames):
            writer.write(np.ascontiguousarray(base[:, i:i + size_wh[0]]))
    finally:
        writer.release()
    return path


def sequential_fps(model: Any, video: Path, out: Path) -> float:
    """The loop users write first: read, predict, publish, one frame at a time."""
    sink = JsonlSink(out)
    source = open_source(video, policy="every")
    count, start = 0, time.perf_counter()
    try:
        while (frame := source.read()) is not None:
            result = model.predict(frame.image)
            sink.send(make_envelope(device_id="bench", stream="default", frame_index=frame.index, result=result,
                                    model=model.name, timestamp=frame.timestamp), frame=frame.image, result=result)
            count += 1
    finally:
        source.close()
        sink.close()
    return count / (time.perf_counter() - start)


def pipeline_fps(model: Any, video: Path, out: Path, workers: int = 1) -> float:
    sink = JsonlSink(out)
    # Opened before the clock starts, as in sequential_fps: the source, and the replicas.
    pipeline = Pipeline(open_source(video, policy="every"), model, [sink], device_id="bench", workers=workers)
    start = time.perf_counter()
    try:
        stats = pipeline.run()
    finally:
        sink.close()
    return stats.frames_published / (time.perf_counter() - start)


def with_cpu(call: Any) -> tuple[float, float]:
    """``call()``'s frames per second, and the cores this process kept busy meanwhile (CPU time / wall time)."""
    times, start = os.times(), time.perf_counter()
    fps = call()
    after, wall = os.times(), time.perf_counter() - start
    return fps, (after.user + after.system - times.user - times.system) / wall


def throughput_row(model_path: Path, video: Path, tmp: Path, rounds: int) -> dict[str, Any]:
    """Row 1, measured in alternating rounds so both sides see the same machine load.

    Also recorded: the cores each side kept busy, its CPU per frame, and the ceiling, what
    a pipeline with no overhead could reach on these cores: ``cores / CPU per frame of the
    one-thread loop`` over the faster sequential loop, per round.
    """
    runs: dict[str, list[float]] = {}
    busy: dict[str, list[float]] = {}
    models = {threads: edgeinfer.load(model_path, threads=threads, card=CARD) for threads in {1, CORES}}
    try:
        for model in models.values():
            model.predict(np.zeros((720, 1280, 3), np.uint8))
        for r in range(rounds):
            calls = {f"sequential_{t}": functools.partial(sequential_fps, m, video, tmp / f"seq{t}_{r}.jsonl")
                     for t, m in models.items()}
            calls["pipeline"] = functools.partial(pipeline_fps, models[1], video, tmp / f"p{r}.jsonl", CORES)
            for name, call in calls.items():
                fps, cores = with_cpu(call)
                runs.setdefault(name, []).append(fps)
                busy.setdefault(name, []).append(cores)
    finally:
        for model in models.values():
            model.close()
    # The ratio is the median of each round's ratio (pipeline / faster sequential loop of the
    # same round): the machine's speed drifts between rounds, both sides of a round see the same.
    best = [max(runs[f"sequential_{t}"][r] for t in models) for r in range(rounds)]
    paired = [p / b for p, b in zip(runs["pipeline"], best, strict=True)]
    ratio = float(np.median(paired))
    ceiling = [CORES * fps / cores / b for fps, cores, b in zip(runs["sequential_1"], busy["sequential_1"], best,
                                                                strict=True)]
    cpu_ms = {name: float(np.median([1000 * b / f for b, f in zip(busy[name], runs[name], strict=True)]))
              for name in runs}
    median = {name: float(np.median(values)) for name, values in runs.items()}
    fps = median.pop("pipeline")
    base = max(median.values())
    return row("pipeline fps vs sequential loop (720p mp4v, MobileNetV2 224 ONNX, jsonl)", round(fps, 2),
               "frames/s", round(base, 2), ">= 1.5x", ratio >= 1.5, ratio=round(ratio, 3),
               round_ratios=[round(x, 3) for x in paired],
               sequential_fps_by_threads={k: round(v, 2) for k, v in median.items()},
               pipeline_workers=CORES, pipeline_threads_per_worker=1, rounds=rounds,
               busy_cores={k: round(float(np.median(v)), 3) for k, v in busy.items()},
               cpu_ms_per_frame={k: round(v, 2) for k, v in cpu_ms.items()},
               ceiling_ratio=round(float(np.median(ceiling)), 3))


def freshness_row(model_path: Path, video: Path, tmp: Path, seconds: float) -> dict[str, Any]:
    with edgeinfer.load(model_path, threads=max(1, CORES - 1), card=CARD) as model:
        cap = cv2.VideoCapture(str(video))
        ok, frame = cap.read()
        cap.release()
        if not ok:
            raise RuntimeError(f"cannot read {video}")
        for _ in range(5):
            model.predict(frame)
        times = []
        for _ in range(30):
            t0 = time.perf_counter()
            model.predict(frame)
            times.append((time.perf_counter() - t0) * 1000)
        predict_ms = float(np.median(times))
        source = ReplaySource(video, fps=30.0, realtime=True, loop=True, name="camera")
        sink = JsonlSink(tmp / "fresh.jsonl")
        pipeline = Pipeline(source, model, [sink], device_id="bench").start()
        time.sleep(seconds)
        pipeline.stop()
        sink.close()
        stats = pipeline.stats()
    age = stats.latency_ms.get("p50", float("nan"))
    return row("frame age at publish p50, latest policy, 30 fps camera replay", round(age, 2), "ms",
               round(predict_ms, 2), "<= 2x model latency", age <= 2 * predict_ms, ratio=round(age / predict_ms, 3),
               frames_published=stats.frames_published, frames_dropped=stats.frames_dropped,
               age_p90_ms=stats.latency_ms.get("p90"))


class _RssProbe:
    """A sink that drops envelopes and samples RSS every ``every`` frames from ``first`` on."""

    def __init__(self, first: int, every: int = 100) -> None:
        import psutil

        self._process = psutil.Process()
        self.first = first
        self.every = every
        self.rss: dict[int, int] = {}
        self.count = 0

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        json.dumps(envelope)
        self.count += 1
        if self.count >= self.first and (self.count - self.first) % self.every == 0:
            self.rss[self.count] = self._process.memory_info().rss

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        pass


def memory_row(quick: bool) -> dict[str, Any]:
    """Row 3: the highest RSS seen after ``first`` frames, minus the RSS at ``first`` (conservative)."""
    first, last = (300, 3000) if quick else (1000, 10_000)
    card = {"task": "classification", "preprocess": {"std": 255}}
    frames = [np.ascontiguousarray(np.roll(np.full((480, 640, 3), i * 7 % 256, np.uint8), i, axis=1))
              for i in range(50)]
    probe = _RssProbe(first)
    with edgeinfer.load(small_onnx(), card=card) as model:
        source = ReplaySource(frames, loop=True)
        pipeline = Pipeline(source, model, [probe], device_id="bench").start()
        while probe.count < last and not pipeline.finished:
            time.sleep(0.05)
        pipeline.stop()
    at_first = probe.rss[first]
    growth_mb = (max(probe.rss.values()) - at_first) / 2**20
    end_mb = (probe.rss[max(k for k in probe.rss if k <= last)] - at_first) / 2**20
    return row(f"RSS growth from frame {first:,} to {last:,} (peak; 640x480 replay, every policy)",
               round(growth_mb, 3), "MB", 0.0, "<= 5 MB", growth_mb <= 5.0, ratio=None,
               rss_at_first_mb=round(at_first / 2**20, 1), growth_at_end_mb=round(end_mb, 3))


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run the pipeline benchmarks; ``quick`` uses a shorter video and run."""
    model_path = mobilenet_onnx()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        video = camera_video(tmp, 60 if quick else 300)
        return [
            throughput_row(model_path, video, tmp, 3 if quick else 5),
            freshness_row(model_path, video, tmp, 3.0 if quick else 10.0),
            memory_row(quick),
        ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    for r in run(quick=parser.parse_args().quick):
        print(json.dumps(r))
