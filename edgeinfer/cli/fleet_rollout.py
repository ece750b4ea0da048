"""``edgeinfer fleet push --canary``, ``fleet status`` and ``fleet rollback`` (see :mod:`edgeinfer.fleet.rollout`)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

__all__ = ["canary_push", "rollback_cmd", "status_cmd", "states_table"]

ORDER = ("pending", "downloading", "verifying", "running", "rolled_back", "failed")


def states_table(record: dict[str, Any], reports: dict[str, dict[str, Any]]) -> Any:
    """A rich table: one progress bar per state, and the canaries."""
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    from edgeinfer.fleet.rollout import count_states, states

    counts = count_states(record, reports)
    now = states(record, reports)
    total = max(1, len(record.get("devices", [])))
    table = Table(title=f"rollout {record['id']}: {record['version']} to group {record['group']} "
                        f"({record.get('phase')}{', ' + record['result'] if record.get('result') else ''})")
    for column in ("state", "devices", "", "canaries"):
        table.add_column(column)
    for state in [*ORDER, *sorted(set(counts) - set(ORDER))]:
        canaries = [d for d in record.get("canaries", []) if now.get(d) == state]
        table.add_row(state, f"{counts.get(state, 0)}/{total}", ProgressBar(total=total, completed=counts.get(state, 0),
                                                                              width=30), ", ".join(canaries))
    return table


def canary_push(client: Any, group: str, doc: dict[str, Any], canary: str, wait_s: float, discover_s: float,
                as_json: bool) -> dict[str, Any]:
    """Run a canary rollout with a live table (unless ``as_json``); returns the record."""
    from rich.live import Live

    from edgeinfer.cli.output import make_console
    from edgeinfer.fleet.rollout import Rollout

    if as_json:
        return Rollout(client, group, doc, canary, wait_s=wait_s, discover_s=discover_s).run()
    console = make_console()
    live = Live(console=console, auto_refresh=False)
    with live:
        rollout = Rollout(client, group, doc, canary, wait_s=wait_s, discover_s=discover_s,
                          on_progress=lambda record, reports: live.update(states_table(record, reports), refresh=True))
        record = rollout.run()
        live.update(states_table(record, rollout.reports()), refresh=True)
    if not console.is_terminal:
        console.line()  # Live ends its last line only on a terminal
    return record


@click.command("status")
@click.argument("rollout")
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="HOST:PORT of the MQTT broker.")
@click.option("--wait-s", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="How long to collect the retained documents.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status_cmd(rollout: str, broker: str, wait_s: float, as_json: bool) -> None:
    """Show a rollout's progress: its devices per state, from the retained record and reports."""
    from edgeinfer.cli.output import make_console
    from edgeinfer.fleet.broker import BrokerClient, parse_broker
    from edgeinfer.fleet.rollout import REPORTED, collect, count_states, rollout_topic, states

    client = BrokerClient(*parse_broker(broker))
    try:
        docs, lock = collect(client, [rollout_topic(rollout), REPORTED], wait_s)
    finally:
        client.close()
    with lock:
        record = docs.get(rollout_topic(rollout))
        reports = {str(d.get("device_id")): d for t, d in docs.items() if t.endswith("/reported")}
    if record is None:
        raise click.ClickException(f"no rollout {rollout!r} is retained on {rollout_topic(rollout)} "
                                   "(the id is printed by edgeinfer fleet push --canary)")
    if as_json:
        click.echo(json.dumps({**record, "states": states(record, reports), "counts": count_states(record, reports)},
                              indent=2))
    else:
        make_console().print(states_table(record, reports))


@click.command("rollback")
@click.option("--group", required=True, help="The group whose previous desired document is published back.")
@click.option("--broker", default="127.0.0.1:1883", show_default=True, help="HOST:PORT of the MQTT broker.")
def rollback_cmd(group: str, broker: str) -> None:
    """Publish the group's desired document from before the last push back (a second rollback undoes it)."""
    from edgeinfer.fleet.broker import BrokerClient, parse_broker
    from edgeinfer.fleet.rollout import rollback_group

    client = BrokerClient(*parse_broker(broker))
    try:
        restored = rollback_group(client, group)
    finally:
        client.close()
    click.echo(f"group {group}: desired state set back to "
               f"{'version ' + str(restored.get('version')) if restored else 'none (cleared)'} at {time.ctime()}")
