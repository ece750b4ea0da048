"""The daemon's typed configuration, validated once at the edge of the program.

:func:`load_config` is the only code that reads the YAML file (and password files and the
environment); everything else takes the frozen objects it returns. Unknown keys and bad
values raise ``ConfigError`` naming the key, the value and the allowed choices.
``edgeinfer run --schema`` prints the JSON schema for editors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from edgeinfer.card import validation_message
from edgeinfer.errors import ConfigError

__all__ = [
    "DaemonConfig", "HttpConfig", "JsonlSinkConfig", "MqttConfig", "MqttSinkConfig", "StreamConfig",
    "TlsConfig", "VideoSinkConfig", "WebhookSinkConfig", "json_schema", "load_config", "parse_config",
]

PASSWORD_ENV = "EDGEINFER_MQTT_PASSWORD"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    """TLS for the broker connection: CA certificate, and a client certificate and key."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together: give both or neither")
        return self


class MqttConfig(_Strict):
    """Broker connection and store-and-forward queue."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    qos: Literal[0, 1, 2] = 1
    topic: str = "edgeinfer/{device_id}/{stream}/results"
    queue_path: Path | None = Path("/var/lib/edgeinfer/queue.db")
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

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give mqtt.password or mqtt.password_file, not both")
        return self

    @field_validator("topic")
    @classmethod
    def _topic_placeholders(cls, value: str) -> str:
        try:
            value.format(device_id="d", stream="s")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"topic may use only {{device_id}} and {{stream}} placeholders ({exc})") from None
        if "#" in value or "+" in value:
            raise ValueError("topic must not contain MQTT wildcards # or +")
        return value


class GateConfig(_Strict):
    """Skip inference while the scene is static (see :mod:`edgeinfer.gating`)."""

    threshold: float = Field(2.0, ge=0.0, description="mean absolute change (0..255) of grey thumbnails")
    size: int = Field(32, ge=4, le=256, description="thumbnail side, pixels")
    max_skip_s: float | None = Field(10.0, gt=0, description="infer at least this often, seconds")


class StreamConfig(_Strict):
    """One camera/stream/file and the model that watches it."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    source: str | int
    policy: Literal["latest", "every"] | None = None
    model: Path
    card: Path | None = None
    card_overrides: dict[str, Any] = {}
    accelerator: str = "auto"
    threads: int | None = Field(None, ge=1)
    workers: int = Field(1, ge=1, le=16, description=(
        "interpreters running side by side, each on its own frames; with threads: 1, workers: "
        "<cores> gives the most frames/s on a CPU (each worker holds its own copy of the model)"))
    width: int | None = Field(None, ge=1)
    height: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0)
    loop: bool = False
    gate: GateConfig | None = None


class MqttSinkConfig(_Strict):
    """Publish results to the broker in ``mqtt``."""

    type: Literal["mqtt"] = "mqtt"


class JsonlSinkConfig(_Strict):
    """Write one JSON line per result to stdout (``path: null``) or a file."""

    type: Literal["jsonl"] = "jsonl"
    path: Path | None = None


class VideoSinkConfig(_Strict):
    """Write annotated frames to an MP4 file or a folder of images."""

    type: Literal["video"] = "video"
    path: Path
    fps: float = Field(15.0, gt=0)


class WebhookSinkConfig(_Strict):
    """POST each result as JSON to a URL."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0)


SinkConfig = Annotated[
    MqttSinkConfig | JsonlSinkConfig | VideoSinkConfig | WebhookSinkConfig, Field(discriminator="type")
]


class HttpConfig(_Strict):
    """The local web page with a live view of each stream and its stats."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token: SecretStr | None = None


class ControlConfig(_Strict):
    """Remote control over ``edgeinfer/{device_id}/cmd``."""

    enabled: bool = True
    model_dir: Path | None = Field(None, description="models may be switched only to files in this folder")


class DaemonConfig(_Strict):
    """The whole ``edgeinfer run`` configuration."""

    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mqtt: MqttConfig | None = None
    streams: list[StreamConfig] = Field(min_length=1)
    sinks: list[SinkConfig] = [MqttSinkConfig()]
    health_interval_s: float = Field(30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    http: HttpConfig | None = None
    control: ControlConfig = ControlConfig()

    @field_validator("sinks", mode="before")
    @classmethod
    def _names_to_sinks(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"type": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> DaemonConfig:
        names = [s.name for s in self.streams]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stream names must be unique; repeated: {duplicates}")
        if any(s.type == "mqtt" for s in self.sinks) and self.mqtt is None:
            raise ValueError("sink 'mqtt' needs an mqtt: section (host, port, ...)")
        return self

    def mqtt_password(self) -> str | None:
        """The broker password resolved by :func:`load_config` (never logged)."""
        if self.mqtt is None or self.mqtt.password is None:
            return None
        return self.mqtt.password.get_secret_value()


def parse_config(data: Any, where: str = "config") -> DaemonConfig:
    """Validate an already-loaded mapping. Reads nothing.

    Raises:
        ConfigError: with one line per invalid key: the key, the value and the fix.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping (device_id, streams, sinks, ...)")
    try:
        return DaemonConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, where)) from exc


def load_config(path: str | Path) -> DaemonConfig:
    """Read and validate a YAML config; resolve relative paths and the broker password.

    Relative paths (models, cards, queue, sinks) are taken from the config file's folder.
    The password comes from ``mqtt.password``, ``mqtt.password_file`` or the environment
    variable named by ``mqtt.password_env`` (default ``EDGEINFER_MQTT_PASSWORD``).

    Raises:
        ConfigError: unreadable file, invalid YAML, or invalid keys/values.
    """
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    config = parse_config(data, str(path))
    return _resolve(config, path.parent.resolve())


def _resolve(config: DaemonConfig, base: Path) -> DaemonConfig:
    def rel(p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else base / p)

    streams = [s.model_copy(update={"model": rel(s.model), "card": rel(s.card)}) for s in config.streams]
    sinks = [s.model_copy(update={"path": rel(s.path)}) if isinstance(s, JsonlSinkConfig | VideoSinkConfig)
             and s.path is not None else s for s in config.sinks]
    update: dict[str, Any] = {"streams": streams, "sinks": sinks}
    if config.mqtt is not None:
        update["mqtt"] = config.mqtt.model_copy(update={
            "queue_path": rel(config.mqtt.queue_path), "password": _password(config.mqtt, base),
            "password_file": rel(config.mqtt.password_file)})
    if config.control.model_dir is not None:
        update["control"] = config.control.model_copy(update={"model_dir": rel(config.control.model_dir)})
    return config.model_copy(update=update)


def _password(mqtt: MqttConfig, base: Path) -> SecretStr | None:
    if mqtt.password is not None:
        return mqtt.password
    if mqtt.password_file is not None:
        file = mqtt.password_file if mqtt.password_file.is_absolute() else base / mqtt.password_file
        try:
            return SecretStr(file.read_text().strip())
        except OSError as exc:
            raise ConfigError(f"mqtt.password_file {str(file)!r} cannot be read ({exc.strerror})") from exc
    if mqtt.password_env and os.environ.get(mqtt.password_env):
        return SecretStr(os.environ[mqtt.password_env])
    return None


def json_schema() -> dict[str, Any]:
    """The JSON schema of the config file, for editors (yaml-language-server)."""
    schema: dict[str, Any] = DaemonConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgeinfer run configuration"
    return schema
