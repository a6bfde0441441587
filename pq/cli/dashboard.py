"""`pq dashboard APP`: serves the web dashboard with uvicorn (the `dashboard` extra)."""

from __future__ import annotations

import socket
from typing import Annotated, Optional

import typer

from pq.cli.common import AppArg, clear_errors, configure_logging
from pq.cli.loader import load_app
from pq.errors import ConfigurationError


def _missing_extra() -> ConfigurationError:
    return ConfigurationError(
        "the dashboard needs the `dashboard` extra: pip install -e '.[dashboard]' "
        "(see docs/installing.md)"
    )


def register(cli: typer.Typer) -> None:
    cli.command()(dashboard)


def dashboard(
    app: AppArg,
    host: Annotated[
        str, typer.Option(help="Address to listen on. Beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")] = 8008,
    token: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            envvar="PQ_DASHBOARD_TOKEN",
            help="Every request must carry this token (login form or Bearer header).",
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Hide and refuse every action.")
    ] = False,
    refresh: Annotated[
        float, typer.Option(min=0.5, help="Seconds between live refreshes of a page.")
    ] = 3.0,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Serve the web dashboard: queues, tasks, workers, schedules, and the actions on them."""
    from pq.web.security import is_loopback

    configure_logging(log_level)
    with clear_errors():
        loopback = is_loopback(host)
        if not loopback and not token:
            raise ConfigurationError(
                f"refusing to listen on {host} without a token: anyone who reaches it could "
                "retry, cancel and delete tasks. Set --token or PQ_DASHBOARD_TOKEN (and use "
                "--read-only if no one should act)"
            )
        try:
            import uvicorn

            from pq.web import dashboard as make_dashboard
        except ImportError as exc:
            raise _missing_extra() from exc
        site = make_dashboard(
            load_app(app),
            read_only=read_only,
            token=token or None,
            refresh_seconds=refresh,
            allowed_hosts=_allowed_hosts(host, loopback),
        )
        sock = _listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    typer.echo(f"pq dashboard on http://{shown}:{bound_port}/", err=True)
    config = uvicorn.Config(
        site, log_level=log_level.lower(), access_log=False, proxy_headers=False
    )
    uvicorn.Server(config).run(sockets=[sock])


def _allowed_hosts(host: str, loopback: bool) -> list[str] | None:
    """On loopback, only loopback names in the Host header, so a DNS-rebinding page cannot
    reach us through a browser. (Starlette's check cuts the port at the first colon, which
    cannot work for IPv6 literals: those are left to the bind.)"""
    from pq.web.security import LOOPBACK_HOSTS

    if not loopback or ":" in host:
        return None
    return sorted({*LOOPBACK_HOSTS, host})


def _listen(host: str, port: int) -> socket.socket:
    """Binds first, so a busy port is one clear line and port 0 tells us the one it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
