"""Registries: a name maps to ``"module:Class"`` plus an install hint.

Every extension point (backends, sources, sinks, converters) keeps one
:class:`Registry`. The implementation class is imported on first lookup, so importing
edgeinfer never imports an optional dependency. Third parties add entries with
:meth:`Registry.register` or through the entry-point group named by the registry.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from edgeinfer.errors import ConfigError, MissingDependencyError

__all__ = ["Registry", "RegistryEntry"]

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryEntry:
    """One registered implementation.

    Attributes:
        name: The registry key, the config ``type`` value and the module name.
        target: ``"package.module:ClassName"``.
        extra: The pip extra that provides its dependencies (``""`` for none).
        package: The import name of the dependency that may be missing.
    """

    name: str
    target: str
    extra: str = ""
    package: str = ""


class Registry(Generic[T]):
    """A name -> lazily imported class map for one extension point."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, RegistryEntry] = {}
        self._group = entry_point_group
        self._loaded_entry_points = False

    def register(self, name: str, target: str, *, extra: str = "", package: str = "") -> None:
        """Add an implementation; a name that is already taken raises ``ConfigError``."""
        if name in self._entries:
            raise ConfigError(f"A {self.kind} named {name!r} is already registered")
        self._entries[name] = RegistryEntry(name, target, extra, package)

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def entry(self, name: str) -> RegistryEntry:
        """Return the entry for ``name`` or raise ``ConfigError`` with the closest match."""
        self._load_entry_points()
        try:
            return self._entries[name]
        except KeyError:
            known = sorted(self._entries)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)}"
            ) from None

    def get(self, name: str) -> type[T]:
        """Import and return the class registered as ``name``.

        Raises:
            ConfigError: the name is unknown.
            MissingDependencyError: the implementation's dependency is not installed.
        """
        entry = self.entry(name)
        module_name, _, attr = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            missing = exc.name or entry.package or module_name
            raise MissingDependencyError(
                missing, entry.extra or "all", f"the {name!r} {self.kind}"
            ) from exc
        cls: type[T] = getattr(module, attr)
        return cls

    def _load_entry_points(self) -> None:
        if self._loaded_entry_points or self._group is None:
            return
        self._loaded_entry_points = True
        for ep in entry_points(group=self._group):
            if ep.name not in self._entries:
                self._entries[ep.name] = RegistryEntry(ep.name, ep.value.replace(" ", ""))

    def __contains__(self, name: Any) -> bool:
        self._load_entry_points()
        return name in self._entries
