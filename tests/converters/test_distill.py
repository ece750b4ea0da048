"""Distillation: a small student trained on a digits teacher's soft outputs over unlabeled PNG images.

The teacher is the converter tests' digits CNN, trained with labels; the student never sees a
label. Torch runs on one thread here: on the shared 2-core machine that is several times
faster for these tiny nets than two contending threads.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from edgeinfer.cli import cli
from edgeinfer.errors import ConfigError
from tests.converters.conftest import DIGITS_CARD, _write_images
from tests.converters.nets import accuracy, digits_data, train_digits_cnn

pytestmark = pytest.mark.slow

STUDENT_SOURCE = '''
import torch


def small():
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def wrong_classes():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 5))
'''


@dataclass
class Setup:
    """The trained teacher, its ONNX export (with a sidecar card), the images and the test split."""

    teacher: Any
    teacher_acc: float
    images: Path
    small_images: Path
    onnx: Path
    students: Path
    x_test: np.ndarray
    y_test: np.ndarray


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    import torch
    import yaml

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("distill")
    x_train, y_train, x_test, y_test = digits_data()
    teacher = train_digits_cnn(x_train, y_train)
    with torch.no_grad():
        teacher_acc = accuracy(teacher(torch.from_numpy(x_test)).numpy(), y_test)
    images = _write_images(root / "images", x_train)  # labels are not written anywhere
    small = _write_images(root / "small", x_train[:120])
    onnx_path = root / "teacher.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(teacher, (torch.zeros(1, 3, 32, 32),), str(onnx_path), dynamo=False)
    (root / "teacher.yaml").write_text(yaml.safe_dump(DIGITS_CARD))  # the sidecar card: preprocessing
    students = root / "students.py"
    students.write_text(STUDENT_SOURCE)
    yield Setup(teacher, teacher_acc, images, small, onnx_path, students, x_test, y_test)
    torch.set_num_threads(threads)


def _student(setup: Setup, name: str = "small") -> Any:
    from converters.distill.student import load_module

    return load_module(f"{setup.students}:{name}")


def _params(module: Any) -> int:
    return sum(int(p.numel()) for p in module.parameters())


def test_student_on_unlabeled_images_is_within_3_points_of_the_teacher(setup: Setup, tmp_path: Path) -> None:
    import torch

    from converters.distill import distill

    student = _student(setup)
    assert _params(student) * 4 <= _params(setup.teacher)
    with torch.no_grad():
        before = accuracy(student(torch.from_numpy(setup.x_test)).numpy(), setup.y_test)
    report = distill(setup.teacher, student, images=setup.images, epochs=15, temperature=4.0, lr=3e-3,
                     card=DIGITS_CARD, input_shape=(1, 3, 32, 32), progress=False, plot=tmp_path / "loss.png")
    with torch.no_grad():
        after = accuracy(student(torch.from_numpy(setup.x_test)).numpy(), setup.y_test)
    assert before < 30 and setup.teacher_acc > 95
    assert after >= setup.teacher_acc - 3, (after, setup.teacher_acc)
    assert report.task == "classification" and report.agreement["top1"] >= 95
    assert report.teacher_params == _params(setup.teacher) and report.param_ratio is not None
    assert report.param_ratio <= 0.25
    assert (report.train_images, report.held_out_images) == (1212, 135)  # 1347 training images, 10% held out
    assert len(report.train_loss) == 15 and report.train_loss[-1] < report.train_loss[0] / 3
    assert len(report.held_out_loss) == 15
    assert Path(str(report.plot)).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_onnx_teacher_file_labels_through_its_card_as_on_the_device(setup: Setup) -> None:
    import torch

    from converters.distill import distill
    from converters.distill.data import image_items, label_images, open_teacher

    wrapped = open_teacher(setup.onnx, None)
    assert wrapped.chw == (3, 32, 32) and wrapped.params == _params(setup.teacher)
    x, from_file = label_images(image_items(setup.small_images), wrapped, (3, 32, 32), lambda items, _: items)
    with torch.no_grad():
        from_torch = setup.teacher(torch.from_numpy(x)).numpy()
    assert x.max() <= 1.0 and x.max() > 0.9  # std 255 from the sidecar card, not raw pixels
    np.testing.assert_allclose(from_file, from_torch, atol=1e-3)
    report = distill(setup.onnx, _student(setup), images=setup.small_images, epochs=3, lr=3e-3, progress=False)
    assert report.input_shape == (1, 3, 32, 32) and report.card.labels == tuple(DIGITS_CARD["labels"])
    assert report.held_out_images == 12 and set(report.agreement) == {"top1"}


def test_cli_distills_an_onnx_teacher_into_torchscript_and_checked_int8_tflite(setup: Setup, tmp_path: Path) -> None:
    import torch

    import edgeinfer

    out = tmp_path / "student.pt"
    result = CliRunner().invoke(cli, [
        "distill", str(setup.onnx), "--student", f"{setup.students}:small", "--images", str(setup.small_images),
        "--epochs", "2", "--out", str(out), "--to", "tflite", "--quantize", "int8",
    ])
    assert result.exit_code == 0, result.output
    assert "agreement on 12 held-out images" in result.output and "fidelity passed" in result.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(str(out))
    assert tuple(loaded(torch.zeros(1, 3, 32, 32)).shape) == (1, 10)
    assert (tmp_path / "student.pt.loss.png").is_file() and (tmp_path / "student.pt.distill.json").is_file()
    with edgeinfer.load(tmp_path / "student.tflite") as model:  # the teacher's card, calibrated on --images
        assert model.card.labels == tuple(DIGITS_CARD["labels"]) and model.card.preprocess.std == (255.0,) * 3
        assert model.card.conversion is not None and model.card.conversion.quantization["mode"] == "int8"
        assert model.predict(str(next(setup.small_images.iterdir()))).to_dict()["task"] == "classification"
        assert model.inputs[0].shape == (1, 32, 32, 3)
    from converters.distill import distill

    # The int8 TFLite (NHWC) works as a teacher in turn: its input gives the student's NCHW shape.
    report = distill(tmp_path / "student.tflite", _student(setup), images=setup.small_images, epochs=1,
                     progress=False)
    assert report.input_shape == (1, 3, 32, 32) and report.teacher_params is None
    assert report.card.preprocess.layout is None and report.card.conversion is None


def _yolo_head(width: int) -> Any:
    """A YOLO-layout detector for 32x32 input: ``[N, 4 + 3, 64]``, boxes in pixels, sigmoid scores."""
    import torch

    torch.manual_seed(width)
    nn = torch.nn

    class Head(nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, width, 3, 2, 1),
                                      nn.ReLU())
            self.box = nn.Conv2d(width, 4, 1)
            self.cls = nn.Conv2d(width, 3, 1)

        def forward(self, x: Any) -> Any:
            f = self.body(x)
            return torch.cat([(self.box(f).sigmoid() * 32).flatten(2), (self.cls(f) * 4).sigmoid().flatten(2)], 1)

    return Head().eval()


def test_detection_student_copies_a_yolo_head(setup: Setup) -> None:
    import torch

    from converters.distill import distill
    from converters.distill.losses import agreement

    teacher, student = _yolo_head(32), _yolo_head(6)
    x = torch.from_numpy(setup.x_test[:64])
    with torch.no_grad():
        before = agreement("detection", student(x).numpy(), teacher(x).numpy())
    report = distill(teacher, student, images=setup.small_images, epochs=12, lr=1e-2, batch_size=32,
                     card={"preprocess": DIGITS_CARD["preprocess"]}, input_shape=(1, 3, 32, 32), progress=False)
    assert report.task == "detection" and set(report.agreement) == {"score_corr", "box_iou", "class_agreement"}
    with torch.no_grad():
        after = agreement("detection", student(x).numpy(), teacher(x).numpy())
    assert after["score_corr"] > max(before["score_corr"], 0.0) + 0.2, (before, after)
    assert after["box_iou"] > before["box_iou"]
    assert report.train_loss[-1] < report.train_loss[0]


def test_bad_inputs_are_clear_errors(setup: Setup, tmp_path: Path) -> None:
    from converters.distill import distill

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images found"):
        distill(setup.onnx, _student(setup), images=tmp_path / "empty", progress=False)
    with pytest.raises(ConfigError, match=r"student outputs \[1, 5\], the teacher \[1, 10\]"):
        distill(setup.onnx, _student(setup, "wrong_classes"), images=setup.small_images, progress=False)
    with pytest.raises(ConfigError, match="input_shape"):
        distill(setup.teacher, _student(setup), images=setup.small_images, progress=False)
    result = CliRunner().invoke(cli, [
        "distill", str(setup.onnx), "--student", f"{setup.students}:small", "--images", str(setup.small_images),
        "--out", str(tmp_path / "s.pt"), "--quantize", "int8",
    ])
    assert result.exit_code == 78 and "--to tflite" in result.output
