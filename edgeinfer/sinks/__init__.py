"""Sinks: where results leave the process (the last stage of the flow).

``sources -> preprocess -> backend -> postprocess -> sinks``. Each sink implements the
:class:`Sink` protocol (``send``, ``flush``, ``close``, ``stats``); the registry maps
the config ``type`` to the class, imported on first use so ``import edgeinfer`` never
imports paho or OpenCV::

    from edgeinfer.sinks import registry
    MqttSink = registry.get("mqtt")   # MissingDependencyError names the extra if paho is absent

The implementations and how they are built:

=========  ==========================================================================
mqtt       ``MqttSink(MqttOptions(...), device_id=...)``: store-and-forward to a broker
jsonl      ``JsonlSink(path=None)``: JSON lines to stdout or a file
video      ``VideoSink(path, fps=15.0)``: annotated MP4 or a folder of images
webhook    ``WebhookSink(url, timeout_s=5.0, retries=3)``: HTTP POST with backoff
memory     ``MemorySink()``: keeps envelopes in a list, for tests
=========  ==========================================================================
"""

from __future__ import annotations

from edgeinfer.registry import Registry
from edgeinfer.sinks.base import BaseSink, Sink, encode_envelope, make_envelope

__all__ = ["BaseSink", "Sink", "encode_envelope", "make_envelope", "registry"]

registry: Registry[Sink] = Registry("sink", entry_point_group="edgeinfer.sinks")
registry.register("mqtt", "edgeinfer.sinks.mqtt:MqttSink", extra="mqtt", package="paho-mqtt")
registry.register("jsonl", "edgeinfer.sinks.jsonl:JsonlSink")
registry.register(
    "video", "edgeinfer.sinks.video:VideoSink", extra="camera", package="opencv-python-headless"
)
registry.register("webhook", "edgeinfer.sinks.webhook:WebhookSink")
registry.register("memory", "edgeinfer.sinks.memory:MemorySink")
