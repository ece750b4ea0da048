"""Bad model files raise ModelError/AcceleratorError with the path and a fix, never crash.

Each case runs ``edgeinfer.load`` in a subprocess, so a segfault in a native interpreter
would show as a negative return code and fail the test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model_factory import onnx_cnn_bytes, tflite_bytes
from tests.model_factory import tflite_with_custom_op as with_custom_op

CHILD = """
import json, sys
import edgeinfer
try:
    edgeinfer.load(sys.argv[1])
except edgeinfer.EdgeInferError as exc:
    print(json.dumps({"type": type(exc).__name__, "message": str(exc)}))
    sys.exit(3)
print(json.dumps({"type": None, "message": "loaded"}))
"""


def load_in_subprocess(path: Path) -> dict[str, str]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], check=False, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode in (0, 3), f"child crashed with {proc.returncode}: {proc.stderr[-2000:]}"
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def good_tflite() -> bytes:
    return tflite_bytes("none")


CASES = {
    "empty.tflite": (lambda t: b"", "ModelError", "empty"),
    "truncated.tflite": (lambda t: t[: len(t) // 3], "ModelError", "truncated"),
    "truncated.onnx": (lambda t: onnx_cnn_bytes()[:200], "ModelError", "truncated or corrupt"),
    "random.tflite": (lambda t: np.random.default_rng(0).bytes(5000), "ModelError", "not a TFLite model"),
    "random.onnx": (lambda t: np.random.default_rng(1).bytes(5000), "ModelError", "not a valid ONNX model"),
    "random.bin": (lambda t: np.random.default_rng(2).bytes(5000), "ModelError", "not a TFLite or ONNX model"),
    "onnx_named.tflite": (lambda t: onnx_cnn_bytes(), "ModelError", "holds an ONNX model"),
    "tflite_named.onnx": (lambda t: t, "ModelError", "holds a TFLite model"),
    "custom_op.tflite": (lambda t: with_custom_op(t, "MyCustomOp"), "ModelError", "custom ops .*MyCustomOp"),
    "edgetpu.tflite": (lambda t: with_custom_op(t, "edgetpu-custom-op"), "AcceleratorError", "Edge TPU"),
    "flipped.tflite": (lambda t: t[:8] + bytes(b ^ 0x5A for b in t[8:400]) + t[400:], "ModelError", ""),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_file_raises_clear_error(tmp_path: Path, good_tflite: bytes, name: str) -> None:
    make, error_type, pattern = CASES[name]
    path = tmp_path / name
    path.write_bytes(make(good_tflite))
    result = load_in_subprocess(path)
    assert result["type"] == error_type, result
    assert str(path) in result["message"]
    assert re.search(pattern, result["message"]), result["message"]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    missing = load_in_subprocess(tmp_path / "nope.tflite")
    assert missing["type"] == "ModelError" and "no such model file" in missing["message"]
    folder = load_in_subprocess(tmp_path)
    assert folder["type"] == "ModelError" and "is a folder" in folder["message"]


def test_good_file_loads(tmp_path: Path, good_tflite: bytes) -> None:
    path = tmp_path / "good.tflite"
    path.write_bytes(good_tflite)
    assert load_in_subprocess(path)["type"] is None
