"""The PP-OCR recogniser quantized to int8 by our converters reads as well as the float one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import edgeinfer
from tests.ocr.conftest import CLS, DET, REC, Reference

pytestmark = pytest.mark.slow  # quantizing the 10 MB recogniser takes about half a minute

MAX_CER_POINTS_LOST = 0.02


@pytest.fixture(scope="module")
def rec_int8(tmp_path_factory: pytest.TempPathFactory, ocr_float: Any, references: list[Reference]) -> Path:
    """Static int8 (QDQ) recogniser, calibrated on the text lines of the test images."""
    import cv2

    from converters.onnx_quantize import quantize_onnx
    from devices.cpu import read_cpu_int8
    from edgeinfer.ocr.crops import crop_line
    from edgeinfer.ocr.lines import line_batch

    crops = [crop_line(cv2, ref.image, box) for ref in references for box in ocr_float.detect(ref.image)]
    calibration = [line_batch(cv2, [crop], 48, 320) for crop in crops]
    out = tmp_path_factory.mktemp("ocr") / "rec_int8.onnx"
    quantize_onnx(REC, out, "int8", calibration, cpu_target=read_cpu_int8().target)
    return out


def test_int8_recognizer_stays_within_two_cer_points_of_float(rec_int8: Path, ocr_float: Any,
                                                               references: list[Reference],
                                                               cer_of: Callable[[str, str], float]) -> None:
    import onnx

    assert any(node.op_type == "QuantizeLinear" for node in onnx.load(str(rec_int8)).graph.node)
    with edgeinfer.load_ocr(DET, rec_int8, CLS) as ocr_int8:
        assert ocr_int8.vocabulary.characters == ocr_float.vocabulary.characters  # the metadata survives
        for ref in references:
            cer_float = cer_of(ocr_float.predict(ref.image).text, ref.text)
            cer_int8 = cer_of(ocr_int8.predict(ref.image).text, ref.text)
            assert cer_int8 - cer_float <= MAX_CER_POINTS_LOST, (ref.name, cer_float, cer_int8)
