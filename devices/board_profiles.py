"""Board profiles: default threads, accelerator preferences and setup notes per board.

Each profile is a YAML file in ``devices/profiles/`` named after its key
(``raspberry_pi_5.yaml``). :func:`devices.probe` picks the key from the board identity and
copies the profile's data into the :class:`~devices.types.Inventory`, so that
:func:`devices.plan` stays a pure function of the inventory. A profile looks like::

    description: Raspberry Pi 5 / CM5 (4x Cortex-A76)
    default_threads: 4          # or null: use every CPU
    prefer:                     # tried first, in this order; the rest follow in default order
      tflite: [edgetpu, xnnpack, cpu, gpu]
      onnx: [cpu]
    install_notes:
      - "pip install 'edgeinfer[tflite]' on 64-bit Raspberry Pi OS."

Unknown keys are errors, and so are unknown backends and accelerator names when the
backends' declared accelerators are given (``accelerators``: backend -> names; the
hardware layer does not know the backends by itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from devices.errors import ProfileError

__all__ = ["BoardProfile", "PROFILE_DIR", "check_preferences", "list_profiles", "load_profile", "parse_profile"]

Accelerators = Mapping[str, Sequence[str]]

PROFILE_DIR = Path(__file__).with_name("profiles")
_KEYS = ("description", "default_threads", "prefer", "install_notes")


@dataclass(frozen=True)
class BoardProfile:
    """One board profile, validated.

    Attributes:
        key: The profile's name (``raspberry_pi_4``, ``generic_x86_64`` ...).
        description: What the board is, for people.
        default_threads: CPU threads to give an interpreter, or ``None`` for all CPUs.
        prefer: Backend -> accelerators to try first, in order.
        install_notes: Setup hints (drivers, wheels) for this board.
    """

    key: str
    description: str
    default_threads: int | None = None
    prefer: dict[str, tuple[str, ...]] = field(default_factory=dict)
    install_notes: tuple[str, ...] = ()


def list_profiles() -> list[str]:
    """Return the keys of every shipped profile, sorted."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(key: str, accelerators: Accelerators | None = None) -> BoardProfile:
    """Read and validate the shipped profile ``key``.

    Args:
        key: Profile key, the YAML file's stem (``jetson_orin``).
        accelerators: Backend -> declared accelerator names, to check ``prefer`` against.

    Returns:
        The validated :class:`BoardProfile`.

    Raises:
        ProfileError: no such profile, or its YAML is malformed or invalid.
    """
    profile = _load_profile(key)
    if accelerators is not None:
        check_preferences(profile.prefer, accelerators, str(PROFILE_DIR / f"{key}.yaml"))
    return profile


@cache
def _load_profile(key: str) -> BoardProfile:
    import yaml

    path = PROFILE_DIR / f"{key}.yaml"
    if not path.is_file():
        raise ProfileError(f"Unknown board profile {key!r}; choose one of {', '.join(list_profiles())}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML ({exc})") from exc
    return parse_profile(key, data, source=str(path))


def parse_profile(key: str, data: Any, *, source: str = "<profile>",
                  accelerators: Accelerators | None = None) -> BoardProfile:
    """Validate profile data (as loaded from YAML) and build a :class:`BoardProfile`.

    Args:
        key: The profile's key.
        data: The mapping read from the YAML file.
        source: Where the data came from, for error messages.
        accelerators: Backend -> declared accelerator names; when given, ``prefer`` may
            name only these backends and accelerators.

    Returns:
        The validated profile.

    Raises:
        ProfileError: unknown keys, wrong types, or unknown backends/accelerators (the
            message names the key, the value and the choices).
    """
    if not isinstance(data, Mapping):
        raise ProfileError(f"{source}: a board profile must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ProfileError(
            f"{source}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(_KEYS)}"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ProfileError(f"{source}: 'description' must be a non-empty string, got {description!r}")
    threads = data.get("default_threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ProfileError(f"{source}: 'default_threads' must be a positive integer or null, got {threads!r}")
    notes = data.get("install_notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ProfileError(f"{source}: 'install_notes' must be a list of strings, got {notes!r}")
    prefer = _parse_prefer(data.get("prefer") or {}, source)
    if accelerators is not None:
        check_preferences(prefer, accelerators, source)
    return BoardProfile(key, description.strip(), threads, prefer, tuple(notes))


def _parse_prefer(prefer: Any, source: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(prefer, Mapping):
        raise ProfileError(f"{source}: 'prefer' must map a backend to a list, got {prefer!r}")
    out: dict[str, tuple[str, ...]] = {}
    for backend, names in prefer.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ProfileError(f"{source}: 'prefer.{backend}' must be a list, got {names!r}")
        if len(set(names)) != len(names):
            raise ProfileError(f"{source}: 'prefer.{backend}' lists an accelerator twice: {names}")
        out[str(backend)] = tuple(names)
    return out


def check_preferences(prefer: Mapping[str, Sequence[str]], accelerators: Accelerators, source: str, *,
                      partial: bool = False) -> None:
    """Check that ``prefer`` names only declared backends and accelerators.

    Args:
        prefer: A profile's preferences (backend -> accelerator names).
        accelerators: Backend -> declared accelerator names.
        source: Where the profile came from, for error messages.
        partial: ``accelerators`` holds only some backends (a probe for one model's
            backend): preferences of the others are not checked.

    Raises:
        ProfileError: an unknown backend or accelerator, naming the choices.
    """
    for backend, names in prefer.items():
        if backend not in accelerators:
            if partial:
                continue
            raise ProfileError(
                f"{source}: unknown backend {backend!r} in 'prefer'; choose one of {', '.join(accelerators)}"
            )
        for name in names:
            if name not in accelerators[backend]:
                raise ProfileError(
                    f"{source}: unknown accelerator {name!r} in 'prefer.{backend}'; "
                    f"choose from {', '.join(accelerators[backend])}"
                )
