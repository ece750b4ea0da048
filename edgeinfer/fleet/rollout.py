"""Canary rollouts and group rollback, on the dev machine (``edgeinfer fleet push --canary``).

A rollout to a group first sets the per-device desired documents of a few canaries
(:func:`pick_canaries`: the first of the sorted device ids), waits for them to report the
new version ``running`` (the device's health-gated switch reports that only after its
``watch_s``), then sets the group's document for the rest. When a canary reports
``rolled_back`` or ``failed``, or does not report in time, the rollout stops there: the
canaries get their previous per-device documents back (none: cleared, so they follow the
group's unchanged document again) and the group's document is never touched. Devices
that follow a document of their own (it wins over the group's) are left out (``pinned``).

The record of each rollout is retained on ``edgeinfer/fleet/rollouts/{id}``; the group's
document before a push is retained on ``edgeinfer/fleet/{group}/desired/previous``, which
``edgeinfer fleet rollback --group G`` publishes back.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from edgeinfer.errors import ConfigError
from edgeinfer.fleet.desired import desired_topic, group_topic

__all__ = [
    "Rollout", "TERMINAL", "collect", "count_states", "device_state", "pick_canaries", "previous_topic",
    "rollback_group", "rollout_topic", "states",
]

TERMINAL = ("running", "rolled_back", "failed")
REPORTED = "edgeinfer/+/reported"


def rollout_topic(rollout_id: str) -> str:
    """Where a rollout's record is retained."""
    return f"edgeinfer/fleet/rollouts/{rollout_id}"


def previous_topic(group: str) -> str:
    """Where a group's desired document from before the last push is retained."""
    return f"{group_topic(group)}/previous"


def pick_canaries(devices: list[str], canary: str) -> list[str]:
    """The canaries among ``devices``: the first of the sorted ids, at least 1.

    Args:
        devices: The group's device ids.
        canary: A share (``"10%"``, rounded up) or a count (``"2"``).

    Raises:
        ConfigError: not a share or a count.
    """
    text = canary.strip()
    try:
        count = math.ceil(len(devices) * float(text[:-1]) / 100) if text.endswith("%") else int(text)
    except ValueError:
        count = -1
    if count < 0 or (text.endswith("%") and not 0 < float(text[:-1]) <= 100):
        raise ConfigError(f"--canary {canary!r}: give a share of the group (10%) or a number of devices (2)")
    return sorted(devices)[:max(1, min(count, len(devices)))]


def collect(client: Any, topics: list[str], wait_s: float) -> tuple[dict[str, dict[str, Any]], threading.Lock]:
    """Follow the JSON documents on ``topics`` (kept per topic, updated as they change).

    Waits ``wait_s`` for the retained ones before returning.
    """
    docs: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def keep(topic: str, payload: bytes) -> None:
        try:
            doc = json.loads(payload) if payload else None
        except ValueError:
            return
        with lock:
            if isinstance(doc, dict):
                docs[topic] = doc
            else:
                docs.pop(topic, None)

    for topic in topics:
        client.subscribe(topic, keep)
    time.sleep(wait_s)
    return docs, lock


def device_state(report: dict[str, Any] | None, version: str) -> str:
    """A device's state for ``version``: its reported state, or ``pending`` until it follows that version."""
    if not report or report.get("desired_version") != version:
        return "pending"
    return str(report.get("state") or "pending")


def states(record: dict[str, Any], reports: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Each device's state for the rollout: the live one, else the one recorded (a canary set back
    after it failed follows the group's old document again, and stays ``failed`` here)."""
    out = {}
    for device in record.get("devices", []):
        state = device_state(reports.get(device), record["version"])
        out[device] = record.get("states", {}).get(device, state) if state == "pending" else state
    return out


def count_states(record: dict[str, Any], reports: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Devices per state (``pending`` and the reported states) of a rollout record."""
    counts: dict[str, int] = {}
    for state in states(record, reports).values():
        counts[state] = counts.get(state, 0) + 1
    return counts


def rollback_group(client: Any, group: str, wait_s: float = 1.0) -> dict[str, Any] | None:
    """Publish the group's previous desired document back; returns it (``None``: the group's is cleared).

    The document replaced becomes the new ``previous``, so a second rollback undoes the first.

    Raises:
        ConfigError: no previous document is retained for the group.
    """
    docs, lock = collect(client, [group_topic(group), previous_topic(group)], wait_s)
    with lock:
        current, previous = docs.get(group_topic(group)), docs.get(previous_topic(group))
    if previous is None:
        raise ConfigError(f"no previous desired document is retained for group {group!r} "
                          f"({previous_topic(group)}); push the model you want with edgeinfer fleet push")
    restored = previous.get("desired")
    client.publish(group_topic(group), json.dumps(restored) if restored else b"", retain=True)
    client.publish(previous_topic(group), json.dumps({"desired": current, "timestamp": time.time()}), retain=True)
    return restored if isinstance(restored, dict) else None


class Rollout:
    """One canary rollout of a desired document to a group.

    Args:
        client: A connected :class:`~edgeinfer.fleet.broker.BrokerClient`.
        group: The group.
        doc: The desired document to roll out.
        canary: ``"10%"`` or ``"2"`` (see :func:`pick_canaries`).
        wait_s: How long to wait for each phase's reports.
        discover_s: How long to collect the retained documents first.
        on_progress: Called with the record and the reports while waiting.

    Raises:
        ConfigError: no device of the group has reported yet.
    """

    def __init__(self, client: Any, group: str, doc: dict[str, Any], canary: str, *, wait_s: float,
                 discover_s: float = 1.0, on_progress: Callable[[dict[str, Any], dict[str, Any]], None] | None = None
                 ) -> None:
        self.client = client
        self.group = group
        self.doc = doc
        self.wait_s = wait_s
        self.on_progress = on_progress or (lambda record, reports: None)
        docs, self._lock = collect(client, [REPORTED, "edgeinfer/+/desired", group_topic(group)], discover_s)
        self._docs = docs
        with self._lock:
            devices = sorted(str(d["device_id"]) for t, d in docs.items()
                             if t.endswith("/reported") and group in (d.get("groups") or []) and "device_id" in d)
            previous_devices = {d: docs.get(desired_topic(d)) for d in devices}
            previous_group = docs.get(group_topic(group))
        if not devices:
            raise ConfigError(f"no device of group {group!r} has reported on edgeinfer/+/reported; a canary "
                              "rollout needs the group's devices (push without --canary to set the desired state)")
        pinned = [d for d in devices if previous_devices[d]]  # their own document wins over the group's
        devices = [d for d in devices if d not in pinned]
        if not devices:
            raise ConfigError(f"every device of group {group!r} follows its own desired document "
                              f"({', '.join(pinned)}); clear edgeinfer/{{device_id}}/desired to let them follow "
                              "the group")
        canaries = pick_canaries(devices, canary)
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{group}-{doc['version']}")
        self.record: dict[str, Any] = {
            "id": safe, "group": group, "version": doc["version"], "canary": canary, "devices": devices,
            "pinned": pinned,
            "canaries": canaries, "phase": "canary", "result": None, "reason": None, "published": [],
            "previous": {"group": previous_group, "devices": previous_devices}, "states": {},
            "started": time.time(), "updated": time.time(),
        }

    def reports(self) -> dict[str, dict[str, Any]]:
        """The latest reported document per device."""
        with self._lock:
            return {str(d.get("device_id")): dict(d) for t, d in self._docs.items() if t.endswith("/reported")}

    def _publish(self, topic: str, doc: dict[str, Any] | None) -> None:
        self.client.publish(topic, json.dumps(doc) if doc else b"", retain=True)
        self.record["published"].append(topic)

    def _save(self) -> None:
        self.record["states"] = states(self.record, self.reports())
        self.record["updated"] = time.time()
        self.client.publish(rollout_topic(self.record["id"]), json.dumps(self.record), retain=True)

    def _wait(self, devices: list[str]) -> list[str]:
        """Wait until each of ``devices`` is done with the version; returns those not running it."""
        deadline = time.monotonic() + self.wait_s
        while True:
            reports = self.reports()
            states = {d: device_state(reports.get(d), self.record["version"]) for d in devices}
            self.on_progress(self.record, reports)
            bad = [d for d, s in states.items() if s in ("rolled_back", "failed")]
            if bad or all(s == "running" for s in states.values()):
                return bad
            if time.monotonic() >= deadline:
                return [d for d, s in states.items() if s != "running"]
            time.sleep(0.2)

    def run(self) -> dict[str, Any]:
        """Canaries first, then the group; returns the record (``result``: ``done`` or ``stopped``)."""
        record = self.record
        canaries = record["canaries"]
        self._save()
        for device in canaries:
            self._publish(desired_topic(device), self.doc)
        bad = self._wait(canaries)
        reports = self.reports()
        if bad:
            self._save()  # their states, before they follow the group's old document again
            for device in canaries:  # back to what they followed before (the group's unchanged document)
                self._publish(desired_topic(device), record["previous"]["devices"].get(device))
            why = "; ".join(f"{d}: {device_state(reports.get(d), record['version'])}"
                            f"{' (' + str(reports[d].get('reason')) + ')' if reports.get(d, {}).get('reason') else ''}"
                            for d in bad)
            record.update(phase="canary", result="stopped",
                          reason=f"canary {why}; the canaries were set back and group {self.group} was not changed")
            self._save()
            return record
        record["phase"] = "group"
        self.client.publish(previous_topic(self.group),
                            json.dumps({"desired": record["previous"]["group"], "timestamp": time.time()}),
                            retain=True)
        self._publish(group_topic(self.group), self.doc)
        for device in canaries:  # the group's document now holds the version: their own ones go back
            self._publish(desired_topic(device), record["previous"]["devices"].get(device))
        self._save()
        rest = self._wait(record["devices"])
        record.update(result="stopped" if rest else "done",
                      reason=f"not running {record['version']}: {', '.join(rest)}" if rest else None)
        self._save()
        return record
