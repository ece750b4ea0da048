"""The shipped board profiles load and validate; bad profile data is rejected clearly."""

from __future__ import annotations

import pytest

from devices.board_profiles import BoardProfile, list_profiles, load_profile, parse_profile
from devices.errors import ProfileError
from edgeinfer.backends import accelerators

SHIPPED = ["coral_dev_board", "generic_arm64", "generic_x86_64", "jetson_nano", "jetson_orin",
           "raspberry_pi_4", "raspberry_pi_5"]


def test_every_board_has_a_profile():
    assert list_profiles() == SHIPPED


@pytest.mark.parametrize("key", SHIPPED)
def test_shipped_profile_is_valid(key):
    profile = load_profile(key, accelerators())

    assert isinstance(profile, BoardProfile)
    assert profile.key == key
    assert profile.description
    assert profile.install_notes


@pytest.mark.parametrize(("key", "backend", "first"), [
    ("raspberry_pi_4", "onnx", "cpu"), ("jetson_nano", "onnx", "tensorrt"),
    ("jetson_orin", "onnx", "tensorrt"), ("coral_dev_board", "tflite", "edgetpu"),
])
def test_profile_preferences(key, backend, first):
    assert load_profile(key).prefer[backend][0] == first


def test_raspberry_pi_uses_four_threads():
    assert load_profile("raspberry_pi_4").default_threads == 4
    assert load_profile("raspberry_pi_5").default_threads == 4


def test_unknown_profile_lists_the_shipped_ones():
    with pytest.raises(ProfileError, match="raspberry_pi_5"):
        load_profile("raspberry_pi_9")


VALID = {"description": "A board", "default_threads": 2, "prefer": {"tflite": ["xnnpack"]},
         "install_notes": ["pip install edgeinfer"]}


@pytest.mark.parametrize(("change", "message"), [
    ({"threads": 4}, "unknown key(s) threads; allowed: description, default_threads"),
    ({"default_threads": 0}, "'default_threads' must be a positive integer or null, got 0"),
    ({"default_threads": True}, "'default_threads' must be a positive integer or null"),
    ({"description": ""}, "'description' must be a non-empty string"),
    ({"prefer": {"tflite": ["tpu"]}},
     "unknown accelerator 'tpu' in 'prefer.tflite'; choose from edgetpu, gpu"),
    ({"prefer": {"tensorflow": ["cpu"]}},
     "unknown backend 'tensorflow' in 'prefer'; choose one of tflite, onnx"),
    ({"prefer": {"onnx": "cuda"}}, "'prefer.onnx' must be a list"),
    ({"prefer": {"onnx": ["cpu", "cpu"]}}, "lists an accelerator twice"),
    ({"install_notes": "apt-get install x"}, "'install_notes' must be a list of strings"),
])
def test_invalid_profile_data_is_rejected_with_key_and_value(change, message):
    with pytest.raises(ProfileError) as err:
        parse_profile("test_board", {**VALID, **change}, source="test_board.yaml", accelerators=accelerators())

    assert message in str(err.value)
    assert str(err.value).startswith("test_board.yaml: ")


def test_profile_must_be_a_mapping():
    with pytest.raises(ProfileError, match="must be a mapping, got list"):
        parse_profile("x", ["description"])


def test_valid_profile_data_round_trips():
    profile = parse_profile("test_board", VALID)

    assert profile == BoardProfile("test_board", "A board", 2, {"tflite": ("xnnpack",)},
                                   ("pip install edgeinfer",))
