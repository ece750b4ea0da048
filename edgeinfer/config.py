"""The daemon's typed configuration, validated once at the edge of the program.

:func:`load_config` is the only code that reads the YAML file (and password files and the
environment); everything else takes the frozen objects it returns. Unknown keys and bad
values raise ``ConfigError`` naming the key, the value and the allowed choices.
``edgeinfer run --schema`` prints the JSON schema for editors.

The ``sinks:`` list is not written here: each sink declares its own config class (see
:mod:`edgeinfer.sinks`), and :func:`config_model` builds the discriminated union of every
registered sink, entry points included. The ``mqtt:`` section is the MQTT sink's own
schema (:mod:`edgeinfer.sinks.mqtt_options`), the ``gate:`` key the gate's
(:mod:`edgeinfer.gating`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from edgeinfer.card import validation_message
from edgeinfer.errors import ConfigError
from edgeinfer.events import ClipConfig, EventsConfig, LineConfig, ZoneConfig
from edgeinfer.fleet.desired import FleetConfig
from edgeinfer.gating import GateConfig
from edgeinfer.publishing import EventSetup
from edgeinfer.sinks.jsonl import JsonlSinkConfig
from edgeinfer.sinks.mqtt_options import (
    MqttConfig,
    MqttSinkConfig,
    TlsConfig,
    default_queue_path,
    resolve_password,
)
from edgeinfer.sinks.video import VideoSinkConfig
from edgeinfer.sinks.webhook import WebhookSinkConfig
from edgeinfer.tracking import TrackerConfig

# The sinks' configs (JsonlSinkConfig, ...) live with the sinks; they are also exported
# here, under the names this module always had.
__all__ = [
    "DaemonConfig", "HttpConfig", "JsonlSinkConfig", "MqttConfig", "MqttSinkConfig", "StreamConfig",
    "TlsConfig", "VideoSinkConfig", "WebhookSinkConfig", "config_model", "json_schema", "load_config",
    "parse_config",
]

DAEMON_QUEUE_PATH = Path("/var/lib/edgeinfer/queue.db")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    tracker: TrackerConfig | None = Field(None, description=(
        "follow objects across frames: bytetrack, iou or none (default: bytetrack when events are on)"))
    zones: dict[str, ZoneConfig] = Field({}, description="named polygons [[x, y], ...]; zones turn events on")
    zones_file: Path | None = Field(None, description=(
        "a YAML file with zones: and lines: (as edgeinfer predict --zones takes); it turns events on"))
    lines: dict[str, LineConfig] = Field({}, description="named directed lines [A, B]; lines turn events on")
    events: EventsConfig | None = Field(None, description=(
        "new/update/end events of tracked objects (default settings when zones, lines or clips are set)"))
    clips: ClipConfig | None = Field(None, description=(
        "an MP4 clip per event in <dir>/<stream>/<event_id>.mp4, from pre_s before to post_s after it; "
        "clips turn events on"))
    publish: list[Literal["events", "results"]] | None = Field(None, min_length=1, description=(
        "what goes to the sinks: [events] (default when events are on), [results] (default otherwise) or both"))

    @model_validator(mode="after")
    def _events_need_tracks(self) -> StreamConfig:
        setup = self.event_setup()
        if setup is not None and self.tracker is not None and self.tracker.type == "none":
            raise ValueError("events follow tracks, but tracker is none; use tracker: bytetrack (or iou)")
        if setup is None and (self.zones or self.zones_file or self.lines or self.events or self.clips):
            raise ValueError("zones, lines, events and clips make events, but publish has no events; "
                             "use publish: [events] or [events, results]")
        return self

    def event_setup(self, journal: Path | None = None) -> EventSetup | None:
        """The stream's :class:`~edgeinfer.publishing.EventSetup`, or ``None`` when it publishes results only."""
        wanted = bool(self.zones or self.zones_file or self.lines or self.events or self.clips)
        publish = self.publish or (["events"] if wanted else ["results"])
        if "events" not in publish:
            return None
        return EventSetup(zones=self.zones, zones_file=self.zones_file, lines=self.lines,
                          events=self.events or EventsConfig(), clips=self.clips, publish=publish, journal=journal)


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

    # parse_config/load_config validate with config_model(): this class with ``sinks``
    # checked against the config class of every registered sink.

    device_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    mqtt: MqttConfig | None = Field(None, description=(
        f"the broker; here queue_path defaults to {DAEMON_QUEUE_PATH} (null: the state directory)"))
    streams: list[StreamConfig] = Field(min_length=1)
    sinks: list[Any] = [MqttSinkConfig()]
    health_interval_s: float = Field(30.0, gt=0)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    http: HttpConfig | None = None
    control: ControlConfig = ControlConfig()
    fleet: FleetConfig | None = Field(None, description="follow a fleet's desired state (edgeinfer fleet push)")

    @field_validator("mqtt", mode="before")
    @classmethod
    def _daemon_queue_path(cls, value: Any) -> Any:
        if isinstance(value, dict) and "queue_path" not in value:
            return {**value, "queue_path": DAEMON_QUEUE_PATH}
        return value

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
        for sink in self.sinks:
            missing = [key for key in getattr(sink, "uses", ()) if getattr(self, key, None) is None]
            if missing:
                raise ValueError(f"sink {sink.type!r} needs the {missing[0]}: section (see --schema)")
        return self

    def events_journal(self, stream: str) -> Path:
        """Where ``stream`` keeps its open events: beside the MQTT queue (a persistent disk), else in
        the state folder (``$EDGEINFER_STATE_DIR``)."""
        queue = self.mqtt.queue_path if self.mqtt is not None else None
        folder = (queue or default_queue_path(self.device_id)).parent
        return folder / f"events-{self.device_id}-{stream}.json"

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
        return config_model().model_validate(data)
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

    streams = [_resolve_stream(s, rel) for s in config.streams]
    # Any path in a sink's config (jsonl, video, a third party's) is taken from the config's folder.
    sinks = [s.model_copy(update={k: rel(v) for k, v in s if isinstance(v, Path)}) for s in config.sinks]
    update: dict[str, Any] = {"streams": streams, "sinks": sinks}
    if config.mqtt is not None:
        mqtt = config.mqtt.model_copy(update={
            "queue_path": rel(config.mqtt.queue_path), "password_file": rel(config.mqtt.password_file)})
        password = resolve_password(mqtt)
        update["mqtt"] = mqtt.model_copy(update={"password": None if password is None else SecretStr(password)})
    if config.control.model_dir is not None:
        update["control"] = config.control.model_copy(update={"model_dir": rel(config.control.model_dir)})
    if config.fleet is not None:
        update["fleet"] = config.fleet.model_copy(update={
            "artifact_dir": rel(config.fleet.artifact_dir), "public_key": rel(config.fleet.public_key),
            "ca_file": rel(config.fleet.ca_file)})
    return config.model_copy(update=update)


def _resolve_stream(stream: StreamConfig, rel: Callable[[Path | None], Path | None]) -> StreamConfig:
    """A stream's paths (model, card, zones file, snapshot and clip folders) from the config's folder."""
    update: dict[str, Any] = {"model": rel(stream.model), "card": rel(stream.card)}
    if stream.zones_file is not None:
        update["zones_file"] = rel(stream.zones_file)
    events = stream.events
    if events is not None and events.snapshots is not None:
        snapshots = events.snapshots.model_copy(update={"dir": rel(events.snapshots.dir)})
        update["events"] = events.model_copy(update={"snapshots": snapshots})
    elif events is None and stream.event_setup() is not None:
        defaults = EventsConfig()
        assert defaults.snapshots is not None
        snapshots = defaults.snapshots.model_copy(update={"dir": rel(defaults.snapshots.dir)})
        update["events"] = defaults.model_copy(update={"snapshots": snapshots})
    if stream.clips is not None:
        update["clips"] = stream.clips.model_copy(update={"dir": rel(stream.clips.dir)})
    return stream.model_copy(update=update)


def config_model() -> type[DaemonConfig]:
    """:class:`DaemonConfig` whose ``sinks`` accepts the config of every registered sink.

    Rebuilt when the sink registry changes (a sink registered at run time).
    """
    from edgeinfer.sinks import registry

    return _config_model(registry.state())


@functools.lru_cache(maxsize=4)
def _config_model(state: tuple[tuple[str, str, str], ...]) -> type[DaemonConfig]:
    from edgeinfer.sinks import registry

    configs = tuple(registry.config_classes().values())
    sink = Annotated[Union[configs], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
    model: type[DaemonConfig] = create_model(
        "DaemonConfig", __base__=DaemonConfig, __module__=__name__, __doc__=DaemonConfig.__doc__,
        sinks=(list[sink], [MqttSinkConfig()]),
    )
    return model


def json_schema() -> dict[str, Any]:
    """The JSON schema of the config file, for editors (yaml-language-server)."""
    schema: dict[str, Any] = config_model().model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "edgeinfer run configuration"
    return schema
