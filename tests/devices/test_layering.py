"""``devices`` stands alone: it imports nothing from edgeinfer or converters, and
edgeinfer maps its errors into its own tree."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import devices
from devices.errors import DevicesError, PlanError, ProfileError
from edgeinfer.errors import AcceleratorError, ConfigError, EdgeInferError, exit_code_for, from_devices

FORBIDDEN = ("edgeinfer", "converters")


def test_import_devices_loads_no_edgeinfer_module() -> None:
    code = "import sys, json; import devices, devices.probe, devices.planning; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    leaked = [m for m in json.loads(out) if m.split(".")[0] in FORBIDDEN]
    assert leaked == []


def test_no_devices_module_imports_edgeinfer_even_lazily() -> None:
    found = []
    for path in sorted(Path(devices.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert found == []


@pytest.mark.parametrize(("error", "mapped", "code"), [
    (ProfileError("bad profile"), ConfigError, 78),
    (PlanError("no such accelerator"), AcceleratorError, 69),
    (DevicesError("other"), EdgeInferError, 1),
])
def test_devices_errors_map_into_the_edgeinfer_tree(error, mapped, code) -> None:
    translated = from_devices(error)

    assert type(translated) is mapped
    assert str(translated) == str(error)
    assert exit_code_for(error) == code == exit_code_for(translated)


def test_plan_errors_reach_callers_as_accelerator_errors(machine) -> None:
    from edgeinfer.backends import plan, probe

    machine.root.mkdir(parents=True)
    inventory = probe(machine.root)
    with pytest.raises(PlanError):
        devices.plan(inventory, "tflite", "tpu")
    with pytest.raises(AcceleratorError, match="choose auto or one of edgetpu, gpu, nnapi, xnnpack, cpu"):
        plan(inventory, "tflite", "tpu")
