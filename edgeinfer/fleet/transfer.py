"""Artifacts over MQTT: a signed manifest and retained chunks, received resumably.

Topics (every message retained, QoS 1)::

    edgeinfer/fleet/artifacts/{sha256}/manifest   JSON: sha256, size, chunk_size, chunks
                                                  (sha256 of each), signature, version, name
    edgeinfer/fleet/artifacts/{sha256}/chunk/{i}  the bytes of chunk i

:class:`ArtifactReceiver` refuses a manifest over the size cap or without a valid signature
before any chunk is fetched. It subscribes only to the chunks it does not have yet (a few
at a time), checks each against its hash and keeps it on disk under
``{artifact_dir}/.staging/{sha256}/``, so after a disconnect or a restart only the missing
chunks are fetched. The whole file is then written to a staging file, fsynced, checked
(sha256 and signature) and moved into ``artifact_dir`` atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgeinfer.errors import EdgeInferError
from edgeinfer.fleet.signing import sign, verify

__all__ = [
    "DEFAULT_CHUNK_SIZE", "ArtifactReceiver", "Manifest", "TransferError", "artifact_topic", "build_manifest",
    "publish_artifact",
]

DEFAULT_CHUNK_SIZE = 128 * 1024
WINDOW = 8  # chunk topics subscribed at once
_SUFFIXES = (".onnx", ".tflite")


class TransferError(EdgeInferError):
    """An artifact was refused (size cap, manifest, tampered chunk, hash) or did not arrive in time."""


def artifact_topic(sha256: str, *parts: str) -> str:
    """``edgeinfer/fleet/artifacts/{sha256}/...`` joined with ``parts``."""
    return "/".join(("edgeinfer/fleet/artifacts", sha256, *parts))


@dataclass(frozen=True)
class Manifest:
    """What a device needs to fetch and check one artifact."""

    sha256: str
    size: int
    chunk_size: int
    chunks: list[str]
    signature: str | None = None
    version: str = ""
    name: str = "model.onnx"
    format: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The manifest's message."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, payload: bytes | str) -> Manifest:
        """Parse a manifest message.

        Raises:
            TransferError: not a manifest.
        """
        try:
            data = json.loads(payload)
            manifest = cls(sha256=str(data["sha256"]).lower(), size=int(data["size"]),
                           chunk_size=int(data["chunk_size"]), chunks=[str(c) for c in data["chunks"]],
                           signature=data.get("signature"), version=str(data.get("version", "")),
                           name=str(data.get("name", "model.onnx")), format=int(data.get("format", 1)))
        except (ValueError, KeyError, TypeError) as exc:
            raise TransferError(f"the artifact manifest is not valid ({exc!r})") from exc
        if manifest.chunk_size <= 0 or len(manifest.chunks) != -(-manifest.size // manifest.chunk_size):
            raise TransferError(f"the manifest of {manifest.sha256[:12]} lists {len(manifest.chunks)} chunks, "
                                f"which does not fit size {manifest.size} at chunk_size {manifest.chunk_size}")
        return manifest

    @property
    def filename(self) -> str:
        """The name the artifact gets in ``artifact_dir``: ``{sha256}{.onnx|.tflite}``."""
        suffix = Path(self.name).suffix.lower()
        return self.sha256 + (suffix if suffix in _SUFFIXES else "")


def build_manifest(data: bytes, private_key: Any | None, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                   version: str = "", name: str = "model.onnx") -> Manifest:
    """The manifest of ``data`` cut into ``chunk_size`` chunks, signed when a key is given."""
    chunks = [hashlib.sha256(data[i:i + chunk_size]).hexdigest() for i in range(0, len(data), chunk_size)]
    sha = hashlib.sha256(data).hexdigest()
    return Manifest(sha256=sha, size=len(data), chunk_size=chunk_size, chunks=chunks,
                    signature=None if private_key is None else sign(private_key, sha), version=version,
                    name=name)


def publish_artifact(client: Any, data: bytes, private_key: Any | None, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                     version: str = "", name: str = "model.onnx") -> Manifest:
    """Publish the chunks of ``data`` and then its manifest, retained, on a
    :class:`~edgeinfer.fleet.broker.BrokerClient`; returns the manifest.

    Raises:
        SinkError: the broker did not acknowledge a message.
    """
    manifest = build_manifest(data, private_key, chunk_size=chunk_size, version=version, name=name)
    for i in range(len(manifest.chunks)):
        client.publish(artifact_topic(manifest.sha256, "chunk", str(i)), data[i * chunk_size:(i + 1) * chunk_size],
                       retain=True)
    client.publish(artifact_topic(manifest.sha256, "manifest"), manifest.to_json(), retain=True)
    return manifest


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


class ArtifactReceiver:
    """Fetch artifacts by sha256 into ``artifact_dir`` over a message connection.

    Args:
        client: ``subscribe(topic, callback)`` (and ``unsubscribe`` when it has one): the
            daemon's MQTT sink or a :class:`~edgeinfer.fleet.broker.BrokerClient`.
        artifact_dir: Where verified artifacts go (staging is ``artifact_dir/.staging``).
        public_key: The fleet's Ed25519 public key.
        max_bytes: The size cap: larger manifests are refused before any chunk is fetched.
        stall_s: Give up when nothing arrived for this long (the chunks stay for next time).

    Attributes:
        chunks_received: Chunk messages taken in, for all fetches (what a resume saves).
    """

    def __init__(self, client: Any, artifact_dir: Path, public_key: Any, *, max_bytes: int,
                 stall_s: float = 60.0) -> None:
        self.client = client
        self.artifact_dir = Path(artifact_dir)
        self.staging = self.artifact_dir / ".staging"
        self.public_key = public_key
        self.max_bytes = max_bytes
        self.stall_s = stall_s
        self.chunks_received = 0
        self._inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def path_of(self, sha256: str) -> Path | None:
        """The verified artifact with this sha256 in ``artifact_dir``, or ``None``."""
        return next((p for p in sorted(self.artifact_dir.glob(f"{sha256}*")) if p.is_file()
                     and p.name.split(".", 1)[0] == sha256 and not p.name.endswith(".tmp")), None)

    def fetch(self, sha256: str, *, size: int | None = None, stop: Callable[[], bool] = lambda: False) -> Path:
        """Fetch (or find) the artifact ``sha256``; returns its path in ``artifact_dir``.

        Args:
            sha256: The artifact's sha256 (from the desired document).
            size: Its size from the desired document; the manifest must agree.
            stop: Polled while waiting; True gives up (the chunks stay on disk).

        Raises:
            TransferError: refused (size cap, bad manifest, tampered chunk, hash mismatch),
                stopped, or stalled.
            SignatureError: unsigned, or the signature does not verify.
        """
        sha256 = sha256.lower()
        found = self.path_of(sha256)
        if found is not None:
            return found
        if size is not None and size > self.max_bytes:
            raise TransferError(f"artifact {sha256[:12]} is {size} bytes, over this device's cap of "
                                f"{self.max_bytes} (fleet.max_artifact_mb); refused")
        folder = self.staging / sha256
        folder.mkdir(parents=True, exist_ok=True)
        while not self._inbox.empty():  # late messages of an earlier fetch
            self._inbox.get_nowait()
        manifest = self._manifest(sha256, size, folder, stop)
        self._chunks(manifest, folder, stop)
        return self._assemble(manifest, folder)

    # -- steps ----------------------------------------------------------------------------

    def _receive(self, topics: list[str], stop: Callable[[], bool], what: str) -> tuple[str, bytes]:
        deadline = time.monotonic() + self.stall_s
        while True:
            if stop():
                raise TransferError(f"stopped while waiting for {what}; received chunks are kept")
            try:
                return self._inbox.get(timeout=0.2)
            except queue.Empty:
                if time.monotonic() > deadline:
                    raise TransferError(f"nothing arrived for {self.stall_s:g} s while waiting for {what} "
                                        f"(topics {topics[0]} ...); received chunks are kept") from None

    def _subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, lambda t, payload: self._inbox.put((t, payload)))

    def _unsubscribe(self, topic: str) -> None:
        unsubscribe = getattr(self.client, "unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe(topic)

    def _manifest(self, sha256: str, size: int | None, folder: Path, stop: Callable[[], bool]) -> Manifest:
        saved = folder / "manifest.json"
        if saved.exists():
            manifest = Manifest.from_json(saved.read_bytes())
        else:
            topic = artifact_topic(sha256, "manifest")
            self._subscribe(topic)
            try:
                while True:
                    got, payload = self._receive([topic], stop, f"the manifest of {sha256[:12]}")
                    if got == topic and payload:
                        break
            finally:
                self._unsubscribe(topic)
            manifest = Manifest.from_json(payload)
        try:
            self._check_manifest(manifest, sha256, size)
        except EdgeInferError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        if not saved.exists():
            _fsync_write(saved, manifest.to_json().encode())
        return manifest

    def _check_manifest(self, manifest: Manifest, sha256: str, size: int | None) -> None:
        if manifest.sha256 != sha256:
            raise TransferError(f"the manifest on {artifact_topic(sha256, 'manifest')} is for another "
                                f"artifact ({manifest.sha256[:12]}); refused")
        if size is not None and manifest.size != size:
            raise TransferError(f"artifact {sha256[:12]}: the manifest says {manifest.size} bytes, "
                                f"the desired state {size}; refused")
        if manifest.size > self.max_bytes:
            raise TransferError(f"artifact {sha256[:12]} is {manifest.size} bytes, over this device's cap of "
                                f"{self.max_bytes} (fleet.max_artifact_mb); refused")
        verify(self.public_key, sha256, manifest.signature)

    def _chunks(self, manifest: Manifest, folder: Path, stop: Callable[[], bool]) -> None:
        missing = [i for i in range(len(manifest.chunks)) if not (folder / f"chunk-{i}").exists()]
        topics = {artifact_topic(manifest.sha256, "chunk", str(i)): i for i in missing}
        pending = list(topics)
        active: list[str] = []
        try:
            while pending or active:
                while pending and len(active) < WINDOW:
                    active.append(pending.pop(0))
                    self._subscribe(active[-1])
                topic, payload = self._receive(active, stop, f"chunks of {manifest.sha256[:12]}")
                if topic not in active:
                    continue  # a late duplicate
                self.chunks_received += 1
                index = topics[topic]
                if hashlib.sha256(payload).hexdigest() != manifest.chunks[index]:
                    raise TransferError(f"chunk {index} of artifact {manifest.sha256[:12]} does not match its "
                                        "sha256 in the manifest (tampered or corrupt); refused")
                _fsync_write(folder / f"chunk-{index}", payload)
                active.remove(topic)
                self._unsubscribe(topic)
        finally:
            for topic in active:
                self._unsubscribe(topic)

    def _assemble(self, manifest: Manifest, folder: Path) -> Path:
        part = folder / "artifact.part"
        digest = hashlib.sha256()
        with open(part, "wb") as out:
            for i in range(len(manifest.chunks)):
                data = (folder / f"chunk-{i}").read_bytes()
                digest.update(data)
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            if digest.hexdigest() != manifest.sha256 or part.stat().st_size != manifest.size:
                raise TransferError(f"artifact {manifest.sha256[:12]}: the assembled file does not match its "
                                    "sha256 (tampered chunks); refused")
            verify(self.public_key, part.read_bytes(), manifest.signature)
        except EdgeInferError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        target = self.artifact_dir / manifest.filename
        os.replace(part, target)
        with contextlib.suppress(OSError):  # make the rename durable (not on every file system)
            fd = os.open(self.artifact_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        return target
