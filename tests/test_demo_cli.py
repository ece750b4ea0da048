"""``edgeinfer demo`` output: the steps and the summary, no third-party noise, ``--quiet``.

Training and conversion are covered by the slow quick-start test; here the demo reuses
artifacts left in its folder (small models from :mod:`tests.model_factory` with digit
labels), so only the runtime half runs: render, stream, summarise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.model_factory import onnx_cnn_bytes, tflite_bytes

pytest.importorskip("sklearn")
pytest.importorskip("cv2")

ROOT = Path(__file__).resolve().parent.parent
FRAMES = 24


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo folder holding what build_models reuses: two artifacts, their reports, training.json."""
    from edgeinfer.card import write

    out = tmp_path_factory.mktemp("demo")
    for name, data, classes in (("digits_int8.tflite", tflite_bytes("int8", "uint8"), 4),
                                ("digits_int8.onnx", onnx_cnn_bytes(), 5)):
        (out / name).write_bytes(data)
        write(out / name, {"task": "classification", "labels": [str(i) for i in range(classes)],
                           "preprocess": {"std": 255}})
        Path(str(out / name) + ".report.json").write_text(json.dumps({"passed": True, "sizes_bytes": {}}))
    (out / "training.json").write_text(json.dumps({"float_accuracy": 0.97, "seconds": 1.0}))
    return out


def demo(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TQDM_DISABLE")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "edgeinfer", "demo", "--out", str(out), "--frames", str(FRAMES),
                           "--broker", "127.0.0.1:1", *args], capture_output=True, text=True, timeout=300,
                          env=env, check=False, cwd=out)


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "every-result"])
def test_the_demo_prints_its_steps_and_summary_and_nothing_from_third_parties(built: Path, quiet: bool) -> None:
    run = demo(built, *(["--quiet"] if quiet else []))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stderr == ""  # TensorFlow's, LiteRT's and tqdm's lines went to demo.log
    assert "XNNPACK" in (built / "demo.log").read_text()
    lines = run.stdout.splitlines()
    frame_lines = [line for line in lines if line.startswith("frame ")]
    assert len(frame_lines) == (0 if quiet else FRAMES)
    assert len(lines) - len(frame_lines) < 40
    assert "reusing the models" in run.stdout and "5/5 edgeinfer demo summary" in run.stdout
    assert "model (preprocess + infer + decode)" in run.stdout
    assert "includes the wait in the pipeline's queues" in " ".join(run.stdout.split())
    summary = json.loads((built / "summary.json").read_text())
    assert summary["frames"] == FRAMES and summary["model_ms"]["p50"] > 0
