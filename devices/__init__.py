"""The hardware layer: what accelerators are here and an ordered plan to use them.

Importable on its own and light (standard library only); it imports nothing from
``edgeinfer`` or ``converters``. The backends are not known here: the caller hands in
their declarations (:class:`BackendDecl`: name, accelerators fastest first, probe).
:func:`probe` looks at the machine and returns plain data; :func:`plan` is a pure
function of that data and the user's request. Board profiles
(``devices/profiles/*.yaml``, read by :func:`load_profile`) give each board its default
threads and accelerator preferences. Nothing here raises for "not present": it reports;
its own errors are in :mod:`devices.errors`::

    import devices
    inventory = devices.probe(backends=[decl, ...])   # board, CPUs, accelerators + evidence
    steps = devices.plan(inventory, "tflite")         # ordered PlanSteps: try/skip + reason

``edgeinfer.backends.probe()`` and ``edgeinfer.backends.plan()`` do this with edgeinfer's
backends and map the errors into edgeinfer's tree.
"""

from __future__ import annotations

from devices.board_profiles import BoardProfile, load_profile
from devices.errors import DevicesError, PlanError, ProfileError
from devices.planning import plan
from devices.probe import probe
from devices.types import AcceleratorInfo, BackendDecl, BackendProbe, Inventory, PlanStep

__all__ = ["AcceleratorInfo", "BackendDecl", "BackendProbe", "BoardProfile", "DevicesError", "Inventory", "PlanError",
           "PlanStep", "ProfileError", "load_profile", "plan", "probe"]
