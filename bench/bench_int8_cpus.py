"""int8 ONNX against float on both kinds of x86 CPU: accuracy on the digits task, and speed here.

Rows:

- int8 ONNX accuracy on the digits test split against the float artifact's, for the
  ``--target`` each CPU needs, run on this CPU and on an emulated AVX2-only CPU
  (``qemu-x86_64 -cpu Haswell``: ONNX Runtime then picks that CPU's kernels). Goal:
  within 1.5 points of float.
- The same artifact quantized for VNNI CPUs (8-bit weights) on the emulated AVX2-only CPU,
  as information: the saturation that ``--target x86-avx2`` avoids.
- int8 against float latency on this CPU (its kernel family in the name), as information;
  emulated timings mean nothing, so only this CPU is timed.

The digits CNN is the demo's (``converters.demo``), trained here for 12 epochs and cached
in ``bench/.cache``. Run: ``python bench/bench_int8_cpus.py [--quick]``.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, interleaved_ms, row

RUN = """
import sys, numpy as np, edgeinfer
x = np.load(sys.argv[2])
with edgeinfer.load(sys.argv[1]) as model:
    print(float((np.concatenate([next(iter(model.run(item[None]).values())) for item in x]).argmax(1)
                 == np.load(sys.argv[3])).mean() * 100))
"""


def build(folder: Path) -> tuple[dict[str, Path], np.ndarray, np.ndarray]:
    """Float, int8-for-AVX2 and int8-for-VNNI ONNX artifacts of the demo's digits CNN, and the test split."""
    from edgeinfer.demo.digits import load_digits_data

    data = load_digits_data()
    x = (data.test_images[:, None].astype(np.float32) / 255.0).astype(np.float32)
    paths = {name: folder / f"digits_{name}.onnx" for name in ("float", "x86-avx2", "x86-vnni")}
    if not all(p.exists() for p in paths.values()):
        import converters
        from converters.demo import CARD, train_classifier

        folder.mkdir(parents=True, exist_ok=True)
        net, _ = train_classifier(data)
        calib = [img[None, None].astype(np.float32) / 255.0 for img in data.train_images[:200]]
        for name, path in paths.items():
            converters.convert(net, to="onnx", quantize="none" if name == "float" else "int8", calibration=calib,
                               card=CARD, input_shape=(1, 1, 32, 32), out=path, check=False, verbose=False,
                               target="auto" if name == "float" else name)
    return paths, x, data.test_labels


def accuracy(path: Path, x: np.ndarray, y: np.ndarray, tmp: Path, *, emulate: bool) -> float:
    np.save(tmp / "x.npy", x)
    np.save(tmp / "y.npy", y)
    command = [sys.executable, "-c", RUN, str(path), str(tmp / "x.npy"), str(tmp / "y.npy")]
    if emulate:
        command = [shutil.which("qemu-x86_64") or "qemu-x86_64", "-cpu", "Haswell", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` times fewer calls."""
    import edgeinfer
    from devices.cpu import read_cpu_int8

    paths, x, y = build(CACHE / "int8_cpus")
    here = read_cpu_int8().target
    can_emulate = platform.machine() == "x86_64" and shutil.which("qemu-x86_64") is not None
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        float_acc = accuracy(paths["float"], x, y, tmp, emulate=False)
        cases = [(here if here != "arm64" else "arm64", "auto", False)]
        if can_emulate:
            cases += [("x86-avx2", "x86-avx2", True), ("x86-avx2", "x86-vnni", True)]
        for cpu, target, emulate in cases:
            artifact = paths[target if target != "auto" else ("x86-avx2" if here == "x86-avx2" else "x86-vnni")]
            acc = accuracy(artifact, x, y, tmp, emulate=emulate)
            where = f"emulated {cpu} CPU (qemu Haswell)" if emulate else f"this CPU ({cpu})"
            info = target == "x86-vnni" and cpu == "x86-avx2"
            rows.append(row(f"int8 ONNX digits accuracy, --target {target}, on {where}", acc, "%", float_acc,
                            "info: what x86-avx2 avoids" if info else ">= float - 1.5 points",
                            None if info else acc >= float_acc - 1.5))
    with edgeinfer.load(paths["float"]) as f32, edgeinfer.load(paths["x86-avx2"]) as q8:
        feed = x[:1].copy()
        timed = interleaved_ms(lambda: q8.run(feed), lambda: f32.run(feed), rounds=6 if quick else 20,
                               per_round=50 if quick else 200)
    rows.append(row(f"int8 (x86-avx2 artifact) vs float ONNX latency on this CPU ({here})", timed.candidate_ms, "ms",
                    timed.baseline_ms, "info", None, ratio=timed.ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed calls")
    args = parser.parse_args()
    for r in run(args.quick):
        print(f"{r['name']:<90} {r['value']:>8.3f} {r['unit']:<3} vs {r['baseline']:>8.3f}  ratio {r['ratio']:.3f}")


if __name__ == "__main__":
    main()
