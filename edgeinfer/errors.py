"""The one tree of edgeinfer errors.

Every error the SDK raises on purpose is a subclass of :class:`EdgeInferError`; foreign
exceptions (from LiteRT, ONNX Runtime, OpenCV, paho, YAML) are translated at the boundary
with ``raise ... from exc`` so callers only ever catch these::

    EdgeInferError
    ├── ConfigError             a config file, card or flag is invalid      (exit 78)
    ├── MissingDependencyError  an optional package is not installed         (exit 69)
    ├── ModelError              a model file is missing, corrupt or misused  (exit 65)
    │   └── InputError          a frame or tensor given to a model is wrong  (exit 65)
    │       └── ImageTooLargeError  more pixels than the cap, seen in the header
    ├── AcceleratorError        an accelerator was asked for but is absent   (exit 69)
    ├── SourceError             a camera, stream or file cannot be read      (exit 74)
    ├── SinkError               results cannot be delivered                  (exit 75)
    └── ConversionError         a conversion failed or missed its gates      (exit 70)

The exit codes follow ``sysexits.h`` so a supervisor such as systemd can tell a config
error (``RestartPreventExitStatus=78``) from a temporary outage (75, retry).

The hardware layer :mod:`devices` imports nothing from edgeinfer and has its own small
tree (:mod:`devices.errors`); :func:`from_devices` maps it into this one where edgeinfer
calls it (``ProfileError`` -> ``ConfigError``, ``PlanError`` -> ``AcceleratorError``).
"""

from __future__ import annotations

from devices.errors import DevicesError, PlanError, ProfileError

__all__ = [
    "AcceleratorError",
    "ConfigError",
    "ConversionError",
    "EdgeInferError",
    "ImageTooLargeError",
    "InputError",
    "MissingDependencyError",
    "ModelError",
    "SinkError",
    "SourceError",
    "exit_code_for",
    "from_devices",
]


class EdgeInferError(Exception):
    """Base class of every error edgeinfer raises on purpose."""

    exit_code: int = 1


class ConfigError(EdgeInferError, ValueError):
    """A config file, model card or command-line value is invalid."""

    exit_code = 78  # EX_CONFIG


class MissingDependencyError(EdgeInferError, ImportError):
    """An optional dependency is missing; the message names the pip extra to install."""

    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        self.package = package
        self.extra = extra
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"The package {package!r} is not installed{what}. "
            f"Install it with: pip install 'edgeinfer[{extra}]'"
        )


class ModelError(EdgeInferError):
    """A model file is missing, corrupt, unsupported, or was given the wrong input."""

    exit_code = 65  # EX_DATAERR


class InputError(ModelError, ValueError):
    """A frame or tensor handed to a model has the wrong shape, dtype or content."""


class ImageTooLargeError(InputError):
    """An image declares more pixels than the cap; refused from its header, before decoding (HTTP 413)."""


class AcceleratorError(EdgeInferError):
    """An accelerator that was explicitly requested is not present or failed to load."""

    exit_code = 69  # EX_UNAVAILABLE


class SourceError(EdgeInferError):
    """A frame source (camera, stream, file, folder) cannot be opened or read."""

    exit_code = 74  # EX_IOERR


class SinkError(EdgeInferError):
    """Results cannot be delivered to a sink (broker down, disk full, ...)."""

    exit_code = 75  # EX_TEMPFAIL


class ConversionError(EdgeInferError):
    """A model conversion failed, or its fidelity check missed the gates."""

    exit_code = 70  # EX_SOFTWARE


def from_devices(exc: DevicesError) -> EdgeInferError:
    """The edgeinfer error for an error of the hardware layer, with the same message."""
    if isinstance(exc, ProfileError):
        return ConfigError(str(exc))
    if isinstance(exc, PlanError):
        return AcceleratorError(str(exc))
    return EdgeInferError(str(exc))


def exit_code_for(exc: BaseException) -> int:
    """Return the process exit code for an exception (1 for foreign ones)."""
    if isinstance(exc, DevicesError):
        exc = from_devices(exc)
    if isinstance(exc, EdgeInferError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1
