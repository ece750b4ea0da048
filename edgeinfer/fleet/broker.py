"""A plain MQTT client for the dev-machine side of a fleet (``edgeinfer fleet push/ls``).

It offers the same ``publish_raw`` / ``subscribe`` as the daemon's MQTT sink
(:class:`~edgeinfer.sinks.Connection`), so the fleet code runs on either, plus
``unsubscribe`` and a ``publish`` that waits for the broker's acknowledgement.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from edgeinfer.errors import ConfigError, SinkError

__all__ = ["BrokerClient", "parse_broker"]

log = logging.getLogger("edgeinfer.fleet")


def parse_broker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, port 1883) into its parts.

    Raises:
        ConfigError: the port is not a number.
    """
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "1883")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError as exc:
        raise ConfigError(f"--broker {text!r}: the port must be a number, as in 127.0.0.1:1883") from exc


class BrokerClient:
    """A connected paho client (MQTT 3.1.1, QoS 1) with callbacks per topic filter.

    Args:
        host: Broker host.
        port: Broker port.
        client_id: MQTT client id (random when empty).
        timeout_s: How long to wait for the connection.
        username: MQTT user (default: ``EDGEINFER_MQTT_USERNAME``, when set).
        password: Its password (default: ``EDGEINFER_MQTT_PASSWORD``).
        tls: ``(ca_file, cert_file, key_file)`` for TLS, each may be ``None`` (default: from
            ``EDGEINFER_MQTT_CA``, ``EDGEINFER_MQTT_CERT``, ``EDGEINFER_MQTT_KEY`` when one is set).

    Raises:
        SinkError: the broker cannot be reached or refused the connection.
    """

    def __init__(self, host: str, port: int, *, client_id: str = "", timeout_s: float = 10.0,
                 username: str | None = None, password: str | None = None,
                 tls: tuple[str | None, str | None, str | None] | None = None) -> None:
        import paho.mqtt.client as paho

        self._subscriptions: dict[str, Callable[[str, bytes], None]] = {}
        self._connected = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"edgeinfer-fleet-{uuid.uuid4().hex[:8]}")
        username = username or os.environ.get("EDGEINFER_MQTT_USERNAME")
        if username:
            self.client.username_pw_set(username, password or os.environ.get("EDGEINFER_MQTT_PASSWORD"))
        ca, cert, key = (os.environ.get(f"EDGEINFER_MQTT_{k}") for k in ("CA", "CERT", "KEY"))
        if tls is None and (ca or cert or key):
            tls = (ca, cert, key)
        if tls is not None:
            try:
                self.client.tls_set(ca_certs=tls[0], certfile=tls[1], keyfile=tls[2])
            except (OSError, ValueError) as exc:
                raise ConfigError(f"the MQTT TLS files {tls} cannot be used: {exc}") from exc
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_: self._connected.clear()
        try:
            self.client.connect(host, port, keepalive=30)
        except OSError as exc:  # ssl.SSLError too: a certificate the broker refuses
            raise SinkError(f"cannot reach the MQTT broker {host}:{port}: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(timeout_s):
            self.close()
            raise SinkError(f"the MQTT broker {host}:{port} did not accept the connection in {timeout_s:g} s")

    @property
    def connected(self) -> bool:
        """Whether the session is up."""
        return self._connected.is_set()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            return
        self._connected.set()
        for topic in list(self._subscriptions):
            client.subscribe(topic, qos=1)

    def publish(self, topic: str, payload: bytes | str, *, retain: bool = False, timeout_s: float = 30.0) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement.

        Raises:
            SinkError: not acknowledged in time.
        """
        deadline = time.monotonic() + timeout_s
        while True:  # a session that dropped (paho reconnects by itself) is waited for, then tried again
            self._connected.wait(max(0.0, deadline - time.monotonic()))
            info = self.client.publish(topic, payload, qos=1, retain=retain)
            while info.rc == 0 and not info.is_published() and time.monotonic() < deadline:
                with contextlib.suppress(RuntimeError):  # raised when the session drops while waiting
                    info.wait_for_publish(0.5)
            if info.is_published():
                return
            if time.monotonic() > deadline:
                raise SinkError(f"the broker did not acknowledge {topic} in {timeout_s:g} s")
            time.sleep(0.05)

    def publish_raw(self, topic: str, payload: bytes | str, *, retain: bool = False) -> bool:
        """Publish without waiting (the daemon sink's signature); False when not connected."""
        if not self.connected:
            return False
        return bool(self.client.publish(topic, payload, qos=1, retain=retain).rc == 0)

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> None:
        """Call ``callback(topic, payload)`` for each message on ``topic`` (re-subscribed on reconnect)."""
        def deliver(client: Any, userdata: Any, message: Any) -> None:
            try:  # as the MQTT sink does: an exception would end paho's network thread
                callback(message.topic, bytes(message.payload))
            except Exception:
                log.exception("MQTT: the callback for %s failed", topic)

        self._subscriptions[topic] = callback
        self.client.message_callback_add(topic, deliver)
        if self.connected:
            self.client.subscribe(topic, qos=1)

    def unsubscribe(self, topic: str) -> None:
        """Stop the messages of ``topic``."""
        if self._subscriptions.pop(topic, None) is not None:
            self.client.message_callback_remove(topic)
            self.client.unsubscribe(topic)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
        for topic in list(self._subscriptions):
            self.client.message_callback_remove(topic)
        self._subscriptions.clear()
        self.client.on_connect = self.client.on_disconnect = None
