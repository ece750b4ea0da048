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

Unknown keys, unknown backends and unknown accelerator names are errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from devices.planning import ORDER

__all__ = ["BoardProfile", "PROFILE_DIR", "list_profiles", "load_profile", "parse_profile"]

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


@cache
def load_profile(key: str) -> BoardProfile:
    """Read and validate the shipped profile ``key``.

    Args:
        key: Profile key, the YAML file's stem (``jetson_orin``).

    Returns:
        The validated :class:`BoardProfile`.

    Raises:
        ConfigError: no such profile, or its YAML is malformed or invalid.
    """
    import yaml

    from edgeinfer.errors import ConfigError

    path = PROFILE_DIR / f"{key}.yaml"
    if not path.is_file():
        raise ConfigError(f"Unknown board profile {key!r}; choose one of {', '.join(list_profiles())}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    return parse_profile(key, data, source=str(path))


def parse_profile(key: str, data: Any, *, source: str = "<profile>") -> BoardProfile:
    """Validate profile data (as loaded from YAML) and build a :class:`BoardProfile`.

    Args:
        key: The profile's key.
        data: The mapping read from the YAML file.
        source: Where the data came from, for error messages.

    Returns:
        The validated profile.

    Raises:
        ConfigError: unknown keys, wrong types, or unknown backends/accelerators (the
            message names the key, the value and the choices).
    """
    from edgeinfer.errors import ConfigError

    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: a board profile must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(_KEYS)}"
        )
    description = data.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ConfigError(f"{source}: 'description' must be a non-empty string, got {description!r}")
    threads = data.get("default_threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{source}: 'default_threads' must be a positive integer or null, got {threads!r}")
    notes = data.get("install_notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ConfigError(f"{source}: 'install_notes' must be a list of strings, got {notes!r}")
    prefer = _parse_prefer(data.get("prefer") or {}, source)
    return BoardProfile(key, description.strip(), threads, prefer, tuple(notes))


def _parse_prefer(prefer: Any, source: str) -> dict[str, tuple[str, ...]]:
    from edgeinfer.errors import ConfigError

    if not isinstance(prefer, Mapping):
        raise ConfigError(f"{source}: 'prefer' must map a backend to a list, got {prefer!r}")
    out: dict[str, tuple[str, ...]] = {}
    for backend, names in prefer.items():
        if backend not in ORDER:
            raise ConfigError(
                f"{source}: unknown backend {backend!r} in 'prefer'; choose one of {', '.join(ORDER)}"
            )
        if not isinstance(names, list):
            raise ConfigError(f"{source}: 'prefer.{backend}' must be a list, got {names!r}")
        for name in names:
            if name not in ORDER[backend]:
                raise ConfigError(
                    f"{source}: unknown accelerator {name!r} in 'prefer.{backend}'; "
                    f"choose from {', '.join(ORDER[backend])}"
                )
        if len(set(names)) != len(names):
            raise ConfigError(f"{source}: 'prefer.{backend}' lists an accelerator twice: {names}")
        out[backend] = tuple(names)
    return out
