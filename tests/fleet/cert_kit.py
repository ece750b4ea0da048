"""Helpers for the broker kit's client-certificate set-up (devices/kits/broker): certificates
from its make-certs.sh, and a test broker with its certs.conf settings and its ACL."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import TlsFiles

KIT = Path(__file__).resolve().parents[2] / "devices" / "kits" / "broker"


def make_certs(folder: Path, *args: str) -> None:
    """Run the kit's make-certs.sh with ``folder`` and ``args``."""
    subprocess.run(["bash", str(KIT / "make-certs.sh"), str(folder), *args], check=True, capture_output=True,
                   timeout=60)


def make_pki(folder: Path, clients: list[str]) -> Path:
    """A CA, a server certificate for 127.0.0.1 and one client certificate per name, in ``folder``."""
    make_certs(folder, "ca")
    make_certs(folder, "server", "127.0.0.1", "localhost")
    for name in clients:
        make_certs(folder, "client", name)
    return folder


def kit_settings(name: str) -> dict[str, str]:
    """The settings lines of a kit config file, by their first word."""
    return {line.split()[0]: line for line in (KIT / name).read_text().splitlines()
            if line and not line.startswith("#")}


def cert_broker(factory: Any, certs: Path) -> Any:
    """A started broker (``mosquitto_factory``) with the kit's certs.conf settings and ACL on a free port."""
    broker = factory(tls=TlsFiles(certs / "ca.crt", certs / "server.crt", certs / "server.key",
                                  certs / "ops.crt", certs / "ops.key"), start=False)
    kit = kit_settings("certs.conf")
    assert kit["require_certificate"] == "require_certificate true"
    assert kit["use_identity_as_username"] == "use_identity_as_username true"
    acl = Path(broker.folder) / "edgeinfer.acl"
    acl.write_text((KIT / "edgeinfer.acl").read_text())
    text = broker.conf_path.read_text().replace("allow_anonymous true", "allow_anonymous false")
    broker.conf_path.write_text(text + f"{kit['use_identity_as_username']}\nacl_file {acl}\n")
    broker.start()
    return broker
