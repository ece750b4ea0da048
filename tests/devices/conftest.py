"""Fixtures for the hardware-layer tests: a fake machine tree and tiny TFLite models.

Only the hardware boundary is faked: files under a temporary root stand in for
``/proc``, ``/sys``, ``/dev``, ``/etc`` and library folders. Probing and planning run
for real on that tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from devices.probe import probe_cached

_ENV_VARS = ("EDGEINFER_GPU_DELEGATE", "EDGEINFER_EDGETPU_LIBRARY")


@pytest.fixture(autouse=True)
def _clean_hardware_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start each test without library overrides and with a fresh probe cache."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    probe_cached.cache_clear()
    yield
    probe_cached.cache_clear()


class FakeMachine:
    """Writes the files a real board would have under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, content: str | bytes = b"") -> Path:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)
        return target

    def device_tree(self, model: str, compatible: tuple[str, ...] = ()) -> None:
        # Device-tree strings end with NUL, as the kernel exposes them.
        self.write("/proc/device-tree/model", model.encode() + b"\x00")
        if compatible:
            self.write("/proc/device-tree/compatible", b"".join(c.encode() + b"\x00" for c in compatible))

    def usb_device(self, port: str, vendor: str, product: str) -> None:
        self.write(f"/sys/bus/usb/devices/{port}/idVendor", vendor + "\n")
        self.write(f"/sys/bus/usb/devices/{port}/idProduct", product + "\n")

    def library(self, name: str, folder: str = "/usr/lib") -> Path:
        """An empty file standing in for a shared library (found, never loadable)."""
        return self.write(f"{folder}/{name}")


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    """An empty fake machine: no board identity, no devices, no libraries."""
    return FakeMachine(tmp_path / "root")


def _tflite_add_model(custom_op: str | None = None) -> bytes:
    """A one-operator TFLite model: ``y = x + [1, 2, 3, 4]`` for ``x`` float32 ``(1, 4)``.

    With ``custom_op`` the operator is that custom op instead (as edgetpu_compiler
    writes ``edgetpu-custom-op``); such a model parses but runs only with its delegate.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    def tensor(name: str, buffer: int) -> schema.TensorT:
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 4], schema.TensorType.FLOAT32, buffer
        return t

    constant = schema.BufferT()
    constant.data = np.array([1, 2, 3, 4], np.float32).view(np.uint8).tolist()
    code = schema.OperatorCodeT()
    if custom_op:
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = custom_op
    else:
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    if not custom_op:
        op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    graph = schema.SubGraphT()
    graph.tensors = [tensor("x", 1), tensor("bias", 2), tensor("y", 3)]
    graph.inputs, graph.outputs, graph.operators, graph.name = [0], [2], [op], "main"
    model = schema.ModelT()
    model.version, model.description = 3, "edgeinfer devices test model"
    model.operatorCodes, model.subgraphs = [code], [graph]
    model.buffers = [schema.BufferT(), schema.BufferT(), constant, schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture
def tflite_model(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a tiny TFLite model (optionally with a custom op) and return its path."""

    def make(name: str = "add.tflite", custom_op: str | None = None) -> Path:
        path = tmp_path / name
        path.write_bytes(_tflite_add_model(custom_op))
        return path

    return make
