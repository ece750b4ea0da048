"""Fleets: roll models out to many devices through the MQTT broker (issue #16).

- :mod:`edgeinfer.fleet.signing`: Ed25519 keys, signatures of artifacts.
- :mod:`edgeinfer.fleet.transfer`: signed manifests and chunks over MQTT, resumable.
- :mod:`edgeinfer.fleet.desired`: the ``fleet:`` config, desired and reported documents.
- :mod:`edgeinfer.fleet.agent`: the device side that converges on the desired state.
- :mod:`edgeinfer.fleet.switch`: the daemon's health-gated switch with rollback.
- :mod:`edgeinfer.fleet.broker`: a plain MQTT client for the dev-machine commands.
- :mod:`edgeinfer.fleet.rollout`: canary rollouts, their records, group rollback.
- :mod:`edgeinfer.fleet.acl`: a mosquitto ACL for the fleet's topics.
"""

from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.desired import DesiredState, FleetConfig, parse_desired
from edgeinfer.fleet.signing import SignatureError, keygen, load_private_key, load_public_key, sign, verify
from edgeinfer.fleet.transfer import ArtifactReceiver, Manifest, TransferError, publish_artifact

__all__ = [
    "ArtifactReceiver", "DesiredState", "FleetAgent", "FleetConfig", "Manifest", "SignatureError", "TransferError",
    "keygen", "load_private_key", "load_public_key", "parse_desired", "publish_artifact", "sign", "verify",
]
