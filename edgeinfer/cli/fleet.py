"""``edgeinfer fleet keygen|push|ls|status|rollback``: roll models out to devices through the MQTT broker."""

from __future__ import annotations

import functools
import json
import threading
import time
from pathlib import Path
from typing import Any

import click

__all__ = ["command"]

TERMINAL = ("running", "rolled_back", "failed")


@click.group()
def command() -> None:
    """Sign and push models to groups of devices; show what they report."""


@command.command("keygen")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for fleet.key (keep it on the dev machine) and fleet.pub (copy it to the devices).")
def keygen_cmd(out_dir: str) -> None:
    """Make an Ed25519 key pair for signing artifacts."""
    from edgeinfer.fleet.signing import keygen

    private, public = keygen(out_dir)
    click.echo(f"private key: {private} (signs pushes; keep it secret)\npublic key:  {public} "
               "(fleet.public_key on every device)")


def _collect(broker: str, topics: list[str]) -> tuple[Any, dict[str, dict[str, Any]], threading.Lock]:
    from edgeinfer.fleet.broker import BrokerClient, parse_broker

    host, port = parse_broker(broker)
    client = BrokerClient(host, port)
    docs: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def keep(topic: str, payload: bytes) -> None:
        try:
            doc = json.loads(payload)
        except ValueError:
            return
        if isinstance(doc, dict):
            with lock:
                docs[topic] = doc

    for topic in topics:
        client.subscribe(topic, keep)
    return client, docs, lock


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    from edgeinfer.cli.output import make_console

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    make_console().print(table)


def _shas(report: dict[str, Any]) -> str:
    return ", ".join(f"{n}={(s.get('sha256') or '-')[:12]}" for n, s in report.get("streams", {}).items())


@command.command("push")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--group", help="The group whose desired state is set (edgeinfer/fleet/{group}/desired).")
@click.option("--device", help="Or one device's desired state (edgeinfer/{device}/desired).")
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The fleet's private key (fleet.key of edgeinfer fleet keygen).")
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="HOST:PORT of the MQTT broker.")
@click.option("--stream", default="*", show_default=True, help="The stream to switch ('*': every stream).")
@click.option("--version", "version", help="A version string for the rollout (default: the sha256's first 12).")
@click.option("--watch-s", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="How long each device watches its health before it keeps the new model.")
@click.option("--max-error-rate", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="Roll back when more of the frames than this fail at inference.")
@click.option("--min-fps-ratio", default=0.5, show_default=True, type=click.FloatRange(min=0),
              help="Roll back when inference runs under this share of the frames/s before.")
@click.option("--card", "card_json", default="{}", help="Card overrides as JSON, e.g. '{\"labels\": [...]}'.")
@click.option("--chunk-kb", default=128, show_default=True, type=click.IntRange(1, 65536), help="Chunk size.")
@click.option("--wait-s", type=click.FloatRange(min=0), help="How long to wait for reports (default watch-s + 60).")
@click.option("--canary", help="With --group: first this share (10%) or number (2) of its devices, then the rest.")
@click.option("--url", help="Devices download MODEL from this https:// URL (uploaded there by you) instead of "
                            "the MQTT chunks; its signature goes into the desired state.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def push_cmd(model: str, group: str | None, device: str | None, key_path: str, broker: str, stream: str,
             version: str | None, watch_s: float, max_error_rate: float, min_fps_ratio: float, card_json: str,
             chunk_kb: int, wait_s: float | None, canary: str | None, url: str | None, as_json: bool) -> None:
    """Upload MODEL (signed, in chunks), set the desired state, and wait for the devices' reports."""
    from edgeinfer.fleet.desired import desired_topic, group_topic
    from edgeinfer.fleet.signing import load_private_key
    from edgeinfer.fleet.transfer import build_manifest, publish_artifact

    if (group is None) == (device is None):
        raise click.UsageError("give exactly one of --group G or --device D")
    if canary is not None and group is None:
        raise click.UsageError("--canary needs --group G")
    if url is not None and not url.startswith(("https://", "http://")):
        raise click.BadParameter(f"{url!r} is not an https:// URL", param_hint="--url")
    try:
        card = json.loads(card_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--card") from exc
    key = load_private_key(key_path)
    data = Path(model).read_bytes()
    client, reports, lock = _collect(broker, ["edgeinfer/+/reported"])
    try:
        make = build_manifest if url else functools.partial(publish_artifact, client)  # a URL: no chunks sent
        manifest = make(data, key, chunk_size=chunk_kb * 1024, version=version or "", name=Path(model).name)
        version = version or manifest.sha256[:12]
        want = {"sha256": manifest.sha256, "size": manifest.size, "card": card}
        if url:
            want.update(url=url, signature=manifest.signature)
        doc = {"version": version, "watch_s": watch_s, "max_error_rate": max_error_rate,
               "min_fps_ratio": min_fps_ratio, "streams": {stream: want}}
        wait = watch_s + 60 if wait_s is None else wait_s
        if canary is not None and group is not None:
            return _canary(client, group, doc, canary, wait, manifest, as_json, url)
        if group is not None:
            _keep_previous(client, group)
        client.publish(group_topic(group) if group else desired_topic(str(device)), json.dumps(doc), retain=True)
        mine = _wait(reports, lock, group, device, version, watch_s + 60 if wait_s is None else wait_s)
    finally:
        client.close()
    ok = bool(mine) and all(r.get("state") == "running" for r in mine)
    if not mine:
        click.secho(f"no device of {'group ' + group if group else 'device ' + str(device)} reported; the desired "
                    "state stays retained for them", fg="yellow", err=True)
    if as_json:
        click.echo(json.dumps({"version": version, "sha256": manifest.sha256, "bytes": manifest.size,
                               "chunks": 0 if url else len(manifest.chunks), "url": url, "devices": mine}, indent=2))
    else:
        click.echo(f"pushed {Path(model).name} ({manifest.size} bytes, {url or f'{len(manifest.chunks)} chunks'}) "
                   f"as version {version} to {'group ' + group if group else 'device ' + str(device)}")
        _table(f"version {version}", ["device", "state", "models", "reason"],
               [[r["device_id"], r.get("state", "?"), _shas(r), r.get("reason") or ""] for r in mine])
    if not ok:
        raise SystemExit(1)


def _keep_previous(client: Any, group: str) -> None:
    """Retain the group's desired document on .../desired/previous before it is replaced."""
    from edgeinfer.fleet.desired import group_topic
    from edgeinfer.fleet.rollout import collect, previous_topic

    docs, lock = collect(client, [group_topic(group)], 0.5)
    client.unsubscribe(group_topic(group))
    with lock:
        client.publish(previous_topic(group), json.dumps({"desired": docs.get(group_topic(group)),
                                                          "timestamp": time.time()}), retain=True)


def _canary(client: Any, group: str, doc: dict[str, Any], canary: str, wait_s: float, manifest: Any,
            as_json: bool, url: str | None) -> None:
    from edgeinfer.cli.fleet_rollout import canary_push

    record = canary_push(client, group, doc, canary, wait_s, 1.0, as_json)
    record = {**record, "sha256": manifest.sha256, "bytes": manifest.size,
              "chunks": 0 if url else len(manifest.chunks), "url": url}
    if as_json:
        click.echo(json.dumps(record, indent=2))
    elif record["result"] == "done":
        click.echo(f"rollout {record['id']}: canaries {', '.join(record['canaries'])} ran "
                   f"{record['version']}; group {group} ({len(record['devices'])} devices) follows it")
    else:
        click.secho(f"rollout {record['id']} stopped: {record['reason']}", fg="red", err=True)
    if record["result"] != "done":
        raise SystemExit(1)


def _wait(reports: dict[str, dict[str, Any]], lock: threading.Lock, group: str | None, device: str | None,
          version: str, wait_s: float) -> list[dict[str, Any]]:
    """The reports of the targeted devices once each is done with ``version`` (or at the time limit)."""
    deadline = time.monotonic() + wait_s
    while True:
        with lock:
            mine = [r for r in reports.values()
                    if (device is not None and r.get("device_id") == device) or group in (r.get("groups") or [])]
        done = [r for r in mine if r.get("desired_version") == version and r.get("state") in TERMINAL]
        if (mine and len(done) == len(mine)) or time.monotonic() >= deadline:
            return sorted(mine, key=lambda r: str(r.get("device_id")))
        time.sleep(0.2)


@command.command("ls")
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="HOST:PORT of the MQTT broker.")
@click.option("--wait-s", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="How long to collect the retained documents.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def ls_cmd(broker: str, wait_s: float, as_json: bool) -> None:
    """Show the devices from their retained reported and health documents."""
    client, docs, lock = _collect(broker, ["edgeinfer/+/reported", "edgeinfer/+/health"])
    try:
        time.sleep(wait_s)
    finally:
        client.close()
    with lock:
        devices: dict[str, dict[str, Any]] = {}
        for topic, doc in docs.items():
            _, device, kind = topic.split("/", 2)
            devices.setdefault(device, {"device_id": device})[kind] = doc
    rows = []
    for device, entry in sorted(devices.items()):
        reported, health = entry.get("reported", {}), entry.get("health", {})
        fps = sum(float(s.get("fps", {}).get("infer") or 0) for s in health.get("streams", {}).values())
        seen = health.get("timestamp") or reported.get("timestamp")
        entry.update(fps=round(fps, 1), last_seen_s=None if seen is None else round(time.time() - seen, 1))
        rows.append([device, ",".join(reported.get("groups") or []), str(reported.get("version") or "-"),
                     reported.get("state", "-"), _shas(reported), f"{fps:.1f}",
                     "-" if seen is None else f"{time.time() - seen:.0f} s ago", reported.get("reason") or ""])
    if as_json:
        click.echo(json.dumps(list(devices.values()), indent=2))
    else:
        _table("fleet", ["device", "groups", "version", "state", "models", "fps", "last seen", "reason"], rows)


def _register() -> None:
    from edgeinfer.cli.fleet_rollout import rollback_cmd, status_cmd

    command.add_command(status_cmd)
    command.add_command(rollback_cmd)


_register()
