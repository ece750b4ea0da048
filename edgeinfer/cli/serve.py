"""``edgeinfer serve MODEL [--port 8080] [--host 127.0.0.1] [--token TOKEN] ...``: local HTTP inference."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

if TYPE_CHECKING:
    from edgeinfer.model import Model

__all__ = ["command"]

TOKEN_ENV = "EDGEINFER_TOKEN"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 serves the whole network (set a token).")
@click.option("--card", "card_path", type=click.Path(exists=True, dir_okay=False),
              help="Card YAML overriding the model's own.")
@click.option("--accelerator", default="auto", show_default=True, help="auto, or a name from `edgeinfer devices`.")
@click.option("--token", envvar=TOKEN_ENV, show_envvar=True,
              help="Require 'Authorization: Bearer TOKEN' on every route but /healthz and the page.")
@click.option("--max-body-mb", default=20.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest accepted upload, in MiB (larger ones get 413).")
@click.option("--max-megapixels", default=50.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Largest accepted image (width x height, from its header, before decoding); larger get 413.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One log line per request (turn off at high request rates).")
@click.option("--max-batch", default=8, show_default=True, type=click.IntRange(1, 1024),
              help="Most concurrent requests run in one model call (when the model's batch dimension allows).")
@click.option("--batch-wait-ms", default=5.0, show_default=True, type=click.FloatRange(min=0, max=1000),
              help="How long a request waits for others to join its batch.")
def command(model: str, port: int, host: str, card_path: str | None, accelerator: str, token: str | None,
            max_body_mb: float, max_megapixels: float, access_log: bool, max_batch: int,
            batch_wait_ms: float) -> None:
    """Serve MODEL over HTTP: POST /v1/predict, GET /v1/model, /healthz, /openapi.json and a page at /.

    Stops gracefully on Ctrl-C or SIGTERM.
    """
    import edgeinfer
    from edgeinfer.serve import create_app, serve_forever

    if not token and not _is_loopback(host):
        click.secho(f"warning: serving on {host} without a token: anyone on the network can use the model "
                    f"(set --token or {TOKEN_ENV})", fg="yellow", err=True)
    ocr_card = Path(model).suffix.lower() in (".yaml", ".yml")  # an OCR card naming its three models
    with (edgeinfer.load_ocr(model, accelerator=accelerator) if ocr_card
          else edgeinfer.load(model, accelerator=accelerator, card=card_path)) as loaded:
        # An OcrModel has what the server uses of a Model: predict(_batch), inputs, describe, name, accelerator.
        app = create_app(cast("Model", loaded), token=token or None, max_body_bytes=int(max_body_mb * 1024 * 1024),
                         max_batch=max_batch, batch_wait_ms=batch_wait_ms,
                         max_pixels=int(max_megapixels * 1_000_000))
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"Serving {loaded.name} ({loaded.card.task}) on {loaded.accelerator} at http://{shown}:{port}/"
                   + (" (token required)" if token else ""), err=True)
        serve_forever(app, host, port, access_log=access_log)
