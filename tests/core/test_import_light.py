"""``import edgeinfer`` and ``import devices`` stay light (stdlib and numpy only)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ["tensorflow", "torch", "tflite_runtime", "ai_edge_litert", "onnxruntime", "cv2", "paho", "pydantic",
         "converters", "yaml"]


@pytest.mark.parametrize("module", ["edgeinfer", "devices"])
def test_import_pulls_in_nothing_heavy(module: str) -> None:
    code = f"import sys, json; import {module}; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_loading_a_tflite_model_does_not_import_onnxruntime(tmp_path: Path) -> None:
    from tests.model_factory import tflite_bytes

    path = tmp_path / "m.tflite"
    path.write_bytes(tflite_bytes("none"))
    code = (f"import sys, edgeinfer; m = edgeinfer.load({str(path)!r}); "
            "print('onnxruntime' in sys.modules, 'torch' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False", "False"]
