"""Sinks: where results leave the process (the last stage of the flow).

``sources -> preprocess -> backend -> postprocess -> sinks``. Each sink implements the
:class:`Sink` protocol (``send``, ``flush``, ``close``, ``stats``); the registry maps
the config ``type`` to the class, imported on first use so ``import edgeinfer`` never
imports paho or OpenCV::

    from edgeinfer.sinks import registry
    MqttSink = registry.get("mqtt")   # MissingDependencyError names the extra if paho is absent

A sink owns its config: a frozen pydantic model with ``type: Literal["<name>"]``, found by
:meth:`SinkRegistry.config_class` (the ``config=`` target given to ``register``, else the
sink class's ``Config`` attribute). ``edgeinfer.config`` builds the ``sinks:`` list of the
YAML file from every registered config, entry points (group ``edgeinfer.sinks``) included,
and the daemon builds each sink with :func:`build_sink`. A third-party sink is therefore
one class with a ``Config`` attribute (and, if it needs more than its own keys, a
``from_config(config, context)`` classmethod), registered here or by entry point.

The implementations and how they are built:

=========  ==========================================================================
mqtt       ``MqttSink(MqttOptions(...), device_id=...)``: store-and-forward to a broker
jsonl      ``JsonlSink(path=None)``: JSON lines to stdout or a file
video      ``VideoSink(path, fps=15.0)``: annotated MP4 or a folder of images
webhook    ``WebhookSink(url, timeout_s=5.0, retries=3)``: HTTP POST with backoff
memory     ``MemorySink()``: keeps envelopes in a list, for tests
live       ``LiveFrames(stats_provider)``: the latest frame per stream, for the web page
=========  ==========================================================================
"""

from __future__ import annotations

import importlib
import logging
from typing import Any, get_args

from pydantic import BaseModel

from edgeinfer.errors import ConfigError, EdgeInferError
from edgeinfer.registry import Registry
from edgeinfer.sinks.base import (
    BaseSink,
    Connection,
    Sink,
    SinkConfig,
    SinkContext,
    encode_envelope,
    make_envelope,
    undelivered,
)

__all__ = [
    "BaseSink", "Connection", "Sink", "SinkConfig", "SinkContext", "SinkRegistry", "build_sink", "encode_envelope",
    "make_envelope", "registry", "undelivered",
]

log = logging.getLogger(__name__)


class SinkRegistry(Registry[Sink]):
    """The sink registry; each entry also knows its config class.

    A built-in sink whose module needs an optional package (paho) names a light
    ``config="module:Class"`` target, so the YAML schema is built without that package;
    any other sink (entry points too) exposes its config as the class attribute ``Config``.
    """

    def __init__(self) -> None:
        super().__init__("sink", entry_point_group="edgeinfer.sinks")
        self._configs: dict[str, str] = {}

    def register(self, name: str, target: str, *, extra: str = "", package: str = "", config: str = "") -> None:
        """Add a sink; ``config`` is its config class as ``"module:Class"`` (default: ``Config``)."""
        super().register(name, target, extra=extra, package=package)
        if config:
            self._configs[name] = config

    def config_class(self, name: str) -> type[Any]:
        """The pydantic config class of sink ``name``.

        Raises:
            ConfigError: the name is unknown, or its class has no ``Config``.
            MissingDependencyError: the sink's module (holding ``Config``) cannot be imported.
        """
        self.entry(name)
        if name in self._configs:
            module_name, _, attr = self._configs[name].partition(":")
            config: Any = getattr(importlib.import_module(module_name), attr)
        else:
            config = getattr(self.get(name), "Config", None)
        if not (isinstance(config, type) and issubclass(config, BaseModel) and "type" in config.model_fields
                and get_args(config.model_fields["type"].annotation) == (name,)):
            raise ConfigError(f"The sink {name!r} has no Config (a pydantic model with a type: Literal[{name!r}] "
                              "field), so it cannot be named in a config file")
        return config

    def config_classes(self) -> dict[str, type[Any]]:
        """Every sink name -> its config class; sinks whose config cannot be loaded are left out (logged)."""
        out: dict[str, type[Any]] = {}
        for name in self.names():
            try:
                out[name] = self.config_class(name)
            except EdgeInferError as exc:
                log.warning("sink %r left out of the config schema: %s", name, exc)
        return out

    def state(self) -> tuple[tuple[str, str, str], ...]:
        """What the entries are now (name, target, config target): a cache key for the schema."""
        names = self.names()
        return tuple((n, self.entry(n).target, self._configs.get(n, "")) for n in names)


def build_sink(config: Any, context: SinkContext) -> Sink:
    """Build the sink that ``config`` (one item of ``sinks:``) describes.

    The class's ``from_config(config, context)`` builds it; a class without one gets the
    config's fields (all but ``type``) as keyword arguments.
    """
    cls: Any = registry.get(config.type)
    factory = getattr(cls, "from_config", None)
    if factory is not None:
        return factory(config, context)
    return cls(**{key: value for key, value in config if key != "type"})


registry = SinkRegistry()
registry.register("mqtt", "edgeinfer.sinks.mqtt:MqttSink", extra="mqtt", package="paho-mqtt",
                  config="edgeinfer.sinks.mqtt_options:MqttSinkConfig")
registry.register("jsonl", "edgeinfer.sinks.jsonl:JsonlSink")
registry.register(
    "video", "edgeinfer.sinks.video:VideoSink", extra="camera", package="opencv-python-headless"
)
registry.register("webhook", "edgeinfer.sinks.webhook:WebhookSink")
registry.register("memory", "edgeinfer.sinks.memory:MemorySink")
registry.register("live", "edgeinfer.sinks.live:LiveFrames")
