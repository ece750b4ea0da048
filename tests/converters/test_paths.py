"""The conversion-path registry and the light-import rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import converters
from converters.paths import ConversionPath, available_paths, get_path, register_path
from edgeinfer.errors import ConfigError, ConversionError, MissingDependencyError


def test_every_path_of_the_issue_is_registered() -> None:
    names = {p.name for p in available_paths()}
    assert {"torch->onnx", "torch->tflite", "onnx->onnx", "onnx->tflite", "keras->tflite", "keras->onnx",
            "saved_model->tflite", "saved_model->onnx"} <= names
    assert get_path("keras", "tflite").handles_quantization
    assert not get_path("torch", "tflite").handles_quantization


def test_a_missing_path_lists_the_available_ones() -> None:
    with pytest.raises(ConversionError) as info:
        get_path("tflite", "onnx")
    assert "No conversion path from 'tflite' to 'onnx'" in str(info.value)
    assert "torch->tflite" in str(info.value) and "onnx->onnx" in str(info.value)


def test_duplicate_registration_is_refused() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_path(ConversionPath("torch", "onnx", "x:y", "dup"))


def test_per_path_functions_exist_and_are_documented() -> None:
    for name in ("convert_torch_to_onnx", "convert_torch_to_tflite", "convert_onnx_to_onnx",
                 "convert_onnx_to_tflite", "convert_keras_to_tflite", "convert_keras_to_onnx"):
        fn = getattr(converters, name)
        assert fn.__name__ == name and "path only" in (fn.__doc__ or "")


def test_a_missing_framework_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from converters import paths

    (tmp_path / "fake_export_mod.py").write_text("import edgeinfer_absent_framework_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = ConversionPath("fakekind", "onnx", "fake_export_mod:export", "fake", extra="convert-fake")
    register_path(path)
    try:
        with pytest.raises(MissingDependencyError) as info:
            get_path("fakekind", "onnx").load()
    finally:
        paths._PATHS.pop(("fakekind", "onnx"))
    assert "edgeinfer_absent_framework_xyz" in str(info.value)
    assert "pip install 'edgeinfer[convert-fake]'" in str(info.value)


def test_imports_stay_light() -> None:
    code = (
        "import sys, edgeinfer; assert 'converters' not in sys.modules, 'edgeinfer imported converters'\n"
        "import converters\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'onnx', 'onnxruntime', 'ai_edge_quantizer', 'litert_torch')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
