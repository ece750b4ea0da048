"""Artifacts from an ``https://`` URL, resumed with HTTP Range (``url`` in a desired stream).

A desired stream may name a URL instead of the MQTT chunks::

    "front": {"sha256": "...", "size": 123456, "url": "https://models.example/v7.onnx",
              "signature": "<base64 Ed25519 signature of the sha256, as fleet push --url writes it>"}

The signature travels in the desired document (the same ``sign(key, sha256)`` as an MQTT
manifest's), so the file server needs nothing beside the file. :class:`HttpsDownloader`
refuses an unsigned or badly signed artifact before any byte is fetched, then writes the
body to ``{artifact_dir}/.staging/{sha256}/artifact.part``. After a dropped connection (in
the same fetch, a few tries) or a restart, it asks for the rest with ``Range: bytes=N-``
(a server that answers 200 instead starts the file over). The size cap applies to the
``Content-Length`` announced and to the bytes received. The whole file is fsynced, checked
against its sha256 and the signature, and moved into ``artifact_dir`` atomically.

TLS uses the system CAs, or only ``fleet.ca_file`` when it is set (a self-signed server).
Plain ``http://`` is refused unless ``fleet.allow_http: true``: the sha256 and the signature
still protect the model, but not from being read on the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConfigError, EdgeInferError
from edgeinfer.fleet.signing import verify
from edgeinfer.fleet.transfer import TransferError

__all__ = ["DownloadInterrupted", "HttpsDownloader", "check_url"]

BLOCK = 64 * 1024
FSYNC_EVERY = 4 * 2**20  # bytes between fsyncs of the partial file, so a resume after a power cut is sound
_SUFFIXES = (".onnx", ".tflite")


class DownloadInterrupted(TransferError):
    """The connection dropped or stalled; the bytes received stay on disk and the next fetch resumes."""


def check_url(url: str, *, allow_http: bool = False) -> None:
    """Refuse what is not ``https://HOST/...`` (or ``http://`` when allowed).

    Raises:
        TransferError: another scheme, no host, or plain HTTP not allowed.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http" and not allow_http:
        raise TransferError(f"{url}: plain http:// is refused; serve the artifact over https:// "
                            "(or set fleet.allow_http: true on the device)")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TransferError(f"{url}: not an https:// URL with a host")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs :func:`check_url` accepts (no https -> http downgrade)."""

    def __init__(self, allow_http: bool) -> None:
        self.allow_http = allow_http

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,  # noqa: PLR0917 (urllib's)
                         newurl: str) -> Any:
        check_url(newurl, allow_http=self.allow_http)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class HttpsDownloader:
    """Fetch artifacts by URL into ``artifact_dir``, resumably.

    Args:
        artifact_dir: Where verified artifacts go (staging is ``artifact_dir/.staging``).
        public_key: The fleet's Ed25519 public key.
        max_bytes: The size cap.
        ca_file: PEM CA bundle for the server's certificate (``None``: the system CAs).
        allow_http: Accept plain ``http://`` URLs.
        timeout_s: Socket timeout: a server silent this long counts as a dropped connection.
        attempts: Connections tried per fetch (each resumes where the last one stopped).
        retry_s: Pause between them.

    Raises:
        ConfigError: ``ca_file`` is not a readable PEM bundle.

    Attributes:
        requests: ``(url, Range header or None)`` of every request made (what a resume saves).
    """

    def __init__(self, artifact_dir: Path, public_key: Any, *, max_bytes: int, ca_file: Path | None = None,
                 allow_http: bool = False, timeout_s: float = 30.0, attempts: int = 3, retry_s: float = 1.0) -> None:
        self.artifact_dir = Path(artifact_dir)
        self.staging = self.artifact_dir / ".staging"
        self.public_key = public_key
        self.max_bytes = max_bytes
        self.allow_http = allow_http
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.retry_s = retry_s
        self.requests: list[tuple[str, str | None]] = []
        try:
            context = ssl.create_default_context(cafile=None if ca_file is None else str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"fleet.ca_file {ca_file}: not a readable PEM CA bundle ({exc}); "
                              "give the CA certificate of the artifact server") from exc
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                   _Redirects(allow_http))

    def fetch(self, url: str, sha256: str, size: int, signature: str | None, *,
              stop: Callable[[], bool] = lambda: False) -> Path:
        """Fetch (or find) the artifact ``sha256`` from ``url``; returns its path in ``artifact_dir``.

        Raises:
            SignatureError: unsigned, or the signature does not verify (before any download).
            TransferError: refused (scheme, size cap, HTTP error, more bytes than ``size``,
                sha256 mismatch); :class:`DownloadInterrupted` when the connection dropped
                or ``stop`` said so (the partial file is kept).
        """
        sha256 = sha256.lower()
        target = self.artifact_dir / (sha256 + self._suffix(url))
        if target.is_file():
            return target
        check_url(url, allow_http=self.allow_http)
        if size > self.max_bytes:
            raise TransferError(f"artifact {sha256[:12]} is {size} bytes, over this device's cap of "
                                f"{self.max_bytes} (fleet.max_artifact_mb); refused")
        verify(self.public_key, sha256, signature)
        folder = self.staging / sha256
        folder.mkdir(parents=True, exist_ok=True)
        part = folder / "artifact.part"
        for attempt in range(self.attempts):
            if stop():
                raise DownloadInterrupted(f"stopped while downloading {url}; the bytes received are kept")
            try:
                self._download(url, part, size, stop)
                break
            except DownloadInterrupted:
                if attempt == self.attempts - 1:
                    raise
                time.sleep(self.retry_s)
            except EdgeInferError:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        return self._install(part, target, sha256=sha256, size=size, signature=signature)

    # -- steps ----------------------------------------------------------------------------

    @staticmethod
    def _suffix(url: str) -> str:
        suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
        return suffix if suffix in _SUFFIXES else ""

    def _refuse_size(self, url: str, nbytes: int, size: int, what: str) -> None:
        if nbytes > self.max_bytes:
            raise TransferError(f"{url}: {what} {nbytes} bytes, over this device's cap of {self.max_bytes} "
                                "(fleet.max_artifact_mb); refused")
        if nbytes > size:
            raise TransferError(f"{url}: {what} {nbytes} bytes, more than the {size} of the desired state; refused")

    def _download(self, url: str, part: Path, size: int, stop: Callable[[], bool]) -> None:
        have = part.stat().st_size if part.exists() else 0
        if have >= size:
            return  # complete on disk; checked by _install
        request = urllib.request.Request(url, headers={"User-Agent": "edgeinfer-fleet"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        self.requests.append((url, request.get_header("Range")))
        try:
            response = self._opener.open(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # the range is past the server's file: start over
                part.unlink()
                raise DownloadInterrupted(f"{url}: the server refused the range from byte {have}; "
                                          "starting over") from exc
            retry = exc.code in (408, 429) or exc.code >= 500
            raise (DownloadInterrupted if retry else TransferError)(
                f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            raise DownloadInterrupted(f"{url}: cannot download ({getattr(exc, 'reason', exc)})") from exc
        with response:
            if response.status != 206:
                have = 0  # no Range support (or a fresh download): the whole body comes
            elif not str(response.headers.get("Content-Range", "")).startswith(f"bytes {have}-"):
                raise TransferError(f"{url}: the server answered the range from byte {have} with "
                                    f"Content-Range {response.headers.get('Content-Range')!r}; refused")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit():
                self._refuse_size(url, have + int(length), size, "the server announces")
            self._copy(url, response, part, have=have, size=size, stop=stop)

    def _copy(self, url: str, response: Any, part: Path, *, have: int, size: int, stop: Callable[[], bool]) -> None:
        received, synced = have, have
        with open(part, "r+b" if have else "wb") as out:
            out.truncate(have)
            out.seek(have)
            try:
                while received < size + 1:
                    if stop():
                        raise DownloadInterrupted(f"stopped while downloading {url}; the bytes received are kept")
                    block = response.read(min(BLOCK, size + 1 - received))
                    if not block:
                        break
                    received += len(block)
                    self._refuse_size(url, received, size, "received")
                    out.write(block)
                    if received - synced >= FSYNC_EVERY:
                        out.flush()
                        os.fsync(out.fileno())
                        synced = received
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadInterrupted(f"{url}: the connection dropped after {received} of {size} bytes "
                                          f"({exc!r}); the next try resumes there") from exc
            finally:
                out.flush()
                os.fsync(out.fileno())
        if received < size:
            raise DownloadInterrupted(f"{url}: the connection ended after {received} of {size} bytes; "
                                      "the next try resumes there")

    def _install(self, part: Path, target: Path, *, sha256: str, size: int, signature: str | None) -> Path:
        folder = part.parent
        digest = hashlib.sha256()
        with open(part, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        try:
            if digest.hexdigest() != sha256 or part.stat().st_size != size:
                raise TransferError(f"artifact {sha256[:12]}: the downloaded file does not match its sha256 "
                                    "(changed on the server, or tampered with); refused")
            verify(self.public_key, digest.hexdigest(), signature)
        except EdgeInferError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        os.replace(part, target)
        with contextlib.suppress(OSError):  # make the rename durable (not on every file system)
            fd = os.open(self.artifact_dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        return target
