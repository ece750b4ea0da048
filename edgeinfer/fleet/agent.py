"""The device side of a fleet: follow the desired state, fetch, switch, report.

:class:`FleetAgent` subscribes to the retained desired documents of its groups and of its
own device id (the device's wins), fetches the artifacts it lacks
(:class:`~edgeinfer.fleet.transfer.ArtifactReceiver`), hands each to the ``switch``
callback (the daemon's health-gated switch, :mod:`edgeinfer.fleet.switch`) and publishes
what it runs on the retained ``edgeinfer/{device_id}/reported``.

The broker sends the retained documents again on every re-subscription, so after a
reconnect the agent converges again by itself. A model that was rolled back or refused is
not tried again under the same version (also after a restart: ``fleet-state.json`` in
``artifact_dir``); pushed again under a new version, it is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeinfer.errors import EdgeInferError
from edgeinfer.fleet.desired import (
    DesiredState,
    DesiredStream,
    desired_topic,
    group_topic,
    parse_desired,
    reported_document,
    reported_topic,
)
from edgeinfer.fleet.https import DownloadInterrupted, HttpsDownloader
from edgeinfer.fleet.signing import SignatureError
from edgeinfer.fleet.transfer import ArtifactReceiver, TransferError

__all__ = ["FleetAgent", "SwitchFn"]

log = logging.getLogger("edgeinfer.fleet")

# switch(stream, path, sha256, card_overrides, desired) -> (state, reason)
SwitchFn = Callable[[str, Path, str, dict[str, Any], DesiredState], tuple[str, str | None]]
STATE_FILE = "fleet-state.json"
RETRY_S = 30.0


class FleetAgent:
    """Converge one device on its desired state.

    Args:
        device_id: This device.
        groups: Its groups (earlier ones win over later ones).
        artifact_dir: Where artifacts are kept (the running and the previous one per stream).
        public_key: The fleet's Ed25519 public key.
        client: The message connection (``subscribe``, ``publish_raw``): the daemon's MQTT sink.
        switch: Called (on the agent's thread) to run a verified artifact on a stream.
        running: Stream name -> sha256 of the model it runs now.
        max_bytes: Artifact size cap.
        stall_s: A download gives up after this long without a message (and is retried
            at the next wake-up).
        ca_file: CA bundle for ``url`` artifacts (``fleet.ca_file``).
        allow_http: Accept plain ``http://`` artifact URLs (``fleet.allow_http``).
    """

    def __init__(self, device_id: str, groups: list[str], artifact_dir: Path, public_key: Any, client: Any, *,
                 switch: SwitchFn, running: dict[str, str], max_bytes: int = 200 * 2**20,
                 stall_s: float = 60.0, ca_file: Path | None = None, allow_http: bool = False) -> None:
        self.device_id = device_id
        self.groups = list(groups)
        self.artifact_dir = Path(artifact_dir)
        self.artifact_dir.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.switch = switch
        self.receiver = ArtifactReceiver(client, self.artifact_dir, public_key, max_bytes=max_bytes, stall_s=stall_s)
        self.downloader = HttpsDownloader(self.artifact_dir, public_key, max_bytes=max_bytes, ca_file=ca_file,
                                          allow_http=allow_http, timeout_s=stall_s)
        self.running = dict(running)
        self.reports: dict[str, dict[str, Any]] = {n: {"sha256": s, "state": "running"} for n, s in running.items()}
        self.version: str | None = None
        self._docs: dict[str, DesiredState | None] = {}
        self._previous: dict[str, str] = {}
        self._refused: dict[str, dict[str, Any]] = self._load_state()
        self._wake = threading.Event()
        self.busy = False  # a switch (and its health watch) is running: the daemon must not exit meanwhile
        self._retry = False  # a download stalled: converge again after RETRY_S without a new document
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        """The desired topics followed, the device's own first."""
        return [desired_topic(self.device_id), *(group_topic(g) for g in self.groups)]

    def start(self) -> None:
        """Subscribe and start converging on a background thread."""
        for topic in self.topics:
            self.client.subscribe(topic, self._on_desired)
        self.publish()  # the device and its groups are known before any desired document (fleet push --canary)
        self._thread = threading.Thread(target=self._run, name="edgeinfer-fleet", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread (a download in progress keeps its chunks for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _on_desired(self, topic: str, payload: bytes) -> None:  # the network thread
        try:
            self._docs[topic] = parse_desired(payload)
        except EdgeInferError as exc:
            log.error("fleet: %s refused: %s", topic, exc)
            return
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(RETRY_S if self._retry else None)
            self._wake.clear()
            self._retry = False
            if self._stop.is_set():
                return
            try:
                self.converge()
            except Exception:  # never let the agent die; the next document wakes it again
                log.exception("fleet: converging failed")

    # -- converging -----------------------------------------------------------------------

    def desired(self) -> tuple[DesiredState | None, str | None]:
        """The document in force and its topic: the device's own, else its first group's."""
        for topic in self.topics:
            doc = self._docs.get(topic)
            if doc is not None:
                return doc, topic
        return None, None

    def _targets(self, doc: DesiredState) -> dict[str, DesiredStream]:
        targets = {name: want for name, want in doc.streams.items() if name != "*"}
        if "*" in doc.streams:
            targets = {**dict.fromkeys(self.running, doc.streams["*"]), **targets}
        return targets

    def converge(self) -> dict[str, Any]:
        """Bring every stream to the desired state once; returns the reported document."""
        doc, source = self.desired()
        if doc is not None:
            for name, want in self._targets(doc).items():
                if self._wake.is_set() or self._stop.is_set():
                    break  # a newer document (or a reconnect): start over with it
                self._converge_stream(name, want, doc, source)
            if all(self.running.get(n) == w.sha256.lower() for n, w in self._targets(doc).items()):
                self.version = doc.version
        return self.publish(doc, source)

    def _converge_stream(self, name: str, want: DesiredStream, doc: DesiredState, source: str | None) -> None:
        sha = want.sha256.lower()
        current = self.running.get(name)
        if current is None:
            self.reports[name] = {"sha256": None, "desired": sha, "state": "failed",
                                  "reason": f"this device has no stream named {name!r}"}
            return
        if current == sha:
            self.reports[name] = {"sha256": sha, "desired": sha, "state": "running", "reason": None}
            return
        key = f"{name}:{sha}:{doc.version}"  # pushed again under another version, it is tried again
        refused = self._refused.get(key)
        if refused is not None:
            self.reports[name] = {"sha256": current, "desired": sha, **refused}
            return
        self._report(name, doc, source, "downloading")
        path = self._fetch(name, want, key)
        if path is None:
            return
        self._report(name, doc, source, "verifying")
        self.busy = True
        try:
            state, reason = self.switch(name, path, sha, dict(want.card), doc)
        finally:
            self.busy = False
        if state == "running":
            self._previous[name] = current
            self.running[name] = sha
            self.reports[name] = {"sha256": sha, "desired": sha, "state": "running", "reason": reason}
            self._prune()
        else:
            self._refuse(name, sha, key, state, reason or "the switch did not succeed")

    def _fetch(self, name: str, want: DesiredStream, key: str) -> Path | None:
        """The artifact's path, or ``None`` (reported) when it was refused or did not arrive."""
        sha = want.sha256.lower()
        def stop() -> bool:
            return self._wake.is_set() or self._stop.is_set()

        try:
            if want.url is not None:
                return self.receiver.path_of(sha) or self.downloader.fetch(want.url, sha, want.size, want.signature,
                                                                            stop=stop)
            return self.receiver.fetch(sha, size=want.size, stop=stop)
        except SignatureError as exc:
            self._refuse(name, sha, key, "failed", str(exc))
        except TransferError as exc:
            if self._wake.is_set() or self._stop.is_set():  # a newer document or a reconnect: resumed next
                self.reports[name] = {"sha256": self.running.get(name), "desired": sha, "state": "downloading",
                                      "reason": "interrupted; resuming with the chunks on disk"}
            elif isinstance(exc, DownloadInterrupted) or "nothing arrived" in str(exc):
                self._retry = True  # tried again soon, with the chunks already on disk
                self.reports[name] = {"sha256": self.running.get(name), "desired": sha, "state": "failed",
                                      "reason": str(exc)}
            else:
                self._refuse(name, sha, key, "failed", str(exc))
        return None

    def _report(self, name: str, doc: DesiredState, source: str | None, state: str) -> None:
        want = self._targets(doc)[name].sha256.lower()
        self.reports[name] = {"sha256": self.running.get(name), "desired": want, "state": state, "reason": None}
        self.publish(doc, source)

    def _refuse(self, name: str, sha: str, key: str, state: str, reason: str) -> None:
        log.warning("fleet: stream %s: %s %s: %s", name, sha[:12], state, reason)
        self._refused[key] = {"state": state, "reason": reason}
        self.reports[name] = {"sha256": self.running.get(name), "desired": sha, "state": state, "reason": reason}
        self._save_state()
        self._prune()

    def publish(self, doc: DesiredState | None = None, source: str | None = None) -> dict[str, Any]:
        """Publish (retained) and return the reported document."""
        report = reported_document(self.device_id, self.groups, {k: dict(v) for k, v in self.reports.items()},
                                   version=self.version, desired_version=None if doc is None else doc.version,
                                   source=source)
        self.client.publish_raw(reported_topic(self.device_id), json.dumps(report), retain=True)
        return report

    # -- disk -----------------------------------------------------------------------------

    def _prune(self) -> None:
        """Keep the running and the previous artifact of each stream; delete the older ones."""
        keep = {*self.running.values(), *self._previous.values()}
        for path in self.artifact_dir.iterdir():
            if path.is_file() and path.name != STATE_FILE and path.name.split(".", 1)[0] not in keep:
                log.info("fleet: pruning %s", path.name)
                path.unlink(missing_ok=True)

    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads((self.artifact_dir / STATE_FILE).read_text())
            return {str(k): dict(v) for k, v in data.get("refused", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def _save_state(self) -> None:
        path = self.artifact_dir / STATE_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"refused": self._refused}, indent=1))
        tmp.replace(path)
