"""Distillation: a small student against its teacher, both int8 TFLite, on the digits task.

Rows:

- int8 TFLite latency, student vs teacher (``Model.run``, interleaved). Goal: <= 0.5x
  (the student at least 2x faster).
- int8 TFLite top-1 accuracy on the digits test split, student vs teacher. Goal: within
  3 points.
- Parameters, student vs teacher (information).

The teacher is a 2.2 M-parameter CNN (about 27 M multiply-adds at 32x32) trained with
labels on scikit-learn's digits; the student (90 k parameters) is trained by
:func:`converters.distill.distill` on the training images alone, without their labels.
Both go through :func:`converters.convert` to int8 TFLite with the same calibration images
and fidelity gates. Models are cached in ``bench/.cache/distill``.
Run: ``python bench/bench_distill.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, interleaved_ms, row

CARD = {
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "preprocess": {"color": "rgb", "resize": "stretch", "mean": [0, 0, 0], "std": [255, 255, 255]},
}


def _nets() -> tuple[Any, Any]:
    import torch

    nn = torch.nn
    torch.manual_seed(0)
    teacher = nn.Sequential(
        nn.Conv2d(3, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(128 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10),
    )
    student = nn.Sequential(
        nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )
    return teacher, student


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    x = np.repeat(np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_LINEAR) for im in images])[:, None],
                  3, axis=1)
    order = np.random.default_rng(0).permutation(len(x))
    split = int(0.75 * len(x))
    y = digits.target.astype(np.int64)
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


def _frames(x: np.ndarray) -> np.ndarray:
    """NCHW RGB floats in [0, 1] -> BGR uint8 frames, as a camera gives them."""
    return np.ascontiguousarray(np.rint(x.transpose(0, 2, 3, 1) * 255).astype(np.uint8)[..., ::-1])


def _train_teacher(net: Any, x: np.ndarray, y: np.ndarray, epochs: int = 8) -> Any:
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[perm[i:i + 64]]), yt[perm[i:i + 64]]).backward()
            opt.step()
    return net.eval()


def build(folder: Path) -> tuple[dict[str, Path], dict[str, Any], np.ndarray, np.ndarray]:
    """Int8 TFLite teacher and student (cached), the distillation summary, and the test frames and labels."""
    x_train, y_train, x_test, y_test = _digits()
    paths = {"teacher": folder / "teacher.int8.tflite", "student": folder / "student.int8.tflite"}
    summary = folder / "distill.json"
    if not all(p.exists() for p in (*paths.values(), summary)):
        import cv2
        import torch

        import converters
        from converters.distill import distill

        torch.set_num_threads(1)
        images = folder / "images"
        images.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(_frames(x_train)):  # unlabeled: the labels stay in memory for the teacher
            cv2.imwrite(str(images / f"{i:04d}.png"), frame)
        teacher, student = _nets()
        _train_teacher(teacher, x_train, y_train)
        report = distill(teacher, student, images=images, epochs=20, lr=3e-3, card=CARD,
                         input_shape=(1, 3, 32, 32), plot=folder / "loss.png")
        for name, net in (("teacher", teacher), ("student", student)):
            converters.convert(net, to="tflite", quantize="int8", calibration=images, calib_size=200, card=CARD,
                               input_shape=(1, 3, 32, 32), out=paths[name], verbose=False)
        summary.write_text(json.dumps(report.to_dict(), indent=2))
    return paths, json.loads(summary.read_text()), _frames(x_test), y_test


def _accuracy(model: Any, frames: np.ndarray, y: np.ndarray) -> float:
    top = [int(model.predict(frame).to_dict()["top"][0]["label"]) for frame in frames]
    return float(100.0 * np.mean(np.asarray(top) == y))


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` times fewer calls."""
    import edgeinfer

    paths, summary, frames, y = build(CACHE / "distill")
    with edgeinfer.load(paths["student"]) as student, edgeinfer.load(paths["teacher"]) as teacher:
        s_acc, t_acc = _accuracy(student, frames, y), _accuracy(teacher, frames, y)
        feed_s = np.zeros(student.inputs[0].shape, student.inputs[0].dtype)
        feed_t = np.zeros(teacher.inputs[0].shape, teacher.inputs[0].dtype)
        timed = interleaved_ms(lambda: student.run(feed_s), lambda: teacher.run(feed_t),
                               rounds=6 if quick else 20, per_round=50 if quick else 200)
    return [
        row("distilled student vs teacher latency, int8 TFLite (digits 32x32)", timed.candidate_ms, "ms",
            timed.baseline_ms, "<= 0.5x", timed.ratio <= 0.5, ratio=timed.ratio),
        row("distilled student vs teacher top-1 accuracy, int8 TFLite (labels unused)", s_acc, "%", t_acc,
            ">= teacher - 3 points", s_acc >= t_acc - 3),
        row("distilled student vs teacher parameters", summary["student_params"], "params",
            summary["teacher_params"], "info", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed calls")
    args = parser.parse_args()
    for r in run(args.quick):
        print(f"{r['name']:<80} {r['value']:>10.4g} {r['unit']:<6} vs {r['baseline']:>10.4g}  ratio {r['ratio']:.3f}")


if __name__ == "__main__":
    main()
