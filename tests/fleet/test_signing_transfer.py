"""Fleet signatures and the chunked artifact transfer through a real mosquitto."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.signing import SignatureError, keygen, load_private_key, load_public_key, sign, verify
from edgeinfer.fleet.transfer import ArtifactReceiver, TransferError, artifact_topic, publish_artifact
from tests.model_factory import onnx_cnn_bytes

CHUNK = 256


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, Any]:
    folder = tmp_path_factory.mktemp("keys")
    private, public = keygen(folder)
    other, _ = keygen(folder / "other")
    return load_private_key(private), load_public_key(public), load_private_key(other)


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return onnx_cnn_bytes(seed=3)


class Recording(BrokerClient):
    """A broker client that remembers which topics were subscribed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.topics: list[str] = []

    def subscribe(self, topic: str, callback: Any) -> None:
        self.topics.append(topic)
        super().subscribe(topic, callback)


def test_signing_round_trip_and_refusals(tmp_path: Path, keys: tuple[Any, Any, Any], model_bytes: bytes) -> None:
    private, public, other = keys
    signature = sign(private, model_bytes)
    verify(public, model_bytes, signature)
    verify(public, hashlib.sha256(model_bytes).hexdigest(), signature)  # the sha256 is what is signed
    tampered = bytearray(model_bytes)
    tampered[100] ^= 1
    with pytest.raises(SignatureError, match="does not verify"):
        verify(public, bytes(tampered), signature)
    with pytest.raises(SignatureError, match="does not verify"):
        verify(public, model_bytes, sign(other, model_bytes))
    with pytest.raises(SignatureError, match="not signed"):
        verify(public, model_bytes, None)
    keygen(tmp_path / "k")
    with pytest.raises(ConfigError, match="never overwritten"):
        keygen(tmp_path / "k")
    assert (tmp_path / "k" / "fleet.key").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="not a readable PEM public key"):
        load_public_key(tmp_path / "k" / "fleet.key")


def test_transfer_resumes_with_only_the_missing_chunks(
    tmp_path: Path, mosquitto: Any, keys: tuple[Any, Any, Any], model_bytes: bytes
) -> None:
    private, public, _ = keys
    pusher = BrokerClient(mosquitto.host, mosquitto.port)
    manifest = publish_artifact(pusher, model_bytes, private, chunk_size=CHUNK, version="v1", name="m.onnx")
    pusher.close()
    total = len(manifest.chunks)
    assert total >= 6
    artifacts = tmp_path / "artifacts"

    first = Recording(mosquitto.host, mosquitto.port)
    receiver = ArtifactReceiver(first, artifacts, public, max_bytes=1 << 20, stall_s=10)
    with pytest.raises(TransferError, match="stopped"):  # the "device" goes away after 3 chunks
        receiver.fetch(manifest.sha256, size=manifest.size, stop=lambda: receiver.chunks_received >= 3)
    first.close()
    kept = sorted((artifacts / ".staging" / manifest.sha256).glob("chunk-*"))
    assert len(kept) == 3 and receiver.path_of(manifest.sha256) is None

    second = Recording(mosquitto.host, mosquitto.port)
    resumed = ArtifactReceiver(second, artifacts, public, max_bytes=1 << 20, stall_s=10)
    path = resumed.fetch(manifest.sha256, size=manifest.size)
    second.close()
    assert path == artifacts / f"{manifest.sha256}.onnx" and path.read_bytes() == model_bytes
    have = {int(p.name.split("-")[1]) for p in kept}
    wanted = {int(t.rsplit("/", 1)[1]) for t in second.topics if "/chunk/" in t}
    assert wanted == set(range(total)) - have  # only the missing chunks were asked for
    assert resumed.chunks_received == total - 3
    assert not (artifacts / ".staging" / manifest.sha256).exists()
    import edgeinfer

    with edgeinfer.load(path) as model:  # the artifact is a working model
        assert model.inputs[0].name == "x"


def test_tampered_chunk_bad_signature_and_size_cap_are_refused(
    tmp_path: Path, mosquitto: Any, keys: tuple[Any, Any, Any]
) -> None:
    private, public, other = keys
    pusher = BrokerClient(mosquitto.host, mosquitto.port)
    data = onnx_cnn_bytes(seed=4)
    manifest = publish_artifact(pusher, data, private, chunk_size=CHUNK)
    evil = bytearray(data[CHUNK:2 * CHUNK])
    evil[0] ^= 0xFF
    pusher.publish(artifact_topic(manifest.sha256, "chunk", "1"), bytes(evil), retain=True)
    forged = publish_artifact(pusher, onnx_cnn_bytes(seed=5), other, chunk_size=CHUNK)
    unsigned = publish_artifact(pusher, onnx_cnn_bytes(seed=6), None, chunk_size=CHUNK)
    client = BrokerClient(mosquitto.host, mosquitto.port)
    try:
        receiver = ArtifactReceiver(client, tmp_path, public, max_bytes=1 << 20, stall_s=10)
        with pytest.raises(TransferError, match=r"chunk 1 .* does not match its sha256"):
            receiver.fetch(manifest.sha256, size=manifest.size)
        with pytest.raises(SignatureError, match="does not verify"):
            receiver.fetch(forged.sha256, size=forged.size)
        with pytest.raises(SignatureError, match="not signed"):
            receiver.fetch(unsigned.sha256, size=unsigned.size)
        with pytest.raises(TransferError, match="the desired state"):
            receiver.fetch(manifest.sha256, size=manifest.size + 1)
        small = ArtifactReceiver(client, tmp_path, public, max_bytes=1000, stall_s=10)
        with pytest.raises(TransferError, match="over this device's cap"):
            small.fetch(forged.sha256)  # the manifest's size is checked before any chunk
        assert small.chunks_received == 0
    finally:
        client.close()
        pusher.close()
    assert list(tmp_path.glob("*.onnx")) == []
