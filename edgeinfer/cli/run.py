"""``edgeinfer run CONFIG.yaml [--check [--keys-only]] [--schema]``: the IoT daemon."""

from __future__ import annotations

import json
import sys

import click

__all__ = ["command"]


@click.command()
@click.argument("config", type=click.Path(dir_okay=False), required=False)
@click.option("--check", is_flag=True, help=(
    "Validate the config, check that model and source files (and cameras) exist and that each "
    "model loads, then exit (0 valid, else the code run would exit with); no camera or broker is opened."))
@click.option("--keys-only", is_flag=True, help=(
    "With --check: validate only the keys and values, not the files, devices and models "
    "(a config written for another machine)."))
@click.option("--schema", is_flag=True, help="Print the config's JSON schema (for editors) and exit.")
def command(config: str | None, check: bool, keys_only: bool, schema: bool) -> None:
    """Run streams -> models -> sinks from CONFIG until stopped (SIGTERM) or every source ends.

    Exit codes: 0 clean stop, 78 invalid config (do not restart), 65 bad model,
    74 camera/stream cannot be opened, 69 missing accelerator or package, 75 sink unavailable
    (also when every source ended with results still queued for the broker: they are sent
    on the next start).
    """
    from edgeinfer.config import json_schema, load_config

    if schema:
        click.echo(json.dumps(json_schema(), indent=2))
        return
    if config is None:
        raise click.UsageError("CONFIG is required (or use --schema)")
    if keys_only and not check:
        raise click.UsageError("--keys-only goes with --check")
    if check:
        from edgeinfer.preflight import check_config

        loaded = load_config(config)
        for line in [] if keys_only else check_config(loaded):
            click.echo(f"  {line}")
        click.echo(f"{config}: valid ({len(loaded.streams)} stream(s), sinks: "
                   f"{', '.join(s.type for s in loaded.sinks)})")
        return
    from edgeinfer.daemon import run_daemon

    sys.exit(run_daemon(config))
