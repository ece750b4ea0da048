"""Artifacts from an https:// URL (``fleet push --url``): a real local HTTPS server with a
self-signed CA, a connection dropped mid-body and resumed with a Range request, and the
refusals (tampered file, bad or missing signature, size cap, plain http) in ``reported``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.broker import BrokerClient
from edgeinfer.fleet.desired import desired_topic, parse_desired, reported_topic
from edgeinfer.fleet.https import DownloadInterrupted, HttpsDownloader
from edgeinfer.fleet.signing import keygen, load_private_key, load_public_key, sign
from edgeinfer.fleet.transfer import TransferError
from tests.fleet.https_server import FileServer, make_pki, serve
from tests.model_factory import onnx_cnn_bytes


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_pki(tmp_path_factory.mktemp("https-pki"))


@pytest.fixture
def https(pki: tuple[Path, Path, Path]) -> Iterator[FileServer]:
    server = serve((pki[1], pki[2]))
    yield server
    server.close()


def switch(stream: str, path: Path, sha: str, card: dict[str, Any], desired: Any) -> tuple[str, str | None]:
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha  # a verified file in artifact_dir
    return "running", None


def test_push_url_resumes_with_range_after_a_dropped_connection(
    tmp_path: Path, mosquitto: Any, https: FileServer, pki: tuple[Path, Path, Path], wait_for: Any
) -> None:
    _, public = keygen(tmp_path / "keys")
    data = onnx_cnn_bytes(seed=40)
    (tmp_path / "m.onnx").write_bytes(data)
    https.files["/models/m.onnx"] = data
    https.drop_after["/models/m.onnx"] = 700  # the first connection breaks after 700 bytes
    client = BrokerClient(mosquitto.host, mosquitto.port)
    agent = FleetAgent("dev-https", [], tmp_path / "artifacts", load_public_key(public), client, switch=switch,
                       running={"front": "0" * 64}, ca_file=pki[0])
    agent.start()
    url = f"https://127.0.0.1:{https.port}/models/m.onnx"
    try:
        pushed = subprocess.run(
            [sys.executable, "-m", "edgeinfer", "fleet", "push", "m.onnx", "--device", "dev-https", "--url", url,
             "--key", "keys/fleet.key", "--watch-s", "0", "--wait-s", "30", "--broker",
             f"{mosquitto.host}:{mosquitto.port}", "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert pushed.returncode == 0, pushed.stderr
        out = json.loads(pushed.stdout)
        assert out["url"] == url and out["chunks"] == 0
        assert [d["state"] for d in out["devices"]] == ["running"]
        sha = hashlib.sha256(data).hexdigest()
        assert https.requests == [("/models/m.onnx", None), ("/models/m.onnx", "bytes=700-")]
        assert agent.downloader.requests[-1] == (url, "bytes=700-")
        assert (tmp_path / "artifacts" / f"{sha}.onnx").read_bytes() == data
        assert not (tmp_path / "artifacts" / ".staging" / sha).exists()
        assert agent.running["front"] == sha
    finally:
        agent.stop()
        client.close()
        ops = BrokerClient(mosquitto.host, mosquitto.port)
        ops.publish(desired_topic("dev-https"), b"", retain=True)
        ops.close()


def test_tampered_unsigned_oversized_and_plain_http_urls_are_refused_in_reported(
    tmp_path: Path, mosquitto: Any, https: FileServer, pki: tuple[Path, Path, Path], wait_for: Any
) -> None:
    private, public = keygen(tmp_path / "keys")
    other, _ = keygen(tmp_path / "other")
    key, evil = load_private_key(private), load_private_key(other)
    good, bad = onnx_cnn_bytes(seed=41), onnx_cnn_bytes(seed=42)
    base = f"https://127.0.0.1:{https.port}"

    def want(data: bytes, path: str, signer: Any = key, **extra: Any) -> dict[str, Any]:
        sha = hashlib.sha256(data).hexdigest()
        return {"sha256": sha, "size": len(data), "url": base + path,
                "signature": None if signer is None else sign(signer, sha), **extra}

    https.files.update({"/tampered.onnx": bad, "/big.onnx": good + bytes(5000), "/good.onnx": good})
    streams = {
        "tampered": want(good, "/tampered.onnx"),   # the server's file is another one
        "forged": want(good, "/good.onnx", evil),   # signed with another key
        "unsigned": want(good, "/good.onnx", None),
        "big": want(good, "/big.onnx"),             # announces more than the cap
        "plain": {**want(good, "/good.onnx"), "url": f"http://127.0.0.1:{https.port}/good.onnx"},
    }
    ops = BrokerClient(mosquitto.host, mosquitto.port)
    reports: dict[str, Any] = {}
    ops.subscribe(reported_topic("dev-refuse"), lambda t, p: reports.update(last=json.loads(p)))
    ops.publish(desired_topic("dev-refuse"), json.dumps({"version": "r1", "watch_s": 0, "streams": streams}),
                retain=True)
    client = BrokerClient(mosquitto.host, mosquitto.port)
    agent = FleetAgent("dev-refuse", [], tmp_path / "artifacts", load_public_key(public), client, switch=switch,
                       running=dict.fromkeys(streams, "0" * 64), ca_file=pki[0], max_bytes=len(good) + 1000)
    agent.start()
    try:
        assert wait_for(lambda: reports.get("last", {}).get("desired_version") == "r1"
                        and reports["last"]["state"] == "failed"
                        and all(s["state"] == "failed" for s in reports["last"]["streams"].values()), timeout_s=20)
        reasons = {name: s["reason"] for name, s in reports["last"]["streams"].items()}
        assert "does not match its sha256" in reasons["tampered"]
        assert "does not verify" in reasons["forged"]
        assert "not signed" in reasons["unsigned"]
        assert "over this device's cap" in reasons["big"]
        assert "plain http:// is refused" in reasons["plain"]
        assert agent.running == dict.fromkeys(streams, "0" * 64)
        assert not list((tmp_path / "artifacts").glob("*.onnx"))
        paths = [p for p, _ in https.requests]  # signatures and the scheme are checked before any request
        assert sorted(paths) == ["/big.onnx", "/tampered.onnx"]
    finally:
        agent.stop()
        client.close()
        ops.publish(desired_topic("dev-refuse"), b"", retain=True)
        ops.close()


def test_plain_http_when_allowed_resumes_after_a_restart_or_starts_over_without_range_support(tmp_path: Path) -> None:
    private, public = keygen(tmp_path / "keys")
    data = onnx_cnn_bytes(seed=43)
    sha = hashlib.sha256(data).hexdigest()
    signature = sign(load_private_key(private), sha)
    server = serve(None)
    server.files["/m.tflite"] = data
    url = f"http://127.0.0.1:{server.port}/m.tflite"

    def downloader() -> HttpsDownloader:  # a new one each time: as after a restart of the device
        return HttpsDownloader(tmp_path / "a", load_public_key(public), max_bytes=1 << 20, allow_http=True,
                               attempts=1)

    try:
        with pytest.raises(TransferError, match="plain http:// is refused"):
            HttpsDownloader(tmp_path / "a", load_public_key(public), max_bytes=1 << 20).fetch(url, sha, len(data),
                                                                                           signature)
        server.drop_after["/m.tflite"] = 100
        with pytest.raises(DownloadInterrupted, match="after 100 of"):
            downloader().fetch(url, sha, len(data), signature)
        part = tmp_path / "a" / ".staging" / sha / "artifact.part"
        assert part.stat().st_size == 100
        server.ranges = False  # this server sends the whole file again: the part is started over
        server.drop_after["/m.tflite"] = 300
        with pytest.raises(DownloadInterrupted, match="after 300 of"):
            downloader().fetch(url, sha, len(data), signature)
        assert part.stat().st_size == 300
        server.ranges = True
        path = downloader().fetch(url, sha, len(data), signature)
    finally:
        server.close()
    assert path.name == f"{sha}.tflite" and path.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=100-", "bytes=300-"]
    with pytest.raises(ConfigError, match="url"):
        parse_desired(json.dumps({"version": "v", "streams": {"*": {"sha256": sha, "size": 1, "url": "ftp://x"}}}))


def test_the_server_certificate_is_checked_against_ca_file_or_the_system_cas(
    tmp_path: Path, https: FileServer, pki: tuple[Path, Path, Path]
) -> None:
    _, public = keygen(tmp_path / "keys")
    data = onnx_cnn_bytes(seed=44)
    sha = hashlib.sha256(data).hexdigest()
    https.files["/m.onnx"] = data
    system = HttpsDownloader(tmp_path / "a", load_public_key(public), max_bytes=1 << 20, attempts=1)
    with pytest.raises(TransferError, match="CERTIFICATE_VERIFY_FAILED"):  # self-signed: not in the system CAs
        system.fetch(f"https://127.0.0.1:{https.port}/m.onnx", sha, len(data),
                     sign(load_private_key(tmp_path / "keys" / "fleet.key"), sha))
    with pytest.raises(ConfigError, match=r"fleet\.ca_file"):
        HttpsDownloader(tmp_path / "a", load_public_key(public), max_bytes=1, ca_file=tmp_path / "keys" / "fleet.pub")
