"""The journal of open events: what a killed process leaves behind, ended at the next start.

:class:`~edgeinfer.events.engine.EventEngine` keeps its open events (their latest message)
in one JSON file, rewritten atomically (temporary file + rename) whenever the set of open
events changes and about once a second otherwise, so its ``last_seen`` is nearly current.
At the next start the events still in it get an ``end`` with reason ``interrupted``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["Journal"]

log = logging.getLogger(__name__)
VERSION = 1


class Journal:
    """One JSON file holding the open events' latest messages.

    Args:
        path: The journal file (its folder is created when needed).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """The events in the journal; ``[]`` when it is missing, or corrupt (logged)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("event journal %s unreadable (%s); its open events are lost", self.path, exc.strerror)
            return []
        try:
            data = json.loads(text)
            events = data["events"]
            if data.get("version") != VERSION or not isinstance(events, list):
                raise ValueError(f"version {data.get('version')!r}, events of type {type(events).__name__}")
            valid = [e for e in events if isinstance(e, dict) and isinstance(e.get("event_id"), str)]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("event journal %s is corrupt (%s); ignoring it and starting afresh", self.path, exc)
            return []
        return valid

    def write(self, events: Iterable[dict[str, Any]]) -> None:
        """Replace the journal's content with ``events``; a failed write is logged."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": VERSION, "events": list(events)}))
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.warning("event journal %s not written (%s); a crash now would lose the open events",
                        self.path, exc.strerror or exc)
