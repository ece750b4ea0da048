"""The hardware layer: what accelerators are here and an ordered plan to use them.

Importable on its own and light (standard library only). :func:`probe` looks at the
machine and returns plain data; :func:`plan` is a pure function of that data and the
user's request. Board profiles (``devices/profiles/*.yaml``, read by
:func:`load_profile`) give each board its default threads and accelerator preferences.
Nothing here raises for "not present": it reports::

    import devices
    inventory = devices.probe()                      # board, CPUs, accelerators + evidence
    steps = devices.plan(inventory, "tflite")         # ordered PlanSteps: try/skip + reason
"""

from __future__ import annotations

from devices.board_profiles import BoardProfile, load_profile
from devices.planning import plan
from devices.probe import probe
from devices.types import AcceleratorInfo, Inventory, PlanStep

__all__ = ["AcceleratorInfo", "BoardProfile", "Inventory", "PlanStep", "load_profile", "plan", "probe"]
