"""The one MQTT schema: the ``mqtt:`` section of the daemon's config and the sink's options.

Separate from :mod:`edgeinfer.sinks.mqtt` so a config can be built and validated
without paho installed. Building :class:`MqttConfig` reads no files: ``load_config``
(for the daemon) and the sink (when built directly) call :func:`resolve_password`, the
one password lookup, and the sink calls :func:`default_queue_path` when ``queue_path``
is ``None``. ``MqttOptions`` and ``TlsOptions`` are the names the sink's users know.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from edgeinfer.card import validation_message
from edgeinfer.errors import ConfigError
from edgeinfer.sinks.base import SinkConfig

__all__ = [
    "DEFAULT_TOPIC", "PASSWORD_ENV", "MqttConfig", "MqttOptions", "MqttSinkConfig", "TlsConfig", "TlsOptions",
    "default_queue_path", "resolve_password",
]

DEFAULT_TOPIC = "edgeinfer/{device_id}/{stream}/results"
PASSWORD_ENV = "EDGEINFER_MQTT_PASSWORD"
_TOPIC_FIELDS = frozenset({"device_id", "stream", "model"})


class _Options(BaseModel):
    """Frozen, unknown keys refused; built directly, a bad value is a ``ConfigError``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **data: Any) -> None:
        # Only direct construction comes here; inside the daemon's config pydantic
        # validates the section itself and load_config reports every key at once.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, "MQTT options")) from exc


class TlsConfig(_Options):
    """TLS for the broker connection (PEM files); ``ca: null`` uses the system CAs."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = Field(False, description="skip the broker host name check (self-signed lab brokers only)")

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: give both or neither")
        return self


class MqttConfig(_Options):
    """Broker connection and store-and-forward queue (the ``mqtt:`` section; the sink's options).

    Attributes:
        host: Broker host name or address.
        port: Broker port (1883 plain, 8883 TLS by convention).
        qos: 0, 1 or 2 for result messages.
        topic: Result topic template over ``{device_id}``, ``{stream}``, ``{model}``.
        queue_path: SQLite file of the store-and-forward queue; ``None`` for
            :func:`default_queue_path` (``edgeinfer run`` defaults it to
            ``/var/lib/edgeinfer/queue.db``).
        queue_max: Rows kept on disk at most; beyond, the oldest are dropped and counted.
        username: Broker user name, or ``None`` for anonymous.
        password: Password (hidden from ``repr``); see :func:`resolve_password`.
        password_file: File whose first line is the password.
        password_env: Environment variable holding the password when neither is given.
        tls: TLS files, or ``None`` for a plain TCP connection.
        client_id: MQTT client id; ``"edgeinfer-<device_id>"`` when ``None``.
        keepalive_s: MQTT keepalive, seconds; the last will fires after 1.5 x this
            when the device vanishes without closing its socket.
        retain: Publish results with the retain flag.
        on_change: Publish a stream's result only when it differs from the last one.
        max_rate_hz: At most this many results per second per stream, or ``None``.
    """

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    qos: Literal[0, 1, 2] = 1
    topic: str = DEFAULT_TOPIC
    queue_path: Path | None = None
    queue_max: int = Field(100_000, ge=1)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = PASSWORD_ENV
    tls: TlsConfig | None = None
    client_id: str | None = None
    keepalive_s: int = Field(30, ge=5)
    retain: bool = False
    on_change: bool = False
    max_rate_hz: float | None = Field(None, gt=0)

    @field_validator("qos", mode="before")
    @classmethod
    def _qos_choice(cls, value: Any) -> Any:
        if value not in (0, 1, 2) or isinstance(value, bool):
            raise ValueError("qos must be 0, 1 or 2")
        return value

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give mqtt.password or mqtt.password_file, not both")
        return self

    @field_validator("topic")
    @classmethod
    def _topic_placeholders(cls, value: str) -> str:
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"topic {value!r} is not a valid template ({exc})") from None
        unknown = names - _TOPIC_FIELDS
        if unknown or not value:
            raise ValueError(f"topic {value!r} uses unknown fields {sorted(unknown)}; "
                             f"allowed: {', '.join('{' + n + '}' for n in sorted(_TOPIC_FIELDS))}")
        if "#" in value or "+" in value:
            raise ValueError("topic must not contain MQTT wildcards # or +")
        return value


MqttOptions = MqttConfig  # the sink's name for the same schema: MqttSink(MqttOptions(...), device_id=...)
TlsOptions = TlsConfig


class MqttSinkConfig(SinkConfig):
    """Publish results to the broker in the ``mqtt:`` section."""

    uses: ClassVar[tuple[str, ...]] = ("mqtt", "device_id")
    keep_on_reload: ClassVar[bool] = True  # one MQTT session across reloads when mqtt: is unchanged

    type: Literal["mqtt"] = "mqtt"


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


def resolve_password(options: MqttConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The broker password: ``password``, else the first line of ``password_file``, else the
    environment variable named by ``password_env`` (``EDGEINFER_MQTT_PASSWORD``).

    Raises:
        ConfigError: ``password_file`` cannot be read or is empty.
    """
    if options.password is not None:
        return options.password.get_secret_value()
    if options.password_file is not None:
        try:
            return options.password_file.read_text().splitlines()[0]
        except (OSError, IndexError) as exc:
            reason = "is empty" if isinstance(exc, IndexError) else f"cannot be read ({exc.strerror})"
            raise ConfigError(f"mqtt.password_file {str(options.password_file)!r} {reason}") from exc
    env = os.environ if environ is None else environ
    return (env.get(options.password_env) or None) if options.password_env else None
