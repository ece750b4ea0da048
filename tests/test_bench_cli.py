"""``edgeinfer bench``: timings per accelerator (``--compare`` is tested with real artifacts in
tests/converters/test_int8_cpu_targets.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeinfer.cli import cli
from tests.model_factory import onnx_cnn_bytes

pytest.importorskip("onnxruntime")


def test_bench_json_has_percentiles(tmp_path: Path) -> None:
    path = tmp_path / "cnn.onnx"
    path.write_bytes(onnx_cnn_bytes())
    done = CliRunner().invoke(cli, ["bench", str(path), "--runs", "20", "--json"])
    assert done.exit_code == 0, done.output
    (summary,) = json.loads(done.stdout)["results"]
    assert summary["runs"] == 20 and summary["accelerator"] == "cpu"
    assert 0 < summary["min_ms"] <= summary["p50_ms"] <= summary["p99_ms"]
