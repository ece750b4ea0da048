"""Students and teachers named on the command line, and the student written as a PyTorch file.

A module is named as ``package.module:factory`` (importable) or ``path/to/file.py:factory``;
the factory is called with no arguments and returns a ``torch.nn.Module``. A ``.pt`` file is
read as TorchScript (trainable as it is), else as a whole pickled module (``torch.save(model)``;
only load files you trust). A ``.pt2`` file is a ``torch.export`` program (teacher only: an
exported program cannot be trained).
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConfigError

__all__ = ["load_module", "save_student"]


def _from_factory(spec: str) -> Any:
    where, _, name = spec.rpartition(":")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ConfigError(f"--student {spec!r}: {where!r} does not exist")
        loader = importlib.util.spec_from_file_location(f"_edgeinfer_student_{path.stem}", path)
        if loader is None or loader.loader is None:
            raise ConfigError(f"--student {spec!r}: {where!r} cannot be imported")
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise ConfigError(f"--student {spec!r}: module {where!r} cannot be imported ({exc})") from exc
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ConfigError(f"--student {spec!r}: {where!r} has no callable {name!r}")
    return factory()


def _from_file(path: Path) -> Any:
    import torch

    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still common
        try:
            return torch.jit.load(str(path))
        except RuntimeError:
            return torch.load(str(path), weights_only=False)


def load_module(spec: str, role: str = "student") -> Any:
    """A ``torch.nn.Module`` from ``module:factory``, ``file.py:factory``, a ``.pt`` or a ``.pt2`` file.

    Raises:
        ConfigError: the module, factory or file cannot be found, or is no torch module.
    """
    import torch

    path = Path(spec)
    if path.suffix in (".pt", ".pth", ".pt2"):
        if not path.is_file():
            raise ConfigError(f"{role} {spec!r} does not exist")
        module = _from_file(path)
    elif ":" in spec:
        module = _from_factory(spec)
    else:
        raise ConfigError(f"{role} {spec!r}: name a factory as module:function or file.py:function, "
                          "or a .pt file (TorchScript or torch.save of the whole module)")
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"{role} {spec!r} gave a {type(module).__name__}, not a torch.nn.Module")
    return module


def save_student(student: Any, input_shape: tuple[int, ...], out: Path) -> Path:
    """Write the trained student as TorchScript (``.pt``) or a ``torch.export`` program (``.pt2``)."""
    import torch

    example = torch.zeros(input_shape)
    student.eval()
    if out.suffix == ".pt2":
        torch.export.save(torch.export.export(student, (example,)), str(out))
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if isinstance(student, torch.jit.ScriptModule):
            student.save(str(out))
        else:
            torch.jit.trace(student, example).save(str(out))
    return out
