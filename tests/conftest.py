"""Shared fixtures: a real mosquitto broker (plain, TLS, password) and small helpers.

Fixtures:
    mosquitto          session broker on 127.0.0.1 (anonymous, no persistence); ``stop()``
                       and ``start()`` restart it on the same port, so a test that stops it
                       must start it again (better: use ``mosquitto_factory``).
    mosquitto_factory  ``make(tls=None, users=None, persistence=False) -> Broker`` for a
                       test's own broker, stopped at the end of the test.
    tls_files          CA, server and client certificates made with the openssl CLI.
    mqtt_subscriber    ``make(broker, topic, **kw) -> MqttCollector``: a paho client that
                       records what arrives on a topic filter.
    wait_for           ``wait_for(predicate, timeout_s=5.0) -> bool``: poll until truthy.
    free_port          ``free_port() -> int``: a free TCP port on 127.0.0.1.
    detector_built     session: the real detector of :mod:`tests.e2e.detector` (ONNX and int8
                       TFLite, trained for about a minute), built only when a test asks for it.

Without the mosquitto binary these fixtures skip, except with ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.detector import BuiltDetector

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def poll_until(predicate: Callable[[], Any], timeout_s: float = 5.0, interval_s: float = 0.02) -> bool:
    """Poll ``predicate`` until it is truthy; return False after ``timeout_s`` seconds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


def require_binary(path: str, what: str) -> None:
    """Skip when ``path`` is missing; fail instead when the environment says ``CI=true``."""
    if Path(path).exists() or shutil.which(path):
        return
    message = f"{what} ({path}) is not installed; install it (apt-get install mosquitto mosquitto-clients)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for a test PKI: one CA, a server cert for 127.0.0.1, a client cert."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


class Broker:
    """One mosquitto process with a generated config; restartable on the same port."""

    def __init__(
        self,
        folder: Path,
        *,
        tls: TlsFiles | None = None,
        users: dict[str, str] | None = None,
        persistence: bool = False,
    ) -> None:
        self.host = HOST
        self.port = find_free_port()
        self.folder = folder
        self.log_path = folder / "mosquitto.log"
        self.conf_path = folder / "mosquitto.conf"
        self.tls = tls
        self._proc: subprocess.Popen[bytes] | None = None
        self._write_config(tls, users, persistence)

    def _write_config(self, tls: TlsFiles | None, users: dict[str, str] | None, persistence: bool) -> None:
        lines = [f"listener {self.port} {HOST}", "log_type all", f"log_dest file {self.log_path}"]
        # mosquitto 2.0.11 stops draining a subscriber's queue of QoS 2 publications once its
        # 20-message in-flight window has filled; no window avoids that broker bug.
        lines.append("max_inflight_messages 0")
        # A persistent subscriber that reconnects after a broker restart later than the device
        # (its reconnect delay is 1 s) is an offline session meanwhile, and mosquitto keeps
        # only 1000 messages for one by default: the rest of the device's catch-up from its
        # disk queue would be dropped by the broker, not lost by us. No cap in the tests.
        lines.append("max_queued_messages 0")
        if os.geteuid() == 0:
            lines.append("user root")  # else mosquitto drops to 'mosquitto' and cannot read tmp files
        lines += [f"persistence {'true' if persistence else 'false'}"]
        if persistence:
            lines += [f"persistence_location {self.folder}/", "autosave_interval 1"]
        if users:
            passwd = self.folder / "passwd"
            for i, (user, password) in enumerate(users.items()):
                flags = ["-c"] if i == 0 else []
                subprocess.run(["mosquitto_passwd", *flags, "-b", str(passwd), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            lines += [
                f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}",
                "require_certificate true",
            ]
        self.conf_path.write_text("\n".join(lines) + "\n")

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start mosquitto and wait until it accepts TCP connections."""
        if self.running:
            return
        with (self.folder / "stderr.log").open("ab") as stderr:  # a file: a full pipe would stall it
            self._proc = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.conf_path)], stdout=subprocess.DEVNULL, stderr=stderr
            )
        if not poll_until(self._accepts, timeout_s=10.0):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}:\n{self.log_text()}")

    def _accepts(self) -> bool:
        if not self.running:
            err = (self.folder / "stderr.log").read_text()
            raise RuntimeError(f"mosquitto exited: {err}\n{self.log_text()}")
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop mosquitto gracefully (SIGTERM; it saves its persistence file if enabled)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill mosquitto at once (SIGKILL; nothing is saved)."""
        self._end(signal.SIGKILL)

    def _end(self, sig: int) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log_text(self) -> str:
        """The broker's log so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""


class MqttCollector:
    """A paho subscriber that records ``(topic, payload, retain)`` of every message."""

    def __init__(self, broker: Broker, topic: str, *, client_id: str = "", clean_session: bool = True,
                 tls: TlsFiles | None = None, username: str | None = None, password: str | None = None,
                 qos: int = 1) -> None:
        import paho.mqtt.client as paho

        self.topic = topic
        self.qos = qos
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session
        )
        if tls is not None:
            self.client.tls_set(
                ca_certs=str(tls.ca), certfile=str(tls.client_cert), keyfile=str(tls.client_key)
            )
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(5.0):
            raise RuntimeError(f"test subscriber could not subscribe to {topic}")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=self.qos)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def payloads(self, topic: str | None = None) -> list[bytes]:
        """Payloads received so far, optionally only those on ``topic``."""
        with self._lock:
            return [p for t, p, _ in self.messages if topic is None or t == topic]

    def wait_count(self, count: int, timeout_s: float = 10.0) -> bool:
        """Wait until at least ``count`` messages arrived."""
        return poll_until(lambda: len(self.messages) >= count, timeout_s)

    def close(self) -> None:
        """Disconnect, and let the network thread close its socket before stopping it."""
        self.client.disconnect()
        poll_until(lambda: self.client.socket() is None, timeout_s=2.0)
        self.client.loop_stop()
        # Break the client -> callback -> collector -> client cycle so the client is freed
        # by reference counting, which closes its socketpair (paho issue #627).
        self.client.on_connect = self.client.on_subscribe = self.client.on_message = None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_leaf(folder: Path, name: str, ext: str) -> None:
    (folder / f"{name}.ext").write_text(ext)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=folder)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=folder)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    require_binary("openssl", "the openssl command")
    folder = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=edgeinfer-test-ca",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    keyids = "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    server_ext = f"subjectAltName=IP:{HOST},DNS:localhost\nextendedKeyUsage=serverAuth\n"
    _make_leaf(folder, "server", server_ext + keyids)
    _make_leaf(folder, "client", f"extendedKeyUsage=clientAuth\n{keyids}")
    return TlsFiles(folder / "ca.crt", folder / "server.crt", folder / "server.key",
                    folder / "client.crt", folder / "client.key")


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A session-wide anonymous broker on 127.0.0.1 (persistence off)."""
    require_binary(MOSQUITTO, "mosquitto")
    broker = Broker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Broker]]:
    """Make a test's own broker: ``make(tls=None, users=None, persistence=False, start=True)``."""
    require_binary(MOSQUITTO, "mosquitto")
    brokers: list[Broker] = []

    def make(*, tls: TlsFiles | None = None, users: dict[str, str] | None = None,
             persistence: bool = False, start: bool = True) -> Broker:
        broker = Broker(tmp_path_factory.mktemp("mosquitto"), tls=tls, users=users, persistence=persistence)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mqtt_subscriber() -> Iterator[Callable[..., MqttCollector]]:
    """Make subscribers (``make(broker, topic, **kwargs)``), disconnected after the test."""
    collectors: list[MqttCollector] = []

    def make(broker: Broker, topic: str, **kwargs: Any) -> MqttCollector:
        collector = MqttCollector(broker, topic, **kwargs)
        collectors.append(collector)
        return collector

    yield make
    for collector in collectors:
        collector.close()


@pytest.fixture
def wait_for() -> Callable[..., bool]:
    """``wait_for(predicate, timeout_s=5.0, interval_s=0.02) -> bool``: poll until truthy."""
    return poll_until


@pytest.fixture
def free_port() -> Callable[[], int]:
    """``free_port() -> int``: a TCP port on 127.0.0.1 that was free a moment ago."""
    return find_free_port


@pytest.fixture(scope="session")
def detector_built(tmp_path_factory: pytest.TempPathFactory) -> BuiltDetector:
    """Train the tiny real detector once per session and export it (skips without torch or skimage)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("skimage")
    pytest.importorskip("cv2")
    from tests.e2e.detector import build_detector

    threads = torch.get_num_threads()
    try:
        return build_detector(tmp_path_factory.mktemp("detector"))
    finally:
        torch.set_num_threads(threads)
