"""MQTT sink: results to a broker with store-and-forward, and the daemon's connection.

``send`` writes the envelope to a :class:`~edgeinfer.sinks.queue.DiskQueue` and hands it
to paho when nothing older waits (it never waits for the network); a
:class:`~edgeinfer.sinks.forward.Forwarder` publishes rows in order and deletes each one
when the broker acknowledges it (QoS 1/2) or when paho has taken it (QoS 0); its thread
catches up with the rows stored while the broker was away. Paho's network thread
reconnects with backoff.

Topics for device ``cam1`` (the result topic is a template over ``device_id``,
``stream`` and ``model``)::

    edgeinfer/cam1/front/results      envelopes, one message each
    edgeinfer/cam1/front/events       events (new, update, end), through the same disk queue
    edgeinfer/cam1/front/zones/door   a zone's or line's counts (retained), when they change
    edgeinfer/cam1/status             "online" (retained) on connect, "offline" as last will

The daemon's health (:mod:`edgeinfer.health`) and command (:mod:`edgeinfer.control`)
topics use this connection through :meth:`MqttSink.publish_raw` and
:meth:`MqttSink.subscribe`. The options are the ``mqtt:`` section's schema
(:class:`~edgeinfer.sinks.mqtt_options.MqttConfig`; in code, ``MqttOptions(...)``); the
password comes from :func:`~edgeinfer.sinks.mqtt_options.resolve_password` and is never
logged nor shown by ``repr``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgeinfer.errors import ConfigError, MissingDependencyError, SinkError
from edgeinfer.sinks.base import BaseSink, SinkContext, encode_envelope
from edgeinfer.sinks.forward import Forwarder, RejectedMessage
from edgeinfer.sinks.mqtt_options import (
    DEFAULT_TOPIC,
    PASSWORD_ENV,
    MqttConfig,
    MqttOptions,
    MqttSinkConfig,
    TlsOptions,
    default_queue_path,
    resolve_password,
)
from edgeinfer.sinks.queue import DiskQueue, QueuedMessage
from edgeinfer.sinks.throttle import Throttle

try:
    import paho.mqtt.client as paho
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("paho-mqtt", "mqtt", "the MQTT sink") from exc

__all__ = ["DEFAULT_TOPIC", "PASSWORD_ENV", "MqttOptions", "MqttSink", "TlsOptions", "default_queue_path"]

log = logging.getLogger(__name__)

_WINDOW = 100  # messages in flight on the connection; enough to hide the broker round trip on a LAN
# Queued rows paho holds in memory (in flight or next): it sends the next one on each
# acknowledgement itself, so the forwarder thread wakes once per half of these, not per message.
_HELD = 1000
_OK = paho.MQTTErrorCode.MQTT_ERR_SUCCESS
_NO_CONN = paho.MQTTErrorCode.MQTT_ERR_NO_CONN

MessageCallback = Callable[[str, bytes], None]


def _publish_row(client: paho.Client, qos: int, row: QueuedMessage) -> int | None:
    """Hand one queued row to paho; its message id, or None when paho did not take it.

    Raises:
        RejectedMessage: paho refuses the topic or payload (too large); it never will take it.
    """
    try:
        info = client.publish(row.topic, row.payload, qos=qos, retain=row.retain)
    except ValueError as exc:
        raise RejectedMessage(str(exc)) from exc
    if info.rc == _OK or (info.rc == _NO_CONN and qos > 0):
        return int(info.mid)  # with QoS > 0 paho keeps it and sends it on reconnect
    return None


def _topic_level(value: object) -> str:
    # '+', '#' and '/' would turn a name into wildcards or extra topic levels.
    return re.sub(r"[+#/]", "_", str(value))


class MqttSink(BaseSink):
    """Publish envelopes to an MQTT broker; nothing is lost while the broker is away.

    Args:
        options: Broker, topic, QoS, queue and auth settings.
        device_id: This device's name, used in the status topic.
        environ: Environment to read the password variable (``password_env``) from (``os.environ``).

    Raises:
        ConfigError: a TLS or password file cannot be used.
        SinkError: the queue file cannot be opened.
    """

    Config: ClassVar[type[MqttSinkConfig]] = MqttSinkConfig
    close_timeout_s = 2.0

    def __init__(
        self, options: MqttConfig, *, device_id: str, environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self.options = options
        self.device_id = device_id
        self.status_topic = f"edgeinfer/{device_id}/status"
        self._throttle = Throttle(on_change=options.on_change, max_rate_hz=options.max_rate_hz)
        self._subscriptions: dict[str, MessageCallback] = {}
        self._topics: dict[tuple[object, object, object], str] = {}
        self._connected = threading.Event()
        self._refusal: str | None = None
        self._closed = False
        self._client = self._make_client(resolve_password(options, environ))
        path = options.queue_path or default_queue_path(device_id, environ)
        self._queue = DiskQueue(path, max_rows=options.queue_max)
        # A partial, not a bound method: no sink <-> forwarder cycle (see _release_client).
        self._forwarder = Forwarder(
            self._queue, functools.partial(_publish_row, self._client, options.qos),
            wait_for_ack=options.qos > 0,
            window=_HELD, counters=self._counters,
        )
        self._forwarder.start()
        self._client.connect_async(options.host, options.port, keepalive=options.keepalive_s)
        self._client.loop_start()

    @classmethod
    def from_config(cls, config: MqttSinkConfig, context: SinkContext) -> MqttSink:
        """The sink for the daemon config's ``mqtt:`` section."""
        return cls(context.config.mqtt, device_id=context.device_id)

    def _make_client(self, password: str | None) -> paho.Client:
        opts = self.options
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=opts.client_id or f"edgeinfer-{self.device_id}",
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if opts.username is not None:
            client.username_pw_set(opts.username, password)
        if opts.tls is not None:
            try:
                ca, cert, key = (None if p is None else str(p) for p in (opts.tls.ca, opts.tls.cert, opts.tls.key))
                client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
                if opts.tls.insecure:
                    log.warning("MQTT: TLS host name verification is off (mqtt.tls.insecure)")
                    client.tls_insecure_set(True)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"mqtt tls files cannot be used ({opts.tls}): {exc}") from exc
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.max_inflight_messages_set(_WINDOW + 8)
        client.max_queued_messages_set(_HELD + 64)  # room for status, health and replies too
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def __repr__(self) -> str:
        o = self.options
        return f"MqttSink(host={o.host!r}, port={o.port}, device_id={self.device_id!r}, qos={o.qos})"

    # -- the pipeline side ---------------------------------------------------------------

    def send(self, envelope: dict[str, Any], *, frame: np.ndarray | None = None, result: Any = None) -> None:
        """Queue one envelope on disk for publishing (see :meth:`Sink.send`).

        Raises:
            SinkError: the sink is closed, or the queue cannot be written (disk full).
        """
        self._check_open()
        if not self._throttle.admit(envelope):
            self._counters.add("skipped")
            return
        topic = self._topic(envelope.get("device_id", self.device_id), envelope.get("stream", ""),
                            envelope.get("model", ""))
        self._enqueue(topic, encode_envelope(envelope), retain=self.options.retain)

    def send_event(self, event: dict[str, Any]) -> None:
        """Queue an event for ``edgeinfer/{device_id}/{stream}/events``, through the disk queue
        like results (kept across broker outages and restarts, delivered in order).

        Raises:
            SinkError: the sink is closed, or the queue cannot be written (disk full).
        """
        self._check_open()
        device, stream = _topic_level(event.get("device_id", self.device_id)), _topic_level(event.get("stream", ""))
        self._enqueue(f"edgeinfer/{device}/{stream}/events", encode_envelope(event), retain=False)

    def send_counts(self, stream: str, name: str, counts: dict[str, Any]) -> None:
        """Queue the counts of a zone or line, retained on ``edgeinfer/{device_id}/{stream}/zones/{name}``.

        Raises:
            SinkError: the sink is closed, or the queue cannot be written (disk full).
        """
        self._check_open()
        topic = f"edgeinfer/{_topic_level(self.device_id)}/{_topic_level(stream)}/zones/{_topic_level(name)}"
        self._enqueue(topic, encode_envelope(counts), retain=True)

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError("The MQTT sink is closed; create a new one to send more results")

    def _enqueue(self, topic: str, payload: bytes, *, retain: bool) -> None:
        try:
            row_id = self._queue.put(topic, payload, retain=retain)
        except SinkError:
            self._counters.add("errors")
            raise
        self._forwarder.offer(QueuedMessage(row_id, topic, payload, retain))

    def _topic(self, device_id: object, stream: object, model: object) -> str:
        key = (device_id, stream, model)
        topic = self._topics.get(key)
        if topic is None:
            if len(self._topics) >= 256:
                self._topics.clear()
            topic = self._topics[key] = self.options.topic.format(
                device_id=_topic_level(device_id), stream=_topic_level(stream), model=_topic_level(model))
        return topic

    def flush(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged everything queued; False on timeout."""
        return self._forwarder.wait_delivered(timeout_s)

    def stats(self) -> dict[str, int]:
        """``sent`` (acknowledged), ``queued`` (on disk), ``dropped`` (queue full, all time),
        ``errors``, ``skipped`` (on_change / max_rate_hz), ``inflight``, ``connected`` (0/1)."""
        values = self._counters.snapshot()
        # Delivered rows still on disk until their batched delete are not waiting any more.
        values["queued"] = max(0, len(self._queue) - self._forwarder.awaiting_delete)
        values["dropped"] += self._queue.dropped
        values["inflight"] = self._forwarder.inflight
        values["connected"] = int(self.connected)
        return values

    @property
    def queue_path(self) -> Path:
        """The queue file: results not yet acknowledged wait there, across restarts."""
        return self._queue.path

    @property
    def connected(self) -> bool:
        """True while the broker has accepted our connection."""
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> None:
        """Block until connected.

        Raises:
            SinkError: the broker refused us (bad credentials; raised as soon as the refusal
                arrives) or could not be reached within ``timeout_s`` seconds.
        """
        deadline = time.monotonic() + timeout_s
        while not self._connected.wait(min(0.05, max(deadline - time.monotonic(), 0.0))):
            if self._refusal is not None or time.monotonic() >= deadline:
                break
        if self._connected.is_set():
            return
        where = f"{self.options.host}:{self.options.port}"
        if self._refusal is not None:
            raise SinkError(
                f"The MQTT broker at {where} refused the connection: {self._refusal}. "
                "Check username and password (password, password_file or "
                f"{PASSWORD_ENV}) and the broker's ACL."
            )
        raise SinkError(
            f"Could not connect to the MQTT broker at {where} within {timeout_s:g} s. "
            "Check that it is running, the host and port, and the TLS settings."
        )

    def close(self) -> None:
        """Flush briefly, publish "offline", disconnect; unsent rows stay on disk."""
        if self._closed:
            return
        self._closed = True
        if self.connected:
            self._forwarder.wait_delivered(self.close_timeout_s)
        self._forwarder.stop()
        if self.connected:
            info = self._client.publish(self.status_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(self.close_timeout_s)
            except (RuntimeError, ValueError):
                log.warning("MQTT: could not publish 'offline' to %s before closing", self.status_topic)
        self._client.disconnect()
        self._client.loop_stop()
        self._release_client()
        self._queue.close()

    def _release_client(self) -> None:
        # paho closes its wake-up socketpair only when the Client is freed (paho issue
        # #627); dropping our callbacks breaks the client -> sink -> client cycle so
        # reference counting frees it as soon as the sink goes, not in a later GC pass
        # that may finalize the sockets first (a ResourceWarning).
        client = self._client
        client.on_connect = client.on_connect_fail = client.on_disconnect = client.on_publish = None
        for topic in self._subscriptions:
            client.message_callback_remove(topic)

    # -- the connection (the daemon's health and commands) --------------------------------

    def publish_raw(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        """Publish one message now, outside the queue (status, health, command replies).

        Returns:
            True when handed to the connection; False when not connected (not queued:
            these messages describe the present and are sent again later).

        Raises:
            SinkError: the topic is invalid (wildcards, empty) or the payload too large.
        """
        if not self.connected:
            return False
        try:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
        except ValueError as exc:
            raise SinkError(f"Cannot publish to MQTT topic {topic!r}: {exc}") from exc
        if self.options.qos > 0:  # only then are acknowledgements matched to queue rows
            self._forwarder.expect_foreign(info.mid)
        return info.rc == _OK

    def subscribe(self, topic: str, callback: MessageCallback) -> None:
        """Call ``callback(topic, payload)`` for each message on ``topic`` (re-subscribed on reconnect).

        The callback runs on paho's network thread: keep it short; exceptions are logged.
        """
        def deliver(client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
            try:
                callback(message.topic, bytes(message.payload))
            except Exception:
                log.exception("MQTT: the callback for %s failed", topic)

        self._subscriptions[topic] = callback
        self._client.message_callback_add(topic, deliver)
        if self.connected:
            self._client.subscribe(topic, qos=1)

    def unsubscribe(self, topic: str) -> None:
        """Stop the messages of ``topic`` (not re-subscribed on reconnect)."""
        if self._subscriptions.pop(topic, None) is not None:
            self._client.message_callback_remove(topic)
            if self.connected:
                self._client.unsubscribe(topic)

    # -- paho callbacks (network thread) --------------------------------------------------

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
            log.error(
                "MQTT broker %s:%s refused the connection: %s (retrying with backoff)",
                self.options.host, self.options.port, reason,
            )
            return
        self._refusal = None
        self._connected.set()
        log.info("MQTT connected to %s:%s as %s", self.options.host, self.options.port, self.device_id)
        self.publish_raw(self.status_topic, "online", retain=True)
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)
        self._forwarder.set_connected(True)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        log.warning("MQTT broker %s:%s unreachable; retrying", self.options.host, self.options.port)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._forwarder.set_connected(False)
        if was_connected and not self._closed:
            log.warning("MQTT disconnected from %s:%s: %s; results are queued on disk",
                        self.options.host, self.options.port, reason)

    def _on_publish(self, client: paho.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if self.options.qos > 0:
            self._forwarder.on_ack(mid)

