"""The one place that finds a TFLite interpreter: LiteRT, then tflite_runtime, then TF.

``tflite_runtime`` 2.14 is the last release (the only wheel for 32-bit ARM); it needs
numpy<2 and cannot run some models made by current converters, so when it is the one in
use, load failures say so and what to install instead.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from edgeinfer.errors import MissingDependencyError

__all__ = ["LEGACY_HINT", "TFLiteRuntime", "available_tflite_runtime", "distribution", "find_tflite_runtime"]

_CANDIDATES = (
    ("ai_edge_litert", "ai_edge_litert.interpreter"),
    ("tflite_runtime", "tflite_runtime.interpreter"),
    ("tensorflow", "tensorflow.lite.python.interpreter"),
)

LEGACY_HINT = (
    "The interpreter in use is tflite_runtime 2.14, the last release: it cannot run some "
    "models made by current converters (e.g. FULLY_CONNECTED version 12 from TF 2.21 "
    "dynamic-range quantization). On 64-bit Linux, macOS or Windows install LiteRT "
    "instead: pip install 'edgeinfer[tflite]' (and uninstall tflite-runtime)."
)


@dataclass(frozen=True)
class TFLiteRuntime:
    """The interpreter package found: its name, module and version."""

    package: str
    module: Any
    version: str

    @property
    def is_legacy(self) -> bool:
        """True for tflite_runtime, which current converters outgrew."""
        return self.package == "tflite_runtime"


@cache
def find_tflite_runtime() -> TFLiteRuntime:
    """Return the first TFLite interpreter package that imports.

    Raises:
        MissingDependencyError: none of ai_edge_litert, tflite_runtime, tensorflow is installed.
    """
    for package, module_name in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        top = importlib.import_module(package)
        version = str(getattr(top, "__version__", "") or _dist_version(package))
        return TFLiteRuntime(package, module, version)
    raise MissingDependencyError("ai-edge-litert", "tflite", "running .tflite models")


def available_tflite_runtime() -> str | None:
    """Name of the TFLite interpreter package that would be used, without importing it."""
    from importlib.util import find_spec

    for package, _ in _CANDIDATES:
        if find_spec(package) is not None:
            return package
    return None


def distribution(package: str) -> str:
    """The pip distribution that provides the interpreter package ``package``."""
    return {"ai_edge_litert": "ai-edge-litert", "tflite_runtime": "tflite-runtime"}.get(package, package)


def _dist_version(package: str) -> str:
    from devices.probe import dist_version

    return dist_version(distribution(package)) or "unknown"
