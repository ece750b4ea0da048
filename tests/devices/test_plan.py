"""devices.plan(): ordering, Edge TPU models, explicit requests and their errors.

Inventories come from probing a fake machine tree (and a fake ONNX Runtime provider
list); the planning logic itself runs unmodified.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from edgeinfer.backends import accelerators, plan, probe
from edgeinfer.backends.onnx import probe_onnx
from edgeinfer.errors import AcceleratorError

ALL_ORT = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "OpenVINOExecutionProvider",
           "CoreMLExecutionProvider", "NnapiExecutionProvider", "CPUExecutionProvider"]


def _inventory(machine, *, edgetpu=False, gpu=False, nnapi=False, providers=("CPUExecutionProvider",),
               board=None):
    if board:
        machine.device_tree(board)
    if edgetpu:
        machine.usb_device("2-1", "18d1", "9302")
        machine.library("libedgetpu.so.1")
    if gpu:
        machine.library("libtensorflowlite_gpu_delegate.so")
    if nnapi:
        machine.write("/system/lib64/libneuralnetworks.so")
    machine.root.mkdir(parents=True, exist_ok=True)
    inventory = probe(machine.root, machine="x86_64")
    tflite = tuple(a for a in inventory.accelerators if a.backend == "tflite")
    return replace(inventory, accelerators=tflite + tuple(probe_onnx(list(providers))))


def _tried(steps):
    return [s.accelerator for s in steps if s.status == "try"]


def test_auto_tries_every_present_tflite_accelerator_fastest_first(machine):
    inventory = _inventory(machine, gpu=True, nnapi=True)

    steps = plan(inventory, "tflite")

    assert [s.accelerator for s in steps] == list(accelerators()["tflite"])
    assert _tried(steps) == ["gpu", "nnapi", "xnnpack", "cpu"]
    edgetpu = steps[0]
    assert edgetpu.status == "skip" and "not present" in edgetpu.reason
    gpu = steps[1]
    assert gpu.library and gpu.library.endswith("libtensorflowlite_gpu_delegate.so")


def test_present_edgetpu_is_skipped_for_a_model_not_compiled_for_it(machine):
    inventory = _inventory(machine, edgetpu=True)

    steps = plan(inventory, "tflite")

    edgetpu = next(s for s in steps if s.accelerator == "edgetpu")
    assert edgetpu.status == "skip"
    assert "not compiled for the Edge TPU" in edgetpu.reason
    assert _tried(steps) == ["xnnpack", "cpu"]


def test_edgetpu_model_runs_only_on_the_edgetpu(machine):
    inventory = _inventory(machine, edgetpu=True, gpu=True)

    steps = plan(inventory, "tflite", edgetpu_model=True)

    assert _tried(steps) == ["edgetpu"]
    assert steps[0].library and steps[0].library.endswith("libedgetpu.so.1")
    present_others = [s for s in steps if s.accelerator in ("gpu", "xnnpack", "cpu")]
    assert all("compiled for the Edge TPU" in s.reason for s in present_others)


def test_edgetpu_model_without_edgetpu_has_nothing_to_try(machine):
    steps = plan(_inventory(machine), "tflite", edgetpu_model=True)

    assert _tried(steps) == []


def test_auto_onnx_order_tensorrt_cuda_openvino_coreml_nnapi_cpu(machine):
    inventory = _inventory(machine, providers=ALL_ORT)

    steps = plan(inventory, "onnx")

    assert _tried(steps) == ["tensorrt", "cuda", "openvino", "coreml", "nnapi", "cpu"]
    assert [s.provider for s in steps] == ALL_ORT


def test_onnx_with_cpu_only_skips_the_rest_with_reasons(machine):
    steps = plan(_inventory(machine), "onnx")

    assert _tried(steps) == ["cpu"]
    assert all("not in this onnxruntime build" in s.reason for s in steps if s.status == "skip")


def test_board_profile_preferences_reorder_the_plan(machine):
    # On a Raspberry Pi XNNPACK beats the GPU delegate, so the Pi profile tries it first.
    inventory = _inventory(machine, gpu=True, board="Raspberry Pi 5 Model B Rev 1.0")

    steps = plan(inventory, "tflite")

    assert _tried(steps) == ["xnnpack", "cpu", "gpu"]
    assert "preferred on raspberry_pi_5" in steps[1].reason


def test_jetson_profile_prefers_tensorrt_then_cuda(machine):
    inventory = _inventory(machine, providers=["CUDAExecutionProvider", "TensorrtExecutionProvider",
                                                "CPUExecutionProvider"], board="NVIDIA Jetson AGX Orin")

    assert _tried(plan(inventory, "onnx")) == ["tensorrt", "cuda", "cpu"]


@pytest.mark.parametrize(
    ("backend", "name", "kwargs"),
    [("tflite", "gpu", {"gpu": True}), ("tflite", "nnapi", {"nnapi": True}), ("tflite", "xnnpack", {}),
     ("tflite", "cpu", {}), ("onnx", "tensorrt", {"providers": ALL_ORT}),
     ("onnx", "cuda", {"providers": ALL_ORT}),
     ("onnx", "openvino", {"providers": ALL_ORT}), ("onnx", "coreml", {"providers": ALL_ORT}),
     ("onnx", "nnapi", {"providers": ALL_ORT}), ("onnx", "cpu", {})],
)
def test_explicit_request_of_a_present_accelerator_tries_only_it(machine, backend, name, kwargs):
    steps = plan(_inventory(machine, **kwargs), backend, name)

    assert _tried(steps) == [name]
    chosen = next(s for s in steps if s.accelerator == name)
    assert chosen.reason.startswith("requested")
    assert all(f"{name!r} was requested" in s.reason for s in steps if s.status == "skip" and
               "not present" not in s.reason)


def test_explicit_edgetpu_request_for_an_edgetpu_model(machine):
    steps = plan(_inventory(machine, edgetpu=True), "tflite", "edgetpu", edgetpu_model=True)

    assert _tried(steps) == ["edgetpu"]


@pytest.mark.parametrize(("backend", "name"), [("tflite", "gpu"), ("tflite", "edgetpu"), ("onnx", "cuda")])
def test_explicit_request_of_an_absent_accelerator_names_what_is_available(machine, backend, name):
    inventory = _inventory(machine, nnapi=True)

    with pytest.raises(AcceleratorError) as err:
        plan(inventory, backend, name, edgetpu_model=name == "edgetpu")

    message = str(err.value)
    assert repr(name) in message and "not present" in message
    available = "nnapi, xnnpack, cpu" if backend == "tflite" else "cpu"
    assert f"Available here: {available}" in message


def test_unknown_accelerator_lists_the_choices(machine):
    with pytest.raises(AcceleratorError) as err:
        plan(_inventory(machine), "onnx", "gpu")

    assert "'gpu'" in str(err.value)
    assert "tensorrt, cuda, openvino, coreml, nnapi, cpu" in str(err.value)


def test_unknown_backend_is_an_error(machine):
    with pytest.raises(AcceleratorError, match="choose one of tflite, onnx"):
        plan(_inventory(machine), "openvino")


def test_plan_is_pure(machine):
    inventory = _inventory(machine, gpu=True, edgetpu=True)

    assert plan(inventory, "tflite") == plan(inventory, "tflite")
    assert plan(inventory, "tflite", edgetpu_model=True) != plan(inventory, "tflite")
