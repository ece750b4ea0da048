"""Board identity and profile selection from a fake /proc/device-tree and /etc tree."""

from __future__ import annotations

import pytest

from edgeinfer.backends import probe

PI4 = "Raspberry Pi 4 Model B Rev 1.4"
PI5 = "Raspberry Pi 5 Model B Rev 1.0"


@pytest.mark.parametrize(
    ("model", "profile", "threads"),
    [
        (PI4, "raspberry_pi_4", 4),
        ("Raspberry Pi Compute Module 4 Rev 1.0", "raspberry_pi_4", 4),
        ("Raspberry Pi 400 Rev 1.0", "raspberry_pi_4", 4),
        (PI5, "raspberry_pi_5", 4),
        ("Freescale i.MX8MQ Phanbell", "coral_dev_board", 4),
    ],
)
def test_device_tree_model_picks_the_board_profile(machine, model, profile, threads):
    machine.device_tree(model)

    inventory = probe(machine.root, machine="aarch64")

    assert inventory.board == model
    assert inventory.profile == profile
    assert inventory.default_threads == min(threads, inventory.cpu_count)
    assert inventory.profile_description
    assert inventory.install_notes


def test_raspberry_pi_profiles_prefer_xnnpack_over_the_gpu_delegate(machine):
    machine.device_tree(PI5)

    inventory = probe(machine.root, machine="aarch64")

    tflite = inventory.preferences["tflite"]
    assert tflite.index("xnnpack") < tflite.index("gpu")


def test_jetson_nano_is_found_from_nv_tegra_release(machine):
    machine.write("/etc/nv_tegra_release",
                  "# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, EABI: aarch64, "
                  "DATE: Sat Feb 19 17:05:08 UTC 2022\n")

    inventory = probe(machine.root, machine="aarch64")

    assert inventory.profile == "jetson_nano"
    assert "R32.7.1" in inventory.board
    assert inventory.extra["jetson_release"] == "R32.7.1"
    assert inventory.preferences["onnx"][:2] == ("tensorrt", "cuda")


def test_jetson_orin_is_found_from_the_device_tree(machine):
    machine.device_tree("NVIDIA Jetson Orin Nano Developer Kit",
                        ("nvidia,p3768-0000+p3767-0005", "nvidia,tegra234"))

    inventory = probe(machine.root, machine="aarch64")

    assert inventory.board == "NVIDIA Jetson Orin Nano Developer Kit"
    assert inventory.profile == "jetson_orin"
    assert inventory.preferences["onnx"][:2] == ("tensorrt", "cuda")


def test_jetpack_5_release_without_device_tree_model_is_orin_class(machine):
    machine.write("/etc/nv_tegra_release", "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref\n")

    assert probe(machine.root, machine="aarch64").profile == "jetson_orin"


@pytest.mark.parametrize(("arch", "profile"), [("x86_64", "generic_x86_64"), ("aarch64", "generic_arm64")])
def test_unknown_board_gets_the_generic_profile_of_its_architecture(machine, arch, profile):
    machine.root.mkdir(parents=True)

    inventory = probe(machine.root, machine=arch)

    assert inventory.board == f"generic {arch}"
    assert inventory.profile == profile
    assert inventory.machine == arch
    # Generic profiles use every CPU the process may run on.
    assert inventory.default_threads == inventory.cpu_count >= 1


def test_older_raspberry_pi_is_named_but_uses_the_generic_arm_profile(machine):
    machine.device_tree("Raspberry Pi 3 Model B Plus Rev 1.3")

    inventory = probe(machine.root, machine="aarch64")

    assert inventory.board == "Raspberry Pi 3 Model B Plus Rev 1.3"
    assert inventory.profile == "generic_arm64"
