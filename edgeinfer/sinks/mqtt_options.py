"""The one MQTT schema: the ``mqtt:`` section of the daemon's config and the sink's options.

Separate from :mod:`edgeinfer.sinks.mqtt` so a config can be built and validated
without paho installed. Building :class:`MqttConfig` reads no files: ``load_config``
(for the daemon) and the sink (when built directly) call :func:`resolve_password`, the
one password lookup, and the sink calls :func:`default_queue_path` when ``queue_path``
is ``None``. ``MqttOptions`` and ``TlsOptions`` are the same schema for code that builds
the sink itself; they raise ``ConfigError`` on a bad value.
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
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Direct(BaseModel):
    """Built directly in code, a bad value is a ``ConfigError`` (not pydantic's error)."""

    def __init__(self, **data: Any) -> None:
        # A custom __init__ is also what pydantic calls for a nested section, so only
        # these subclasses have one: the daemon's config reports every bad key itself.
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
    """Broker connection and store-and-forward queue (the ``mqtt:`` section, the sink's options)."""

    host: str = Field("127.0.0.1", description="broker host name or address")
    port: int = Field(1883, ge=1, le=65535, description="1883 plain TCP, 8883 by convention with TLS")
    qos: Literal[0, 1, 2] = Field(1, description="0 at most once, 1 at least once, 2 exactly once")
    topic: str = Field(DEFAULT_TOPIC, description="result topic over {device_id}, {stream} and {model}")
    queue_path: Path | None = Field(None, description=(
        "SQLite file of the store-and-forward queue; null: $EDGEINFER_STATE_DIR/mqtt-<device_id>.sqlite3 "
        "(or the XDG state folder)"))
    queue_max: int = Field(100_000, ge=1, description="rows kept at most; beyond, the oldest are dropped (counted)")
    username: str | None = Field(None, description="broker user name; null for anonymous")
    password: SecretStr | None = Field(None, description="the password inline (prefer password_file)")
    password_file: Path | None = Field(None, description="file whose first line is the password")
    password_env: str | None = Field(PASSWORD_ENV, description="environment variable with the password")
    tls: TlsConfig | None = Field(None, description="TLS files; null for plain TCP")
    client_id: str | None = Field(None, description='MQTT client id; null for "edgeinfer-<device_id>"')
    keepalive_s: int = Field(30, ge=5, description=(
        "MQTT keepalive, seconds; the broker publishes the last will after 1.5x this of silence"))
    retain: bool = Field(False, description="publish results with the retain flag")
    on_change: bool = Field(False, description="publish a stream's result only when it differs from the last")
    max_rate_hz: float | None = Field(None, gt=0, description="at most this many results per second per stream")

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


class TlsOptions(_Direct, TlsConfig):
    """:class:`TlsConfig` for code: ``MqttOptions(tls=TlsOptions(ca=...))``."""


class MqttOptions(_Direct, MqttConfig):
    """:class:`MqttConfig` for code: ``MqttSink(MqttOptions(host=...), device_id=...)``."""


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
