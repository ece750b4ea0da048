"""The errors of the hardware layer (standard library only; ``edgeinfer`` maps them).

``edgeinfer`` translates them at its boundary (:func:`edgeinfer.errors.from_devices`):
``ProfileError`` becomes ``ConfigError`` and ``PlanError`` becomes ``AcceleratorError``::

    DevicesError
    ├── ProfileError   a board profile is unknown, malformed or invalid
    └── PlanError      a requested backend or accelerator is unknown or not present
"""

from __future__ import annotations

__all__ = ["DevicesError", "PlanError", "ProfileError"]


class DevicesError(Exception):
    """Base class of every error :mod:`devices` raises on purpose."""


class ProfileError(DevicesError, ValueError):
    """A board profile is unknown, is not valid YAML, or holds an invalid value."""


class PlanError(DevicesError):
    """A plan was asked for an unknown backend, or an accelerator that is unknown or absent."""
