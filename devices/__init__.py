"""The hardware layer: what accelerators are here and an ordered plan to use them.

Importable on its own and light (standard library only). :func:`probe` looks at the
machine and returns plain data; :func:`plan` is a pure function of that data and the
user's request. Nothing here raises for "not present": it reports.
"""

from __future__ import annotations

from devices.planning import plan
from devices.probe import probe
from devices.types import AcceleratorInfo, Inventory, PlanStep

__all__ = ["AcceleratorInfo", "Inventory", "PlanStep", "plan", "probe"]
