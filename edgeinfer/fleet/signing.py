"""Ed25519 signatures for fleet artifacts (``cryptography``).

The fleet key pair is made once on a dev machine (``edgeinfer fleet keygen``): the private
key signs each artifact pushed, devices hold only the public key and refuse an artifact
whose signature is missing or does not verify. What is signed is the artifact's sha256
with a fixed prefix (:func:`signed_message`), so a signature cannot be replayed for
another artifact, and the device checks the whole file against that sha256.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from edgeinfer.errors import ConfigError, EdgeInferError, MissingDependencyError

__all__ = [
    "PRIVATE_NAME", "PUBLIC_NAME", "SignatureError", "fingerprint", "keygen", "load_private_key",
    "load_public_key", "sign", "signed_message", "verify",
]

PRIVATE_NAME = "fleet.key"
PUBLIC_NAME = "fleet.pub"
_PREFIX = b"edgeinfer-fleet-artifact-v1 sha256:"


class SignatureError(EdgeInferError):
    """An artifact is unsigned, or its signature does not verify with the fleet's public key."""


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MissingDependencyError("cryptography", "fleet", "fleet signatures") from exc
    return ed25519


def _sha_hex(artifact: bytes | str) -> str:
    if isinstance(artifact, bytes):
        return hashlib.sha256(artifact).hexdigest()
    sha = artifact.lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"{artifact!r} is not a sha256 (64 hex digits); pass the artifact's bytes or its sha256")
    return sha


def signed_message(artifact: bytes | str) -> bytes:
    """What is signed for an artifact given as its bytes or its sha256 hex digest."""
    return _PREFIX + _sha_hex(artifact).encode()


def keygen(out_dir: str | Path) -> tuple[Path, Path]:
    """Write a new key pair as ``fleet.key`` (PKCS#8 PEM, mode 0600) and ``fleet.pub`` in ``out_dir``.

    Returns:
        The private and public key paths.

    Raises:
        ConfigError: a key is already there (it is never overwritten).
    """
    from cryptography.hazmat.primitives import serialization

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} already exists; keys are never overwritten (choose another --out)")
    key = _ed25519().Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return private_path, public_path


def load_private_key(path: str | Path) -> Any:
    """Read an Ed25519 private key (PEM) made by :func:`keygen`.

    Raises:
        ConfigError: unreadable, or not an Ed25519 private key.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: not a readable PEM private key ({exc}); "
                          "make one with edgeinfer fleet keygen") from exc
    if not isinstance(key, _ed25519().Ed25519PrivateKey):
        raise ConfigError(f"{path}: not an Ed25519 key; make one with edgeinfer fleet keygen")
    return key


def load_public_key(source: str | Path | bytes) -> Any:
    """Read an Ed25519 public key from a PEM file path or PEM bytes.

    Raises:
        ConfigError: unreadable, or not an Ed25519 public key.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        key = serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as exc:
        where = "the key" if isinstance(source, bytes) else str(source)
        raise ConfigError(f"{where}: not a readable PEM public key ({exc}); use the fleet.pub of "
                          "edgeinfer fleet keygen") from exc
    if not isinstance(key, _ed25519().Ed25519PublicKey):
        raise ConfigError("the fleet public key is not an Ed25519 key; use the fleet.pub of edgeinfer fleet keygen")
    return key


def fingerprint(public_key: Any) -> str:
    """A short id of a public key (first 16 hex digits of the sha256 of its raw bytes)."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(private_key: Any, artifact: bytes | str) -> str:
    """Sign an artifact (its bytes or its sha256); returns the signature in base64."""
    return base64.b64encode(private_key.sign(signed_message(artifact))).decode()


def verify(public_key: Any, artifact: bytes | str, signature: str | None) -> None:
    """Check ``signature`` (base64) of an artifact (its bytes or sha256) with the fleet's public key.

    Raises:
        SignatureError: no signature, not base64, or it does not verify (another key or
            another artifact).
    """
    from cryptography.exceptions import InvalidSignature

    if not signature:
        raise SignatureError("the artifact is not signed; push it with edgeinfer fleet push --key")
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, signed_message(artifact))
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("the artifact's signature does not verify with this device's fleet public key "
                             "(signed with another key, or the artifact was changed)") from exc
