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
from pathlib import Path
from typing import Any

import numpy as np
from common import CACHE, interleaved_ms, row


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


def accuracy(path: Path, x: np.ndarray, y: np.ndarray, *, emulate: bool) -> float:
    """Top-1 accuracy (%) of an artifact run in a child process, on this CPU or an emulated AVX2-only one."""
    from converters.target_kernels import emulator_command, run_artifact

    prefix = (emulator_command("x86-avx2") or []) if emulate else []
    outputs = run_artifact(path, [item[None] for item in x], prefix)
    return float((np.concatenate([outs[0] for outs in outputs]).argmax(1) == y).mean() * 100)


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` times fewer calls."""
    import edgeinfer
    from converters.target_kernels import emulator_command
    from devices.cpu import read_cpu_int8

    paths, x, y = build(CACHE / "int8_cpus")
    here = read_cpu_int8().target
    can_emulate = emulator_command("x86-avx2") is not None
    rows = []
    float_acc = accuracy(paths["float"], x, y, emulate=False)
    cases = [(here, "auto", False)]
    if can_emulate:
        cases += [("x86-avx2", "x86-avx2", True), ("x86-avx2", "x86-vnni", True)]
    for cpu, target, emulate in cases:
        artifact = paths[target if target != "auto" else ("x86-avx2" if here == "x86-avx2" else "x86-vnni")]
        acc = accuracy(artifact, x, y, emulate=emulate)
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
