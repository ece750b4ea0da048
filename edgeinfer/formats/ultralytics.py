"""Ultralytics export metadata, as each format stores it (read, never evaluated).

ONNX ``metadata_props`` hold ``str()`` of Python values (``names`` is a dict literal such
as ``"{0: 'person', 1: 'bicycle'}"``, ``imgsz`` is ``"[640, 640]"``); TFLite files carry
the same metadata as JSON in a zip member ``metadata.json`` appended to the flatbuffer.
Literals are read with :func:`ast.literal_eval`, never ``eval``; a value that does not
parse is left out with a logged warning.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["MEMBER", "from_json_member", "from_literal_props", "looks_ultralytics"]

log = logging.getLogger("edgeinfer.card")

# Keys Ultralytics writes as ``str(python value)`` into ONNX metadata_props.
_LITERAL_KEYS = ("names", "imgsz", "stride", "batch", "channels", "args", "kpt_shape", "end2end")
MEMBER = "metadata.json"


def looks_ultralytics(meta: Mapping[str, Any]) -> bool:
    """True for metadata written by Ultralytics (its author, or ``names`` with ``stride``)."""
    return str(meta.get("author", "")).startswith("Ultralytics") or ("names" in meta and "stride" in meta)


def from_literal_props(props: Mapping[str, str], label: str) -> dict[str, Any] | None:
    """Ultralytics metadata from ONNX ``metadata_props`` (Python literals), or ``None``."""
    if not looks_ultralytics(props):
        return None
    meta: dict[str, Any] = {}
    for key, text in props.items():
        if key not in _LITERAL_KEYS:
            meta[key] = text
            continue
        try:
            meta[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            log.warning("%s: ignoring Ultralytics metadata %r = %.80r: not a Python literal (%s)",
                        label, key, text, type(exc).__name__)
    return meta


def from_json_member(raw: bytes | None, label: str) -> dict[str, Any] | None:
    """Ultralytics metadata from the appended ``metadata.json`` member, or ``None``."""
    if raw is None:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        log.warning("%s: ignoring %s appended to the model: not JSON (%s)", label, MEMBER, exc)
        return None
    if not isinstance(value, dict):
        log.warning("%s: ignoring %s appended to the model: not a JSON object", label, MEMBER)
        return None
    return value if looks_ultralytics(value) else None
