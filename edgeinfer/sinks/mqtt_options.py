"""Typed options of the MQTT sink, and where its password and queue file come from.

Separate from :mod:`edgeinfer.sinks.mqtt` so a config can be built and validated
without paho installed. Building :class:`MqttOptions` reads no files; the sink calls
:func:`resolve_password` and :func:`default_queue_path` when it starts.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgeinfer.errors import ConfigError

__all__ = ["DEFAULT_TOPIC", "PASSWORD_ENV", "MqttOptions", "TlsOptions", "default_queue_path", "resolve_password"]

DEFAULT_TOPIC = "edgeinfer/{device_id}/{stream}/results"
PASSWORD_ENV = "EDGEINFER_MQTT_PASSWORD"
_TOPIC_FIELDS = frozenset({"device_id", "stream", "model"})


@dataclass(frozen=True)
class TlsOptions:
    """TLS files (PEM paths); ``ca=None`` uses the system CAs, no ``cert``/``key`` no client auth."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    insecure: bool = False  # skip the broker host name check (self-signed lab brokers only)


@dataclass(frozen=True)
class MqttOptions:
    """Typed options of the MQTT sink (the daemon's config builds these).

    Attributes:
        host: Broker host name or address.
        port: Broker port (1883 plain, 8883 TLS by convention).
        qos: 0, 1 or 2 for result messages.
        topic: Result topic template over ``{device_id}``, ``{stream}``, ``{model}``.
        queue_path: SQLite file of the store-and-forward queue; ``None`` for
            :func:`default_queue_path`.
        username: Broker user name, or ``None`` for anonymous.
        password: Password (hidden from ``repr``); see also ``password_file``.
        password_file: File whose first line is the password.
        tls: TLS files, or ``None`` for a plain TCP connection.
        client_id: MQTT client id; ``"edgeinfer-<device_id>"`` when ``None``.
        keepalive_s: MQTT keepalive, seconds; the last will fires after 1.5 x this
            when the device vanishes without closing its socket.
        retain: Publish results with the retain flag.
        on_change: Publish a stream's result only when it differs from the last one.
        max_rate_hz: At most this many results per second per stream, or ``None``.
        queue_max: Rows kept on disk at most; beyond, the oldest are dropped and counted.
    """

    host: str = "localhost"
    port: int = 1883
    qos: int = 1
    topic: str = DEFAULT_TOPIC
    queue_path: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_file: str | None = None
    tls: TlsOptions | None = None
    client_id: str | None = None
    keepalive_s: int = 60
    retain: bool = False
    on_change: bool = False
    max_rate_hz: float | None = None
    queue_max: int = 100_000

    def __post_init__(self) -> None:
        if self.qos not in (0, 1, 2):
            raise ConfigError(f"mqtt qos must be 0, 1 or 2, got {self.qos!r}")
        if not 0 < self.port < 65536:
            raise ConfigError(f"mqtt port must be in 1..65535, got {self.port!r}")
        if self.keepalive_s < 1:
            raise ConfigError(f"mqtt keepalive_s must be at least 1, got {self.keepalive_s!r}")
        if self.queue_max < 1:
            raise ConfigError(f"mqtt queue_max must be at least 1, got {self.queue_max!r}")
        if self.max_rate_hz is not None and not self.max_rate_hz > 0:
            raise ConfigError(f"mqtt max_rate_hz must be positive or null, got {self.max_rate_hz!r}")
        names = {name for _, name, _, _ in string.Formatter().parse(self.topic) if name is not None}
        unknown = names - _TOPIC_FIELDS
        if unknown or not self.topic:
            raise ConfigError(
                f"mqtt topic {self.topic!r} uses unknown fields {sorted(unknown)}; "
                f"allowed: {', '.join('{' + n + '}' for n in sorted(_TOPIC_FIELDS))}"
            )


def default_queue_path(device_id: str, environ: Mapping[str, str] | None = None) -> Path:
    """Where the queue lives when ``queue_path`` is not set.

    ``$EDGEINFER_STATE_DIR``, else ``$XDG_STATE_HOME/edgeinfer``, else
    ``~/.local/state/edgeinfer``; the file is ``mqtt-<device_id>.sqlite3``. Use a
    persistent disk (not ``/tmp`` on a tmpfs) so results survive a power cut.
    """
    env = os.environ if environ is None else environ
    if env.get("EDGEINFER_STATE_DIR"):
        folder = Path(env["EDGEINFER_STATE_DIR"])
    elif env.get("XDG_STATE_HOME"):
        folder = Path(env["XDG_STATE_HOME"]) / "edgeinfer"
    else:
        folder = Path.home() / ".local" / "state" / "edgeinfer"
    return folder / f"mqtt-{re.sub(r'[^A-Za-z0-9_.-]', '_', device_id)}.sqlite3"


def resolve_password(options: MqttOptions, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the password from the options, ``password_file`` or ``EDGEINFER_MQTT_PASSWORD``.

    Raises:
        ConfigError: ``password_file`` cannot be read.
    """
    if options.password is not None:
        return options.password
    if options.password_file is not None:
        try:
            return Path(options.password_file).read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            raise ConfigError(
                f"mqtt password_file {options.password_file!r} cannot be read or is empty: {exc}"
            ) from exc
    env = os.environ if environ is None else environ
    return env.get(PASSWORD_ENV)
