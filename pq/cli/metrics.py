"""`pq metrics APP`: serves the deployment's queue gauges for Prometheus (`metrics` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from pq.cli.common import AppArg, clear_errors, configure_logging
from pq.cli.loader import load_app


def register(cli: typer.Typer) -> None:
    cli.command()(metrics)


def metrics(
    app: AppArg,
    port: Annotated[
        int, typer.Option(metavar="PORT", min=0, max=65535, help="Port (0: any free one).")
    ] = 9109,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "0.0.0.0",
) -> None:
    """Serve queue gauges from the database for Prometheus: pending, due and running tasks
    per queue and priority, the oldest due task's age, workers alive and lost. Run one per
    deployment; each worker's own counters come from `pq worker --metrics-port`."""
    from pq.telemetry.gauges import serve_queue_metrics

    configure_logging("WARNING")
    with clear_errors():
        pq_app = load_app(app)
        try:
            server = serve_queue_metrics(pq_app, host, port)
        except OSError as exc:
            typer.echo(f"pq: error: cannot listen on {host}:{port}: {exc}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"serving queue metrics on http://{host}:{server.server_port}/metrics", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
