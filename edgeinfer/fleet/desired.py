"""The fleet's documents: the device's settings (``fleet:``), desired state and reported state.

Desired state is a retained JSON document on ``edgeinfer/fleet/{group}/desired`` or
``edgeinfer/{device_id}/desired``; the device's own document wins over its groups', and
among groups the first listed in ``fleet.groups`` wins. ``"*"`` as a stream name means
every stream of the device::

    {"version": "2026-12-04", "watch_s": 30, "max_error_rate": 0.05, "min_fps_ratio": 0.5,
     "streams": {"front": {"sha256": "...", "size": 123456, "card": {"labels": [...]}}}}

A stream with ``url`` (and ``signature``) is downloaded over HTTPS (:mod:`edgeinfer.fleet.https`)
instead of the MQTT chunks.

The device answers on a retained ``edgeinfer/{device_id}/reported`` (see :func:`reported_document`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeinfer.card import validation_message
from edgeinfer.errors import ConfigError

__all__ = [
    "STATES", "DesiredState", "DesiredStream", "FleetConfig", "desired_topic", "group_topic", "parse_desired",
    "reported_document", "reported_topic",
]

STATES = ("downloading", "verifying", "running", "rolled_back", "failed")
State = Literal["downloading", "verifying", "running", "rolled_back", "failed"]


class FleetConfig(BaseModel):
    """The daemon's ``fleet:`` section: which desired states this device follows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: list[str] = Field([], description="groups whose edgeinfer/fleet/{group}/desired this device follows")
    artifact_dir: Path = Field(Path("artifacts"), description="where verified models are kept (current + previous)")
    public_key: Path = Field(description="the fleet's Ed25519 public key (fleet.pub of edgeinfer fleet keygen)")
    max_artifact_mb: float = Field(200.0, gt=0, description="artifacts larger than this are refused")
    ca_file: Path | None = Field(None, description="PEM CA bundle for https:// artifact URLs; null: the system CAs")
    allow_http: bool = Field(False, description="accept plain http:// artifact URLs (sha256, signature still checked)")


class DesiredStream(BaseModel):
    """The model one stream should run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    size: int = Field(gt=0)
    card: dict[str, Any] = {}
    url: str | None = Field(None, pattern=r"^https?://", description="fetch from here (HTTP Range) instead of MQTT")
    signature: str | None = Field(None, description="with url: base64 Ed25519 signature of the sha256")


class DesiredState(BaseModel):
    """A desired-state document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    streams: dict[str, DesiredStream]
    watch_s: float = Field(30.0, ge=0)
    max_error_rate: float = Field(0.05, ge=0, le=1)
    min_fps_ratio: float = Field(0.5, ge=0)


def group_topic(group: str) -> str:
    """Where a group's desired state is retained."""
    return f"edgeinfer/fleet/{group}/desired"


def desired_topic(device_id: str) -> str:
    """Where one device's own desired state is retained."""
    return f"edgeinfer/{device_id}/desired"


def reported_topic(device_id: str) -> str:
    """Where a device reports what it runs (retained)."""
    return f"edgeinfer/{device_id}/reported"


def parse_desired(payload: bytes | str) -> DesiredState | None:
    """A desired document, or ``None`` for an empty payload (a cleared retained message).

    Raises:
        ConfigError: not JSON, or invalid keys (one line per key).
    """
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise ConfigError(f"the desired state is not valid JSON: {exc}") from exc
    try:
        return DesiredState.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, "desired state")) from exc


def reported_document(device_id: str, groups: list[str], streams: dict[str, dict[str, Any]], *,
                      version: str | None, desired_version: str | None, source: str | None) -> dict[str, Any]:
    """The retained ``reported`` document.

    Args:
        device_id: This device.
        groups: Its groups.
        streams: Per stream: ``sha256`` (what runs), ``desired`` (the sha256 asked for),
            ``state`` and ``reason``.
        version: The version fully in force (every stream runs it), else ``None``.
        desired_version: The version of the desired document followed.
        source: The topic of that document.

    Returns:
        ``{"device_id", "groups", "version", "desired_version", "source", "state", "reason",
        "streams", "timestamp"}``; ``state`` is the first of failed, rolled_back,
        downloading, verifying found among the streams, else running.
    """
    order = ("failed", "rolled_back", "downloading", "verifying", "running")
    states = [s.get("state", "running") for s in streams.values()] or ["running"]
    state = next(s for s in order if s in states)
    reason = next((s.get("reason") for s in streams.values() if s.get("state") == state and s.get("reason")), None)
    return {"device_id": device_id, "groups": groups, "version": version, "desired_version": desired_version,
            "source": source, "state": state, "reason": reason, "streams": streams, "timestamp": time.time()}
