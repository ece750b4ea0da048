"""Remote commands on ``edgeinfer/{device_id}/cmd``: the topic, parsing and the model-switch guard.

:class:`CommandChannel` subscribes to the command topic on the daemon's message
connection (the MQTT sink) and publishes each reply on ``.../cmd/reply``.

A model may be switched only to a file inside ``control.model_dir`` whose sha256 matches
the one in the command; the path is resolved (symlinks included) and checked before the
file is opened, and the model is loaded from the bytes that were hashed and run once
before it replaces the running one, so a file that cannot load or run is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeinfer.errors import ModelError

if TYPE_CHECKING:
    from edgeinfer.model import Model
    from edgeinfer.sinks.base import Connection

__all__ = [
    "COMMANDS", "CommandChannel", "CommandError", "ModelSwitch", "command_topic", "decode_command",
    "load_stream_model", "load_switched_model", "parse_command", "resolve_model_switch",
]

COMMANDS = ("reload", "pause", "resume", "status", "model")


def command_topic(device_id: str) -> str:
    """Where commands for ``device_id`` arrive; replies go to this topic plus ``/reply``."""
    return f"edgeinfer/{device_id}/cmd"


class CommandChannel:
    """Commands in and replies out over a message connection.

    Args:
        connection: The daemon's connection (the MQTT sink): ``subscribe`` and ``publish_raw``.
        device_id: This device's name (the topic level).
        on_command: Called with each command's payload, on the connection's network
            thread: keep it short (the daemon queues it).
    """

    def __init__(self, connection: Connection, device_id: str, on_command: Callable[[bytes], None]) -> None:
        self.connection = connection
        self.topic = command_topic(device_id)
        self.reply_topic = f"{self.topic}/reply"
        connection.subscribe(self.topic, lambda _topic, payload: on_command(payload))

    def reply(self, reply: dict[str, Any]) -> bool:
        """Publish a command's reply (not queued: False when not connected)."""
        return self.connection.publish_raw(self.reply_topic, json.dumps(reply))


class CommandError(Exception):
    """A remote command was refused; the message goes back in the reply."""


@dataclass(frozen=True)
class ModelSwitch:
    """A verified request to run another model on a stream."""

    stream: str
    path: Path
    sha256: str
    data: bytes


def decode_command(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Decode ``{"cmd": ..., "id": ..., ...}`` (or a bare command word) into a dict, unchecked.

    Raises:
        CommandError: the payload is not a JSON object.
    """
    if isinstance(payload, dict):
        return dict(payload)
    text = (payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload).strip()
    try:
        command = json.loads(text) if text.startswith("{") else {"cmd": text}
    except json.JSONDecodeError as exc:
        raise CommandError(f"the command is not valid JSON: {exc}") from exc
    if not isinstance(command, dict):
        raise CommandError("the command must be a JSON object such as {\"cmd\": \"status\"}")
    return command


def parse_command(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Decode a command and check that it is one of :data:`COMMANDS`.

    Raises:
        CommandError: not JSON, or an unknown command.
    """
    command = decode_command(payload)
    if command.get("cmd") not in COMMANDS:
        raise CommandError(f"unknown command {command.get('cmd')!r}; choose one of {', '.join(COMMANDS)}")
    return command


def resolve_model_switch(command: dict[str, Any], model_dir: Path | None, streams: list[str]) -> ModelSwitch:
    """Check a ``model`` command: allowed folder, existing stream, matching sha256.

    The command is ``{"cmd": "model", "stream": "front", "path": "new.tflite", "sha256": "..."}``;
    ``stream`` may be omitted when there is only one, ``path`` is relative to ``model_dir``.

    Raises:
        CommandError: switching is disabled, the path leaves the folder, the file is
            missing, or its sha256 differs.
    """
    if model_dir is None:
        raise CommandError("model switching is disabled; set control.model_dir in the config")
    stream = command.get("stream") or (streams[0] if len(streams) == 1 else None)
    if stream not in streams:
        raise CommandError(f"unknown stream {stream!r}; streams: {', '.join(streams)}")
    name, expected = command.get("path"), str(command.get("sha256", "")).lower()
    if not isinstance(name, str) or not name:
        raise CommandError("a model command needs 'path' (a file inside control.model_dir)")
    if len(expected) != 64:
        raise CommandError("a model command needs the file's 'sha256' (64 hex digits)")
    base = model_dir.resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise CommandError(f"{name!r} is outside the allowed folder {base}; nothing was opened")
    if not path.is_file():
        raise CommandError(f"no model file {name!r} in {base}")
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        # The file's real hash stays out of the reply: whoever may send commands need not learn it.
        raise CommandError(f"the sha256 given does not match {path.name}; model not switched")
    return ModelSwitch(str(stream), path, actual, data)


def load_switched_model(switch: ModelSwitch, *, accelerator: str, threads: int | None) -> Model:
    """Load the verified file of ``switch`` and run it once on zeros (:meth:`Model.warm`).

    Raises:
        ModelError: the file does not load or does not run (nothing was switched).
        AcceleratorError: the stream's accelerator cannot run it.
    """
    import edgeinfer

    try:
        model = edgeinfer.load(switch.data, accelerator=accelerator, threads=threads)
        try:
            model.warm()
        except Exception:
            model.close()
            raise
    except ModelError as exc:  # loaded from the bytes that were hashed: name the file in the reply
        raise type(exc)(f"{switch.path.name}: {str(exc).removeprefix('<bytes>: ')}") from exc
    return model


def load_stream_model(stream_config: Any) -> Any:
    """Load a stream's ``model:``: a model file, or a YAML card naming an OCR chain (``load_ocr``).

    Raises:
        ModelError: the file does not load.
        ConfigError: the card is invalid.
    """
    import edgeinfer

    if stream_config.model.suffix.lower() in (".yaml", ".yml"):
        return edgeinfer.load_ocr(stream_config.model, accelerator=stream_config.accelerator)
    return edgeinfer.load(stream_config.model, accelerator=stream_config.accelerator,
                          threads=stream_config.threads, card=stream_config.card)
