"""``import edgeinfer`` and ``import devices`` stay light (stdlib and numpy only)."""

from __future__ import annotations

import json
import subprocess
import sys

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
