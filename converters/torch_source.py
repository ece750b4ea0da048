"""PyTorch sources: an ``nn.Module`` (Python API), a TorchScript ``.pt`` or a ``torch.export`` ``.pt2``.

Loading turns every form into a plain module that ``torch.export`` can trace (TorchScript
goes through ``TS2EPConverter``), so both exporters (ONNX and litert-torch) see the same
graph, and the fidelity check runs the very module that was exported.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from converters.base import file_sha256, first_line
from converters.layout import infer_layout
from edgeinfer.errors import ConversionError, MissingDependencyError

__all__ = ["TorchSource", "load_torch_source", "package_versions"]


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the given distributions (missing ones are left out)."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def _import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "convert-torch", "converting PyTorch models") from exc
    return torch


@dataclass
class TorchSource:
    """A PyTorch model ready to export and to run for the fidelity check.

    Attributes:
        module: The model in eval mode (a plain module, never TorchScript).
        input_shape: Input shape, batch first, e.g. ``(1, 3, 224, 224)``.
        layout: ``"nchw"``/``"nhwc"`` for 4-D inputs, else ``None``.
        sha256: Hash of the source file, or of the state dict for in-memory modules.
        size_bytes: File size, or the bytes of the parameters and buffers.
    """

    module: Any
    input_shape: tuple[int, ...]
    layout: str | None
    sha256: str
    size_bytes: int
    kind: str = "torch"
    framework_versions: dict[str, str] = field(default_factory=dict)

    def predict(self, x: np.ndarray) -> list[np.ndarray]:
        """Run the module on a float32 batch ``(N, *input_shape[1:])``; float32 outputs."""
        torch = _import_torch()
        with torch.no_grad():
            out = self.module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        outs = out if isinstance(out, list | tuple) else [out]
        return [o.detach().cpu().numpy().astype(np.float32) for o in outs]

    def example(self, batch: int = 1) -> Any:
        """A seeded random input tensor of the model's shape with ``batch`` rows."""
        torch = _import_torch()
        gen = torch.Generator().manual_seed(0)
        return torch.rand((batch, *self.input_shape[1:]), generator=gen)


def state_dict_sha256(module: Any) -> str:
    """Hash of a module's parameters and buffers (names, shapes and values)."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        array = tensor.detach().cpu().contiguous().numpy()
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()



def _load_file(path: Path, input_shape: Sequence[int] | None) -> tuple[Any, tuple[int, ...] | None]:
    torch = _import_torch()
    if not path.is_file():
        raise ConversionError(f"{path}: no such file; give a .pt (TorchScript) or .pt2 (torch.export) file")
    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # torch raises many types for a bad archive
            raise ConversionError(
                f"{path}: not a torch.export program ({exc}). Save one with torch.export.save(...)"
            ) from exc
        shapes = [tuple(n.meta["val"].shape) for n in program.graph.nodes
                  if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
        return program.module(), (shapes[0] if shapes and input_shape is None else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still read
            scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ConversionError(
            f"{path}: not a TorchScript archive ({first_line(exc)}). Save the model with "
            "torch.jit.save(torch.jit.trace(model, example), 'model.pt') or torch.export.save(...) (.pt2); "
            "pickled modules and bare state dicts are not loaded (they run arbitrary code and lack the graph)"
        ) from exc
    return scripted, None


def _script_to_module(scripted: Any, input_shape: tuple[int, ...]) -> Any:
    torch = _import_torch()
    from torch._export.converter import TS2EPConverter

    example = (torch.rand(input_shape),)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return TS2EPConverter(scripted, example).convert().module()
    except Exception as exc:
        raise ConversionError(
            f"This TorchScript model cannot be turned into an exportable program ({exc}); "
            "export it with torch.export.save(...) to a .pt2 file instead"
        ) from exc


def load_torch_source(source: Any, input_shape: Sequence[int] | None = None) -> TorchSource:
    """Load a PyTorch model for conversion.

    Args:
        source: An ``nn.Module``, or a path to a TorchScript ``.pt`` or ``torch.export`` ``.pt2``.
        input_shape: Input shape, batch first (e.g. ``(1, 3, 224, 224)``). Required for
            modules and TorchScript; a ``.pt2`` program carries its own.

    Returns:
        The :class:`TorchSource`.

    Raises:
        ConversionError: the file is not a model, no input shape is known, or the model
            does not run on that shape.
        MissingDependencyError: torch is not installed.
    """
    torch = _import_torch()
    if isinstance(source, torch.nn.Module):  # also TorchScript modules given directly
        module, file_shape, path = source, None, None
    else:
        path = Path(source)
        module, file_shape = _load_file(path, input_shape)
    shape = tuple(int(d) for d in (input_shape or file_shape or ()))
    if not shape:
        raise ConversionError(
            "The input shape of a PyTorch model is unknown: pass input_shape=(1, 3, 224, 224) "
            "(or --input-shape 1,3,224,224)"
        )
    # Modules from exported programs (.pt2, TorchScript via TS2EP) have no train/eval switch.
    if isinstance(module, torch.jit.ScriptModule):
        module = _script_to_module(module.eval(), shape)
    elif path is None:
        module = module.eval()
    result = TorchSource(
        module=module, input_shape=shape, layout=infer_layout(shape),
        sha256=file_sha256(path) if path else state_dict_sha256(module),
        size_bytes=path.stat().st_size if path else _tensor_bytes(module),
        framework_versions=package_versions("torch", "litert-torch", "onnx", "onnxscript", "onnxslim"),
    )
    _check_runs(result)
    return result


def _tensor_bytes(module: Any) -> int:
    return int(sum(t.numel() * t.element_size() for t in module.state_dict().values()))


def _check_runs(source: TorchSource) -> None:
    x = np.asarray(source.example().numpy())
    try:
        source.predict(x)
    except Exception as exc:
        raise ConversionError(
            f"The PyTorch model does not run on input shape {list(source.input_shape)}: "
            f"{first_line(exc)}. Pass the shape it expects "
            "with input_shape= / --input-shape"
        ) from exc
