"""devices/kits: each board kit is complete, its scripts pass shellcheck and do what they say.

The install scripts run here with ``--dry-run`` (they print the commands instead of
running them); the "expected" ``edgeinfer devices`` output in each README is checked
against the board profile it names and the planning code, so it cannot drift.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devices.board_profiles import PROFILE_DIR, load_profile
from devices.planning import ordered_names
from devices.types import AcceleratorInfo, Inventory
from edgeinfer.backends import accelerators
from tests.examples.helpers import KITS, REPO, UNIT, parse_unit

BOARDS = ("raspberry_pi", "jetson", "coral")
SCRIPTS = sorted(KITS.rglob("*.sh"))


def _dry_run(board: str, *, skip_check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHON": sys.executable, **env}
    if skip_check:
        full_env["EDGEINFER_SKIP_PLATFORM_CHECK"] = "1"
    else:
        full_env.pop("EDGEINFER_SKIP_PLATFORM_CHECK", None)
    return subprocess.run(["bash", str(KITS / board / "install.sh"), "--dry-run"], capture_output=True, text=True,
                          env=full_env, timeout=60, check=False)


@pytest.mark.parametrize("board", BOARDS)
def test_kit_has_readme_install_script_and_unit(board: str) -> None:
    kit = KITS / board
    for name in ("README.md", "install.sh", "edgeinfer.service"):
        assert (kit / name).is_file(), f"{kit / name} is missing"
    assert os.access(kit / "install.sh", os.X_OK), "install.sh must be executable"
    assert (kit / "install.sh").read_text().startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in (kit / "install.sh").read_text()


def test_every_kit_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        message = "shellcheck is not installed (apt-get install shellcheck)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    assert len(SCRIPTS) >= len(BOARDS) + 1  # every install.sh and common.sh
    run = subprocess.run([shellcheck, "--external-sources", *map(str, SCRIPTS)], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(KITS)))
def test_every_kit_script_parses(script: Path) -> None:
    run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize("board", BOARDS)
def test_install_dry_run_lists_the_venv_extras_unit_and_config(board: str) -> None:
    run = _dry_run(board)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert re.search(r"^\+ .* -m venv .*/opt/edgeinfer/venv$", out, re.M)
    assert re.search(rf"^\+ .*pip install --upgrade {re.escape(str(REPO))}\[[a-z,-]*mqtt[a-z,-]*\]", out, re.M)
    assert f"+ install -m 0644 {KITS / board / 'edgeinfer.service'} /etc/systemd/system/edgeinfer.service" in out
    assert "+ systemctl enable edgeinfer.service" in out
    if not Path("/etc/edgeinfer/config.yaml").exists():
        assert f"{REPO}/examples/iot_daemon/config.yaml /etc/edgeinfer/config.yaml" in out
    assert "useradd --system" in out or "user edgeinfer exists" in out


def test_install_refuses_a_machine_that_is_not_the_board() -> None:
    model = Path("/proc/device-tree/model")
    if model.exists() and "Raspberry Pi" in model.read_bytes().decode(errors="replace"):
        pytest.skip("this machine is a Raspberry Pi")
    run = _dry_run("raspberry_pi", skip_check=False)
    assert run.returncode != 0
    assert "not a Raspberry Pi 4 or 5" in run.stderr and "EDGEINFER_SKIP_PLATFORM_CHECK=1" in run.stderr
    assert "+ apt-get" not in run.stdout  # it stops before doing anything


def test_jetson_install_uses_onnxruntime_gpu_from_the_jetson_index() -> None:
    out = _dry_run("jetson").stdout
    assert re.search(r"pip uninstall -y onnxruntime$", out, re.M)
    assert "--extra-index-url https://pypi.jetson-ai-lab.io/jp6/cu126 onnxruntime-gpu" in out
    assert "pip install --upgrade /wheels/ort.whl" in _dry_run("jetson", ORT_WHEEL="/wheels/ort.whl").stdout
    dockerfile = (KITS / "jetson" / "Dockerfile").read_text()
    assert "ARG ORT_INDEX_URL=https://pypi.jetson-ai-lab.io/jp6/cu126" in dockerfile  # same index


def test_coral_install_adds_the_coral_repository_and_the_chosen_runtime() -> None:
    out = _dry_run("coral").stdout
    if "Coral apt repository already configured" not in out:
        assert "https://packages.cloud.google.com/apt coral-edgetpu-stable main" in out
    assert "install -y --no-install-recommends libedgetpu1-std" in out
    assert "libedgetpu1-max" in _dry_run("coral", EDGETPU_RUNTIME="max").stdout
    pcie = _dry_run("coral", EDGETPU_PCIE="1").stdout
    assert "gasket-dkms" in pcie and 'SUBSYSTEM=="apex", MODE="0660", GROUP="apex"' in pcie
    bad = _dry_run("coral", EDGETPU_RUNTIME="turbo")
    assert bad.returncode != 0 and "EDGETPU_RUNTIME must be std or max" in bad.stderr


def _unit_body(path: Path) -> list[str]:
    """The unit's lines without comments and without SupplementaryGroups (the kits' one change)."""
    return [line for line in path.read_text().splitlines()
            if line and not line.startswith("#") and not line.startswith("SupplementaryGroups=")]


@pytest.mark.parametrize("board", BOARDS)
def test_kit_unit_is_the_example_unit_with_its_groups(board: str) -> None:
    unit = KITS / board / "edgeinfer.service"
    assert _unit_body(unit) == _unit_body(UNIT), f"{unit} drifted from {UNIT}"
    groups = parse_unit(unit)["Service"]["SupplementaryGroups"][0].split()
    assert "video" in groups
    install = (KITS / board / "install.sh").read_text()
    created = re.search(r"create_service_user (.*)", install)
    assert created and set(groups) <= set(created.group(1).split()), "install.sh must create every group"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    rows = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(row.split(None, 1)[0].upper(), row.split(None, 1)[1] if " " in row else "") for row in rows]


def test_jetson_dockerfile_builds_from_l4t_jetpack_and_runs_the_daemon() -> None:
    instructions = _instructions(KITS / "jetson" / "Dockerfile")
    known = {"ARG", "FROM", "ENV", "RUN", "COPY", "USER", "WORKDIR", "VOLUME", "ENTRYPOINT", "CMD"}
    assert {name for name, _ in instructions} <= known
    names = [name for name, _ in instructions]
    first_from = names.index("FROM")
    assert ("ARG", "L4T_TAG=r36.4.0") in instructions[:first_from]
    assert instructions[first_from][1] == "nvcr.io/nvidia/l4t-jetpack:${L4T_TAG}"
    entrypoint = dict(instructions)["ENTRYPOINT"]
    assert json.loads(entrypoint) == ["edgeinfer", "run"]
    assert any(name == "RUN" and "[onnx," in arg and "onnxruntime-gpu" in arg for name, arg in instructions)


def _expected_blocks(readme: str) -> list[str]:
    """Code blocks of the README that hold ``edgeinfer devices`` output (a Profile row)."""
    return [block for block in re.findall(r"```\n(.*?)```", readme, re.S) if re.search(r"^Profile ", block, re.M)]


def _profile_row(block: str) -> str:
    """The Profile row, with rich's wrapped continuation lines joined."""
    lines = block.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Profile "))
    row = [lines[start][len("Profile"):]]
    for line in lines[start + 1:]:
        if not line.startswith(" "):
            break
        row.append(line)
    return " ".join(" ".join(row).split())


def _plan_tables(block: str) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in block.splitlines():
        if re.fullmatch(r"(tflite|onnx) plan", line):
            current = tables.setdefault(line.split()[0], [])
        elif current is not None and (row := re.match(r"│ \d+ │ (\w+)\s", line)):
            current.append(row.group(1))
    return tables


@pytest.mark.parametrize("board", BOARDS)
def test_readme_expected_output_matches_the_profile_and_plan_order(board: str) -> None:
    readme = (KITS / board / "README.md").read_text()
    named = set(re.findall(r"devices/profiles/(\w+)\.yaml", readme))
    assert named, "the README must name the board profile it uses"
    assert all((PROFILE_DIR / f"{key}.yaml").is_file() for key in named), named
    assert "expected" in readme.lower()
    blocks = _expected_blocks(readme)
    assert blocks, "the README must show the expected `edgeinfer devices` output"
    for block in blocks:
        key = re.search(r"^Profile\s+(\w+):", block, re.M).group(1)  # type: ignore[union-attr]
        assert key in named
        profile = load_profile(key)
        assert _profile_row(block) == f"{key}: {profile.description}"
        declared = tuple(AcceleratorInfo(n, b, False, "") for b, names in accelerators().items() for n in names)
        inventory = Inventory(board="", profile=key, machine="aarch64", cpu_count=4, accelerators=declared,
                              preferences=profile.prefer)
        tables = {backend: rows for backend, rows in _plan_tables(block).items() if rows}
        assert tables, f"no plan table in the expected output for {key}"
        for backend, rows in tables.items():
            assert rows == list(ordered_names(inventory, backend)), f"{key} {backend} plan order"
