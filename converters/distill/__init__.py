"""converters.distill: train a small PyTorch student on a teacher's soft outputs over unlabeled images.

Where it sits: on the developer's machine, before :func:`converters.convert`. The images go
through :mod:`edgeinfer.preprocess` with the teacher's model card, exactly as on the
device (as calibration does), the teacher labels them once, and the student learns to copy
those outputs. The student then converts like any PyTorch model::

    from converters.distill import distill
    report = distill("teacher.onnx", student, images="frames/", epochs=20, temperature=4.0)
    converters.convert(student, to="tflite", quantize="int8", calibration="frames/",
                       card=report.card, input_shape=report.input_shape, out="student.tflite")
"""

from __future__ import annotations

from converters.distill.report import DistillReport
from converters.distill.train import distill

__all__ = ["DistillReport", "distill"]
